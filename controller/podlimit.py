"""Argo's `resourceRateLimit`: a token bucket in front of pod creation, hot-reloadable.

Argo's controller waits on one `rate.Limiter` before each pod it creates, so a burst of
ready steps cannot flood the apiserver or the scheduler. `PodCreateLimiter` is that limiter as
an `Api` layer: every call passes straight through except `create` of a Pod, which first takes
a token (waiting for it when the bucket is empty). `configure()` swaps the bucket when the
ConfigMap changes; `None` turns the limit off.

Chosen otherwise: Argo applies `limit: 10, burst: 1` when the key is absent (its
`GetResourceRateLimit` default, not stated in the reference doc); tiphys applies no limit
then, so the pod-creation path keeps its throughput unless an operator asks for a limit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api._ratelimit import TokenBucket
from tiphys.controller.clock import Clock

__all__ = ["PodCreateLimiter"]


class PodCreateLimiter(base.Api):
    """Delegates to `inner`; Pod creates wait for a token of the configured bucket."""

    def __init__(self, inner: base.Api, /, *, clock: Clock,
                 on_wait: Callable[[float], None] = lambda seconds: None) -> None:
        self.inner, self._clock, self._on_wait = inner, clock, on_wait
        self._bucket: TokenBucket | None = None

    def configure(self, limit: float | None, burst: int | None = None, /) -> None:
        """Pod creates per second and burst; `limit=None` removes the limit."""
        if limit is None:
            self._bucket = None
            return
        if limit <= 0 or burst is None or burst < 1:
            raise ValueError(f"resourceRateLimit: limit must be > 0 and burst >= 1 (got {limit}, {burst})")
        self._bucket = TokenBucket(limit, burst, clock=self._clock)

    @property
    def limit(self) -> tuple[float, int] | None:
        return (self._bucket.qps, self._bucket.burst) if self._bucket is not None else None

    async def create(self, resource: base.Resource, body: Any, /, *, namespace: str | None = None) -> Any:
        if resource is base.PODS and self._bucket is not None:
            started = self._clock.now()
            await self._bucket.acquire()
            self._on_wait(self._clock.now() - started)
        return await self.inner.create(resource, body, namespace=namespace)

    async def get(self, resource: base.Resource, name: str, /, **kwargs: Any) -> Any:
        return await self.inner.get(resource, name, **kwargs)

    async def list(self, resource: base.Resource, /, **kwargs: Any) -> base.ListResult:
        return await self.inner.list(resource, **kwargs)

    def watch(self, resource: base.Resource, /, **kwargs: Any) -> base.WatchStream:
        return self.inner.watch(resource, **kwargs)

    async def update(self, resource: base.Resource, body: Any, /, **kwargs: Any) -> Any:
        return await self.inner.update(resource, body, **kwargs)

    async def patch(self, resource: base.Resource, name: str, patch: Any, /, **kwargs: Any) -> Any:
        return await self.inner.patch(resource, name, patch, **kwargs)

    async def delete(self, resource: base.Resource, name: str, /, **kwargs: Any) -> Any:
        return await self.inner.delete(resource, name, **kwargs)

    async def delete_collection(self, resource: base.Resource, /, **kwargs: Any) -> Any:
        return await self.inner.delete_collection(resource, **kwargs)

    async def close(self) -> None:
        await self.inner.close()
