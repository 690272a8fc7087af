"""Client-side request throttling: a token bucket, as client-go's `flowcontrol` limiter.

`qps` tokens arrive per second up to `burst`; each request takes one. A request that finds
the bucket empty reserves the next token anyway (the balance goes negative) and sleeps
until it would have arrived, so waiters are served in arrival order without a queue or a
polling loop (golang.org/x/time/rate's reservation model). Time comes from the injected
`Clock`, so tests step a fake clock instead of sleeping.
"""
from __future__ import annotations

from ..clock import Clock

__all__ = ["TokenBucket"]


class TokenBucket:
    """`qps` per second, at most `burst` at once."""

    __slots__ = ("qps", "burst", "_clock", "_tokens", "_last")

    def __init__(self, qps: float, burst: int, /, *, clock: Clock) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"TokenBucket: qps must be > 0 and burst >= 1 (got {qps}, {burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)  # may go negative: that many tokens are already promised
        self._last = clock.now()

    def reserve_nowait(self) -> float:
        """Take a token now; return how many seconds the caller must wait before using it."""
        now = self._clock.now()
        # max(): a wall clock stepped backwards must not drain the bucket.
        self._tokens = min(float(self.burst), self._tokens + max(0.0, now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        delay = self.reserve_nowait()
        if delay > 0:
            await self._clock.sleep(delay)
