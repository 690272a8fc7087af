"""The instrumented workflow queue: client-go's add counting, latency and work time, initialDelay."""
from __future__ import annotations

import asyncio

from tiphys.controller.instrument import InstrumentedQueue


async def test_adds_count_once_per_dirtying_and_latency_is_measured(clock, settle):
    q = InstrumentedQueue(clock=clock)
    latency: list[float] = []
    work: list[float] = []
    q.on_latency, q.on_work = latency.append, work.append
    q.add("ns/a")
    q.add("ns/a")  # collapses into the first: not counted
    q.add("ns/b")
    assert q.adds == 2 and len(q) == 2
    clock.advance(3)
    key = q.get_nowait()
    assert key == "ns/a" and latency == [3.0] and q.started_at == {"ns/a": clock.now()}
    q.add("ns/a")  # dirtied while processing: counted, re-queued on done
    clock.advance(2)
    q.done("ns/a")
    assert work == [2.0] and q.adds == 3 and len(q) == 2
    q.add_rate_limited("ns/c")
    assert q.retries == 1


async def test_initial_delay_holds_new_keys_only(clock, settle):
    q = InstrumentedQueue(clock=clock)
    q.initial_delay = 10.0
    q.add("ns/new")
    assert len(q) == 0 and q.waiting() == 1
    clock.advance(9.9)
    assert len(q) == 0
    clock.advance(0.1)
    assert len(q) == 1
    q.done(q.get_nowait())
    q.add("ns/new")  # seen before: at once
    assert len(q) == 1
    q.done(q.get_nowait())
    q.forget_seen("ns/new")  # deleted; a new workflow under the name waits again
    q.add("ns/new")
    assert len(q) == 0 and q.waiting() == 1
    q.initial_delay = 0.0
    q.add("ns/other")
    assert len(q) == 1
    await asyncio.sleep(0)
