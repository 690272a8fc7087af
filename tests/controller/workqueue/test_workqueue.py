"""Work queue: client-go's contract (fair, stingy, shutdown), delays, rate limiting, workers."""
import asyncio

import pytest

from tiphys.controller.workqueue import (BucketRateLimiter, DelayingQueue, ItemExponentialFailureRateLimiter,
                                         MaxOfRateLimiter, RateLimitingQueue, Result, RetryableError, ShutDown,
                                         TerminalError, WorkQueue, default_controller_rate_limiter, run_workers)


async def test_fifo_and_dedup():
    """Keys come out in first-added order; repeated adds before processing collapse into one."""
    q: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_added_while_processing_is_processed_exactly_once_more():
    """Three adds during processing → one more get after done, none in parallel."""
    q: WorkQueue[str] = WorkQueue()
    q.add("wf")
    key = await q.get()
    for _ in range(3):
        q.add("wf")
    assert len(q) == 0  # not handed to another worker while in flight
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "wf"
    q.done("wf")
    assert len(q) == 0


async def test_done_without_readd_does_not_requeue():
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.done(await q.get())
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()


async def test_waiting_getters_are_served_fairly(settle):
    """Blocked consumers wake in the order they started waiting, one per key."""
    q: WorkQueue[int] = WorkQueue()
    got: list[tuple[int, int]] = []

    async def consumer(i: int) -> None:
        got.append((i, await q.get()))

    tasks = [asyncio.ensure_future(consumer(i)) for i in range(3)]
    await settle()
    q.add(10)
    q.add(11)
    await settle()
    assert got == [(0, 10), (1, 11)]
    q.add(12)
    await asyncio.gather(*tasks)
    assert got[-1] == (2, 12)


async def test_cancelled_getter_passes_the_key_on(settle):
    """A consumer cancelled right after being woken does not strand the key."""
    q: WorkQueue[str] = WorkQueue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get())
    await settle()
    q.add("k")
    first.cancel()
    await settle()
    assert second.done() and second.result() == "k"


async def test_shutdown_hands_out_remaining_then_raises(settle):
    """After shut_down, adds are ignored, queued keys are still handed out, then ShutDown."""
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    waiter_q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.ensure_future(waiter_q.get())
    await settle()
    waiter_q.shut_down()
    q.shut_down()
    q.add("ignored")
    assert await q.get() == "a"
    with pytest.raises(ShutDown):
        await q.get()
    with pytest.raises(ShutDown):
        await waiter


async def test_shutdown_with_drain_waits_for_in_flight(settle):
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    drained = asyncio.ensure_future(q.shut_down_with_drain())
    await settle()
    assert not drained.done()
    q.done(key)
    await settle()
    assert drained.done()


async def test_add_after_pops_when_the_clock_reaches_it(clock, settle):
    """A delayed key is invisible until the fake clock is stepped past its time."""
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("later", 60)
    q.add_after("now", 0)
    assert q.get_nowait() == "now"
    getter = asyncio.ensure_future(q.get())
    clock.advance(59.9)
    await settle()
    assert not getter.done() and q.waiting() == 1
    clock.advance(0.1)
    await settle()
    assert getter.result() == "later" and q.waiting() == 0


async def test_readd_keeps_the_earlier_time(clock):
    """Adding a waiting key again keeps whichever ready time is earlier."""
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("k", 10)
    q.add_after("k", 30)
    clock.advance(10)
    assert q.get_nowait() == "k"
    q.done("k")
    q.add_after("j", 30)
    q.add_after("j", 5)
    clock.advance(5)
    assert q.get_nowait() == "j"
    clock.advance(30)
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()  # the superseded later entry does not add it again


async def test_delayed_keys_come_out_in_time_order(clock):
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    for key, delay in [("c", 3), ("a", 1), ("b", 2)]:
        q.add_after(key, delay)
    clock.advance(5)
    assert [q.get_nowait() for _ in range(3)] == ["a", "b", "c"]
    assert clock.pending() == 0


async def test_shutdown_drops_waiting_keys(clock):
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("k", 1)
    q.shut_down()
    clock.advance(2)
    with pytest.raises(ShutDown):
        q.get_nowait()


