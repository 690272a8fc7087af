"""Instrumented stand-ins for two controller parts, so metrics need no hooks inside them.

* `InstrumentedQueue`: the engine's `RateLimitingQueue` plus client-go's queue metrics (adds
  counted only when they dirty a key, rate-limited retries, time from add to hand-out, time from
  hand-out to done) and the ConfigMap's `initialDelay` for keys it has not seen before.
* `CountingApi`: an `Api` that delegates every call and reports (kind, verb, status code,
  seconds) for `argo_workflows_k8s_request_total` / `_duration`. A watch is counted when it is
  opened and not timed, since it is long-lived by design.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import ApiError
from tiphys.controller.clock import Clock
from tiphys.controller.workqueue import RateLimitingQueue

__all__ = ["InstrumentedQueue", "CountingApi", "WORKFLOW_QUEUE"]

WORKFLOW_QUEUE = "workflow_queue"


class InstrumentedQueue(RateLimitingQueue[str]):
    """The workflow queue with client-go's queue metrics: adds, retries, latency, work duration."""

    def __init__(self, *, clock: Clock, name: str = WORKFLOW_QUEUE) -> None:
        super().__init__(clock=clock)
        self.name = name
        # ConfigMap `initialDelay`: a key the queue has not seen before (a new workflow, or every
        # workflow after a restart, as Argo's informer AddFunc) waits this long before its first run.
        self.initial_delay = 0.0
        self._seen: set[str] = set()
        self.adds = 0
        self.retries = 0
        self._clock = clock
        self._added_at: dict[str, float] = {}  # keys waiting in the queue -> when they were added
        self.started_at: dict[str, float] = {}  # keys being processed -> when they were handed out
        self.on_latency: Callable[[float], None] = lambda seconds: None
        self.on_work: Callable[[float], None] = lambda seconds: None

    def add(self, key: str, /) -> None:
        if key not in self._seen and not self.shutting_down:
            self._seen.add(key)
            if self.initial_delay > 0:
                self.add_after(key, self.initial_delay)
                return
        # client-go counts an add only when it makes the key dirty (a repeat collapses into one)
        if not self.shutting_down and key not in self._dirty:
            self.adds += 1
            self._added_at.setdefault(key, self._clock.now())
        super().add(key)

    def forget_seen(self, key: str, /) -> None:
        """The workflow is gone: a new one under the same name gets the initial delay again."""
        self._seen.discard(key)

    def add_rate_limited(self, key: str, /) -> None:
        self.retries += 1
        super().add_rate_limited(key)

    def get_nowait(self) -> str:
        key = super().get_nowait()
        now = self._clock.now()
        added = self._added_at.pop(key, None)
        if added is not None:
            self.on_latency(max(0.0, now - added))
        self.started_at[key] = now
        return key

    def done(self, key: str, /) -> None:
        started = self.started_at.pop(key, None)
        if started is not None:
            self.on_work(max(0.0, self._clock.now() - started))
        super().done(key)


class CountingApi(base.Api):
    """Delegates every call to `inner`, counting it by (kind, verb, status code) and timing it."""

    def __init__(self, inner: base.Api, /, *, on_request: Callable[[str, str, int, float | None], None]) -> None:
        self.inner = inner
        self._on_request = on_request

    async def _call(self, kind: str, verb: str, ok: int, call: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        code = ok
        try:
            return await call
        except ApiError as exc:
            code = exc.status
            raise
        finally:
            self._on_request(kind, verb, code, time.perf_counter() - started)

    async def get(self, resource: base.Resource, name: str, /, *, namespace: str | None = None) -> Any:
        return await self._call(resource.kind, "Get", 200, self.inner.get(resource, name, namespace=namespace))

    async def list(self, resource: base.Resource, /, **kwargs: Any) -> base.ListResult:
        return await self._call(resource.kind, "List", 200, self.inner.list(resource, **kwargs))

    def watch(self, resource: base.Resource, /, **kwargs: Any) -> base.WatchStream:
        self._on_request(resource.kind, "Watch", 200, None)  # failures surface from the stream
        return self.inner.watch(resource, **kwargs)

    async def create(self, resource: base.Resource, body: Any, /, *, namespace: str | None = None) -> Any:
        return await self._call(resource.kind, "Create", 201, self.inner.create(resource, body, namespace=namespace))

    async def update(self, resource: base.Resource, body: Any, /, **kwargs: Any) -> Any:
        return await self._call(resource.kind, "Update", 200, self.inner.update(resource, body, **kwargs))

    async def patch(self, resource: base.Resource, name: str, patch: Any, /, **kwargs: Any) -> Any:
        return await self._call(resource.kind, "Patch", 200, self.inner.patch(resource, name, patch, **kwargs))

    async def delete(self, resource: base.Resource, name: str, /, **kwargs: Any) -> Any:
        return await self._call(resource.kind, "Delete", 200, self.inner.delete(resource, name, **kwargs))

    async def delete_collection(self, resource: base.Resource, /, **kwargs: Any) -> Any:
        # Argo's request metrics name a DELETE without an object name "DeleteCollection"
        return await self._call(resource.kind, "DeleteCollection", 200,
                                self.inner.delete_collection(resource, **kwargs))

    async def close(self) -> None:
        await self.inner.close()
