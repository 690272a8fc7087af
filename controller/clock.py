"""Injected time for the controller: the `Clock` protocol, the real clock and a fake one.

Everything in the controller that waits or timestamps goes through a `Clock` (STYLE.md entry 5):
the work queue's delays, the rate limiters' token buckets, the reflector's backoff, the embedded
API's watch timeouts, bookmarks and creation timestamps. Production passes `RealClock()`; tests
pass `FakeClock()` and step it, so no test ever sleeps for real.

The time base is wall-clock epoch seconds (`now()`), because the same value also stamps
`creationTimestamp` and feeds `core.plan(..., now)`. `call_at(when, callback)` schedules a plain
callback at a time in that base and returns a handle with `cancel()`; `sleep(delay)` is the
coroutine form. The real clock converts to the event loop's monotonic timer at scheduling time,
so a wall-clock jump moves only the timers scheduled after it.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "TimerHandle", "RealClock", "FakeClock"]


@runtime_checkable
class TimerHandle(Protocol):
    """What `Clock.call_at` returns: a timer that can be cancelled before it fires."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """The time source every controller component takes (keyword `clock=`)."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, delay: float, /) -> None:
        """Suspend the calling task for `delay` seconds of this clock's time."""
        ...

    def call_at(self, when: float, callback: Callable[[], object], /) -> TimerHandle:
        """Run `callback()` once this clock reaches `when` (same base as `now()`)."""
        ...


class RealClock:
    """Wall-clock time; timers ride on the running asyncio (or uvloop) event loop."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    async def sleep(self, delay: float, /) -> None:
        await asyncio.sleep(max(0.0, delay))

    def call_at(self, when: float, callback: Callable[[], object], /) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - time.time()), callback)


class _FakeTimer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when a test calls `advance` (client-go's fake clock, kopf's looptime).

    Timers fire synchronously inside `advance`, in time order, with `now()` set to each timer's
    own time while it runs; a timer scheduled by a callback for a time already reached fires in
    the same `advance`. Tasks woken by a fired `sleep` run at the loop's next turns, so a test
    typically does `clock.advance(60)` and then `await settle()` (a few `asyncio.sleep(0)`).
    """

    __slots__ = ("_now", "_timers", "_seq")

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = float(start)
        # Min-heap of (when, seq, timer); cancelled timers stay until popped (lazy deletion).
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object], /) -> TimerHandle:
        timer = _FakeTimer(float(when), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float, /) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(self._now + delay, wake)
        try:
            await future
        finally:
            timer.cancel()

    def advance(self, seconds: float, /) -> None:
        """Move time forward by `seconds`, firing every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance: cannot move time backwards ({seconds})")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = target

    def pending(self) -> int:
        """Number of live timers (for tests asserting that nothing is left scheduled)."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest live timer's time, or None."""
        live = [when for when, _, timer in self._timers if not timer.cancelled]
        return min(live) if live else None