def test_exponential_limiter():
    """5 ms doubling per failure, capped at 1000 s, per key; forget resets."""
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("a") for _ in range(5)]
    assert delays == [0.005, 0.01, 0.02, 0.04, 0.08]
    assert limiter.when("b") == 0.005 and limiter.num_requeues("a") == 5
    for _ in range(40):
        last = limiter.when("a")
    assert last == 1000.0
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0 and limiter.when("a") == 0.005


def test_bucket_limiter(clock):
    """Burst 100 passes at once, then one key per 100 ms; tokens refill with time."""
    limiter = BucketRateLimiter(clock=clock, qps=10, burst=100)
    assert all(limiter.when(i) == 0 for i in range(100))
    assert limiter.when("x") == pytest.approx(0.1)
    assert limiter.when("y") == pytest.approx(0.2)
    clock.advance(10)
    assert limiter.when("z") == 0


def test_default_limiter_is_max_of_both(clock):
    limiter = default_controller_rate_limiter(clock=clock)
    assert isinstance(limiter, MaxOfRateLimiter)
    assert limiter.when("k") == 0.005
    for i in range(200):
        limiter.when(i)
    assert limiter.when("k") > 0.01  # the bucket, not the per-key 10 ms, decides now
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


async def test_rate_limited_requeue(clock):
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    q.add_rate_limited("k")
    q.add_rate_limited("k")
    assert q.num_requeues("k") == 2
    clock.advance(0.005)
    assert q.get_nowait() == "k"
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_run_workers_switch(clock, settle):
    """controller-runtime's reconcileHandler: error → rate-limited retry, requeue_after → forget +
    add_after, TerminalError → forget, RetryableError(delay) → add_after(delay), success → forget."""
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    calls: list[str] = []
    failures = {"flaky": 2}

    async def reconcile(key: str) -> Result | None:
        calls.append(key)
        if failures.get(key):
            failures[key] -= 1
            raise RuntimeError("transient")
        if key == "poll" and calls.count("poll") == 1:
            return Result(requeue_after=30)
        if key == "bad":
            raise TerminalError("spec is invalid")
        if key == "later" and calls.count("later") == 1:
            raise RetryableError("not yet", delay=7)
        return None

    workers = asyncio.ensure_future(run_workers(q, reconcile, n=4))
    for key in ["flaky", "poll", "bad", "later", "ok"]:
        q.add(key)
    await settle()
    assert sorted(calls) == ["bad", "flaky", "later", "ok", "poll"]
    assert q.num_requeues("flaky") == 1
    clock.advance(0.005)
    await settle()
    assert calls.count("flaky") == 2 and q.num_requeues("flaky") == 2
    clock.advance(0.01)
    await settle()
    assert calls.count("flaky") == 3 and q.num_requeues("flaky") == 0
    clock.advance(7)
    await settle()
    assert calls.count("later") == 2 and calls.count("poll") == 1
    clock.advance(23)
    await settle()
    assert calls.count("poll") == 2 and calls.count("bad") == 1 and calls.count("ok") == 1
    await q.shut_down_with_drain()
    stats = await workers
    assert (stats.error, stats.requeue_after, stats.terminal, stats.retryable) == (2, 1, 1, 1)
    assert stats.success == 4  # flaky, poll (2nd), later (2nd), ok


async def test_workers_never_run_one_key_concurrently(clock, settle):
    """With many workers, a key re-added while in flight waits for its current run."""
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    running: set[str] = set()
    overlaps = 0
    runs = 0
    gate = asyncio.Event()

    async def reconcile(key: str) -> None:
        nonlocal overlaps, runs
        if key in running:
            overlaps += 1
        running.add(key)
        runs += 1
        await gate.wait()
        running.discard(key)

    workers = asyncio.ensure_future(run_workers(q, reconcile, n=8))
    q.add("wf")
    await settle()
    for _ in range(3):
        q.add("wf")
    await settle()
    gate.set()
    await settle()
    await q.shut_down_with_drain()
    await workers
    assert overlaps == 0 and runs == 2
