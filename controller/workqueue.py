"""Work queues with client-go's semantics (`k8s.io/client-go/util/workqueue`), on asyncio.

The contract (client-go `doc.go`), for `WorkQueue[K]`:
* fair: keys are processed in the order they were first added;
* stingy: a key is never processed by two workers at once, and adds made before it is
  processed collapse into one; a key added (any number of times) while it is being processed is
  processed exactly once more, after `done`;
* many producers and consumers on one event loop; producers never wait;
* shutdown: `shut_down()` stops accepting keys, `get()` hands out what is queued and then raises
  `ShutDown`; `shut_down_with_drain()` also waits until every key handed out is `done`.

On top, as in client-go: `DelayingQueue.add_after` (a min-heap by ready time; adding a key that
is already waiting keeps the earlier time) and `RateLimitingQueue` (`add_rate_limited`, `forget`,
`num_requeues`) with the default limiter max(per-key 5 ms · 2^failures capped at 1000 s, token
bucket 10 qps / burst 100). Limiters live in `ratelimit` terms below; time comes from a `Clock`.

`run_workers` is controller-runtime's `reconcileHandler` switch, the only code that decides what
a reconcile outcome does to the queue:
    raised TerminalError         → forget (never retried; counted)
    raised RetryableError(delay) → add_after(delay), or add_rate_limited without a delay
    raised anything else         → add_rate_limited
    Result(requeue_after=t)      → forget + add_after(t)
    success (None / Result())    → forget
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

import msgspec

from .clock import Clock, TimerHandle

__all__ = [
    "ShutDown", "WorkQueue", "DelayingQueue", "RateLimitingQueue", "RateLimiter",
    "ItemExponentialFailureRateLimiter", "BucketRateLimiter", "MaxOfRateLimiter",
    "default_controller_rate_limiter", "Result", "TerminalError", "RetryableError", "WorkerStats",
    "run_workers",
]

K = TypeVar("K", bound=Hashable)
_log = logging.getLogger(__name__)


class ShutDown(Exception):
    """Raised by `get()` once the queue is shut down and empty."""


class WorkQueue(Generic[K]):
    """FIFO + dirty set + processing set (client-go `Type`)."""

    def __init__(self) -> None:
        # Every key here is also in `_dirty` and not in `_processing`.
        self._queue: deque[K] = deque()
        # Keys that need processing: queued, or re-added while in `_processing`.
        self._dirty: set[K] = set()
        # Keys handed out by `get` and not yet `done`.
        self._processing: set[K] = set()
        self._shutting_down = False
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drained: asyncio.Future[None] | None = None

    def add(self, key: K, /) -> None:
        """Mark `key` as needing processing (no-op if it already does, or after shutdown)."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # `done` will queue it
        self._queue.append(key)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def __len__(self) -> int:
        return len(self._queue)

    def get_nowait(self) -> K:
        """The next key, moved to processing; `asyncio.QueueEmpty` if none, `ShutDown` when over."""
        if not self._queue:
            if self._shutting_down:
                raise ShutDown
            raise asyncio.QueueEmpty
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    async def get(self) -> K:
        """Wait for the next key; the caller must call `done(key)` when finished with it."""
        while not self._queue and not self._shutting_down:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                getter.cancel()
                if self._queue and getter.done() and not getter.cancelled():
                    self._wake_one()  # pass the wake-up on, or the key would sit unclaimed
                raise
        return self.get_nowait()

    def done(self, key: K, /) -> None:
        """Finish processing `key`; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()
        elif not self._processing and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def shut_down(self) -> None:
        """Stop accepting keys; waiting `get`s see the rest of the queue, then `ShutDown`."""
        self._shutting_down = True
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    async def shut_down_with_drain(self) -> None:
        """`shut_down`, then wait until every key handed out so far is `done`."""
        self.shut_down()
        if self._processing:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def is_processing(self, key: K, /) -> bool:
        return key in self._processing


class DelayingQueue(WorkQueue[K]):
    """`WorkQueue` plus `add_after` (client-go `delayingType`)."""

    def __init__(self, *, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        # Min-heap of (ready_at, seq, key); an entry is live only if `_waiting[key] == ready_at`.
        self._heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, float] = {}
        self._seq = itertools.count()
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None

    def add_after(self, key: K, delay: float, /) -> None:
        """Add `key` after `delay` seconds; a key already waiting keeps the earlier time."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current <= ready_at:
            return
        self._waiting[key] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._seq), key))
        self._arm()

    def _arm(self) -> None:
        while self._heap and self._waiting.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: superseded by an earlier time or already added
        if not self._heap:
            return
        first = self._heap[0][0]
        if self._timer_at is not None and self._timer_at <= first:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = first
        self._timer = self._clock.call_at(first, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            ready_at, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == ready_at:
                del self._waiting[key]
                self.add(key)
        self._arm()

    def waiting(self) -> int:
        """Number of keys waiting for their time."""
        return len(self._waiting)

    def shut_down(self) -> None:
        super().shut_down()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        self._heap.clear()
        self._waiting.clear()


class RateLimiter(Protocol[K]):
    def when(self, key: K, /) -> float:
        """Seconds to wait before `key` may be processed again (records one failure)."""
        ...

    def forget(self, key: K, /) -> None: ...

    def num_requeues(self, key: K, /) -> int: ...


class ItemExponentialFailureRateLimiter(Generic[K]):
    """`base · 2^failures`, capped at `max_delay`, per key."""

    def __init__(self, *, base: float = 0.005, max_delay: float = 1000.0) -> None:
        self._base, self._max = base, max_delay
        self._failures: dict[K, int] = {}

    def when(self, key: K, /) -> float:
        exp = self._failures.get(key, 0)
        self._failures[key] = exp + 1
        if exp > 1000:  # 2**exp would overflow a float long before; the cap applies anyway
            return self._max
        return min(self._base * 2.0 ** exp, self._max)

    def forget(self, key: K, /) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K, /) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter(Generic[K]):
    """An overall token bucket (golang.org/x/time/rate `Reserve().Delay()`): `qps`, `burst`."""

    def __init__(self, *, clock: Clock, qps: float = 10.0, burst: int = 100) -> None:
        self._clock, self._qps, self._burst = clock, qps, burst
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self, key: K, /) -> float:
        now = self._clock.now()
        if now > self._last:
            self._tokens = min(float(self._burst), self._tokens + (now - self._last) * self._qps)
            self._last = now
        self._tokens -= 1.0  # a reservation: negative tokens are debt paid back by waiting
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, key: K, /) -> None:
        pass

    def num_requeues(self, key: K, /) -> int:
        return 0


