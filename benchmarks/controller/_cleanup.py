"""What a workflow's completion costs the API: calls after the final status, and the time until its
task results are gone. Two `Api` layers for the controller's side of a benchmark:

* `Timeline` records every call the controller made (verb, plural, when it returned), the time its
  pod watch delivered the last Succeeded pod, and when the completed status was written.
* `PerObjectDeletes` is the baseline: `delete_collection` done as tiphys did before (and as a
  client without DeleteCollection must), a LIST and then one DELETE per object. Put it *outside*
  `Timeline`, so the timeline sees the requests really sent.

Both finish a task-result clean-up the controller started even when its task is cancelled (a
harness that stops the engine as soon as the workflow is completed, `tests/cluster/_faults.py`'s
`run_fan`), and `close()` waits for it: the time to "cleaned up" is then the clean-up's own.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from tests.controller.passthrough_api import PassThroughApi
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound

__all__ = ["Timeline", "PerObjectDeletes"]

_COMPLETED = "workflows.argoproj.io/completed"


class _Delegating(PassThroughApi):
    """Owns its inner Api, and the clean-ups it keeps running past a cancelled caller."""

    def __init__(self, inner: base.Api, /) -> None:
        super().__init__(inner)
        self._finishing: set[asyncio.Future] = set()

    async def _to_the_end(self, call) -> Any:
        """Run `call` to its end even if our caller is cancelled (shielded; `close` awaits it)."""
        task = asyncio.ensure_future(call)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return await asyncio.shield(task)

    async def close(self) -> None:
        await asyncio.gather(*self._finishing, return_exceptions=True)
        await self.inner.close()


class PerObjectDeletes(_Delegating):
    """delete_collection as a LIST and one DELETE per listed object (NotFound ignored)."""

    async def delete_collection(self, resource, /, *, namespace, label_selector=None, field_selector=None,
                                propagation=base.Propagation.BACKGROUND, grace_period_seconds=None):
        async def each() -> list:
            listed = await self.inner.list(resource, namespace=namespace, label_selector=label_selector,
                                           field_selector=field_selector)
            for item in listed.items:
                try:
                    await self.inner.delete(resource, item["metadata"]["name"], namespace=namespace,
                                            propagation=propagation, grace_period_seconds=grace_period_seconds)
                except NotFound:
                    pass
            return listed.items

        return await self._to_the_end(each())


class _PodWatch(base.WatchStream):
    def __init__(self, inner: base.WatchStream, timeline: Timeline, /) -> None:
        self.inner, self.timeline = inner, timeline

    async def __anext__(self) -> base.WatchEvent:
        event = await self.inner.__anext__()
        if (event.object.get("status") or {}).get("phase") == "Succeeded":
            self.timeline.last_pod_seen = time.perf_counter()
        return event

    async def aclose(self) -> None:
        await self.inner.aclose()


class Timeline(_Delegating):
    """Records (seconds, verb, plural) of every call when it returned; watches are not calls here."""

    def __init__(self, inner: base.Api, /) -> None:
        super().__init__(inner)
        self.calls: list[tuple[float, str, str]] = []
        self.last_pod_seen = 0.0
        self.completed_written = 0.0

    def _note(self, verb: str, resource: base.Resource) -> None:
        self.calls.append((time.perf_counter(), verb, resource.plural))

    async def get(self, resource, name, /, **kw):
        out = await self.inner.get(resource, name, **kw)
        self._note("get", resource)
        return out

    async def list(self, resource, /, **kw):
        out = await self.inner.list(resource, **kw)
        self._note("list", resource)
        return out

    def watch(self, resource, /, **kw):
        stream = self.inner.watch(resource, **kw)
        return _PodWatch(stream, self) if resource is base.PODS else stream

    async def create(self, resource, body, /, **kw):
        out = await self.inner.create(resource, body, **kw)
        self._note("create", resource)
        return out

    async def update(self, resource, body, /, **kw):
        out = await self.inner.update(resource, body, **kw)
        self._note("update", resource)
        if resource is base.WORKFLOWS and (out["metadata"].get("labels") or {}).get(_COMPLETED) == "true":
            self.completed_written = self.completed_written or time.perf_counter()
        return out

    async def patch(self, resource, name, patch, /, **kw):
        out = await self.inner.patch(resource, name, patch, **kw)
        self._note("patch", resource)
        return out

    async def delete(self, resource, name, /, **kw):
        try:
            return await self.inner.delete(resource, name, **kw)
        finally:
            self._note("delete", resource)

    async def delete_collection(self, resource, /, **kw):
        async def call() -> Any:
            out = await self.inner.delete_collection(resource, **kw)
            self._note("deletecollection", resource)
            return out

        return await self._to_the_end(call())

    def after_completion(self) -> Counter[str]:
        """Calls that returned after the completed status was written, by "verb plural"."""
        return Counter(f"{verb} {plural}" for t, verb, plural in self.calls if t > self.completed_written)

    def cleaned_up(self) -> float:
        """When the last task-result delete (single or collection) returned."""
        return max(t for t, verb, plural in self.calls if plural == "workflowtaskresults" and "delete" in verb)
