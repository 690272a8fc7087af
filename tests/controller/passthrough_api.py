"""An `Api` that hands every call to an inner one: the base of the API wrappers tests and
benchmarks put in front of the controller (to lose, hold, record or time its calls).

A subclass overrides only the calls it changes. `close()` does not close the inner Api: it
belongs to whoever made it; a wrapper that owns it overrides `close`.
"""
from __future__ import annotations

from tiphys.controller.api import base

__all__ = ["PassThroughApi"]


class PassThroughApi(base.Api):
    def __init__(self, inner: base.Api, /) -> None:
        self.inner = inner

    async def get(self, resource, name, /, **kw):
        return await self.inner.get(resource, name, **kw)

    async def list(self, resource, /, **kw):
        return await self.inner.list(resource, **kw)

    def watch(self, resource, /, **kw):
        return self.inner.watch(resource, **kw)

    async def create(self, resource, body, /, **kw):
        return await self.inner.create(resource, body, **kw)

    async def update(self, resource, body, /, **kw):
        return await self.inner.update(resource, body, **kw)

    async def patch(self, resource, name, patch, /, **kw):
        return await self.inner.patch(resource, name, patch, **kw)

    async def delete(self, resource, name, /, **kw):
        return await self.inner.delete(resource, name, **kw)

    async def delete_collection(self, resource, /, **kw):
        return await self.inner.delete_collection(resource, **kw)

    async def close(self) -> None:
        pass