class MaxOfRateLimiter(Generic[K]):
    """The longest delay of several limiters."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self._limiters = limiters

    def when(self, key: K, /) -> float:
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: K, /) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K, /) -> int:
        return max(limiter.num_requeues(key) for limiter in self._limiters)


def default_controller_rate_limiter(*, clock: Clock) -> MaxOfRateLimiter[K]:
    """client-go `DefaultControllerRateLimiter`."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(base=0.005, max_delay=1000.0),
                            BucketRateLimiter(clock=clock, qps=10.0, burst=100))


class RateLimitingQueue(DelayingQueue[K]):
    """`DelayingQueue` plus a rate limiter (client-go `rateLimitingType`)."""

    def __init__(self, *, clock: Clock, rate_limiter: RateLimiter[K] | None = None) -> None:
        super().__init__(clock=clock)
        self.rate_limiter: RateLimiter[K] = (rate_limiter if rate_limiter is not None
                                             else default_controller_rate_limiter(clock=clock))

    def add_rate_limited(self, key: K, /) -> None:
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K, /) -> None:
        """Stop tracking `key`'s failures (it succeeded, or will never be retried)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K, /) -> int:
        return self.rate_limiter.num_requeues(key)


class Result(msgspec.Struct, frozen=True):
    """A reconcile's decision: None = done until something changes; t = look again in t seconds."""

    requeue_after: float | None = None


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix: forget the key, do not requeue."""


class RetryableError(Exception):
    """A failure to retry after `delay` seconds (None: the rate limiter's backoff)."""

    def __init__(self, message: str, /, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class WorkerStats:
    """Counters of `run_workers` outcomes, one per branch of the switch."""

    __slots__ = ("success", "requeue_after", "error", "retryable", "terminal")

    def __init__(self) -> None:
        self.success = self.requeue_after = self.error = self.retryable = self.terminal = 0


Handler = Callable[[K], Awaitable["Result | None"]]


async def _worker(queue: RateLimitingQueue[K], handler: Handler[K], stats: WorkerStats) -> None:
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            result = await handler(key)
        except TerminalError as exc:
            stats.terminal += 1
            _log.error("reconcile %s failed terminally: %r", key, exc)
            queue.forget(key)
        except RetryableError as exc:
            stats.retryable += 1
            if exc.delay is not None:
                queue.add_after(key, exc.delay)
            else:
                queue.add_rate_limited(key)
        except asyncio.CancelledError:
            queue.done(key)
            raise
        except Exception as exc:  # any other failure: back off and retry, as controller-runtime does
            stats.error += 1
            _log.warning("reconcile %s failed, requeued with backoff: %r", key, exc)
            queue.add_rate_limited(key)
        else:
            if result is not None and result.requeue_after is not None:
                stats.requeue_after += 1
                queue.forget(key)
                queue.add_after(key, result.requeue_after)
            else:
                stats.success += 1
                queue.forget(key)
        queue.done(key)


async def run_workers(queue: RateLimitingQueue[K], handler: Handler[K], /, *, n: int = 32,
                      stats: WorkerStats | None = None) -> WorkerStats:
    """Run `n` long-lived workers over `queue` until it shuts down; returns the outcome counts."""
    if n < 1:
        raise ValueError(f"run_workers: n must be at least 1, got {n}")
    stats = stats if stats is not None else WorkerStats()
    workers = [asyncio.ensure_future(_worker(queue, handler, stats)) for _ in range(n)]
    try:
        await asyncio.gather(*workers)
    finally:
        for worker in workers:
            worker.cancel()
    return stats
