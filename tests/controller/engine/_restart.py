"""The kill-and-restart harness: a controller that dies right after one of its writes, and the
lives that follow it on the same store.

* `CountingApi` wraps the controller's `Api`: it counts every write that landed, by
  (verb, plural; a collection delete is one "delete"), and pod creates by name; after its kill point every later call raises
  `Killed` and `dead` is set - a process death right after a write landed. The cluster tests
  (`tests/cluster/_faults.py`) count and kill the controller's writes to a real apiserver with
  the same class.
* `run_lives` runs controller lives on a persisted embedded store until the workflow completes:
  the first life is killed at its kill point, the later ones run on. The simulated kubelet
  talks to the store directly, as another process would, and outlives every controller life.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.local import wait_completed
from tiphys.controller.simkubelet import SimKubelet, SimOutcome

__all__ = ["CountingApi", "Killed", "Restarted", "run_lives"]


class Killed(Exception):
    """Raised by a `CountingApi` after its kill point: the controller process is dead."""


class CountingApi(base.Api):
    """Delegates to `inner`; counts successful writes by (verb, plural) and pod creates by name.

    `kill_after`: after this many writes every later call raises `Killed`, and `dead` is set.
    `kill_on`: only writes of this (verb, plural) count towards `kill_after`; None, every write.
    """

    def __init__(self, inner: base.Api, /, *, kill_after: int | None = None,
                 kill_on: tuple[str, str] | None = None, pod_creates: Counter[str] | None = None) -> None:
        self.inner = inner
        self.writes: Counter[tuple[str, str]] = Counter()
        self.pod_creates = pod_creates if pod_creates is not None else Counter()
        self.collection_deletes: Counter[str] = Counter()  # delete_collection calls by plural
        self.kill_after = kill_after
        self.kill_on = kill_on
        self.dead = asyncio.Event()

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    def _check(self) -> None:
        if self.dead.is_set():
            raise Killed("controller is dead")

    async def _write(self, verb: str, resource: base.Resource, call: Callable[[], Any]) -> Any:
        self._check()
        result = await call()
        self.writes[(verb, resource.plural)] += 1
        counted = self.total_writes if self.kill_on is None else self.writes[self.kill_on]
        if self.kill_after is not None and counted >= self.kill_after:
            self.dead.set()
            raise Killed(f"killed after write {counted} ({verb} {resource.plural})")
        return result

    async def get(self, resource, name, /, **kw):
        self._check()
        return await self.inner.get(resource, name, **kw)

    async def list(self, resource, /, **kw):
        self._check()
        return await self.inner.list(resource, **kw)

    def watch(self, resource, /, **kw):
        self._check()
        return self.inner.watch(resource, **kw)

    async def create(self, resource, body, /, **kw):
        result = await self._write("create", resource, lambda: self.inner.create(resource, body, **kw))
        if resource is base.PODS:
            self.pod_creates[result["metadata"]["name"]] += 1
        return result

    async def update(self, resource, body, /, **kw):
        return await self._write("update", resource, lambda: self.inner.update(resource, body, **kw))

    async def patch(self, resource, name, patch, /, **kw):
        return await self._write("patch", resource, lambda: self.inner.patch(resource, name, patch, **kw))

    async def delete(self, resource, name, /, **kw):
        return await self._write("delete", resource, lambda: self.inner.delete(resource, name, **kw))

    async def delete_collection(self, resource, /, **kw):
        # One request, however many objects it removes: one write of ("delete", plural), the kind
        # the kill points count; `collection_deletes` tells it from single deletes.
        async def call() -> Any:
            out = await self.inner.delete_collection(resource, **kw)
            self.collection_deletes[resource.plural] += 1
            return out

        return await self._write("delete", resource, call)

    async def close(self) -> None:
        await self.inner.close()


class Restarted(NamedTuple):
    """What `run_lives` left behind: the final workflow, the pods in the store by name (a count
    above 1 would be a pod made twice) and how many controller lives it took."""

    final: dict
    pods: Counter[str]
    lives: int


async def _life(path: Path, workflow: dict, behaviour: Callable[[dict, dict], SimOutcome], /, *,
                kill_on: tuple[str, str] | None, kill_after: int | None, submit: bool) -> bool:
    """One controller life on the store at `path`; True when it was killed."""
    meta = workflow["metadata"]
    clock = RealClock()
    store = EmbeddedApi(path=path, clock=clock)
    api = CountingApi(store, kill_on=kill_on, kill_after=kill_after)
    # The kubelet is another process: it talks to the store directly and outlives the controller.
    kubelet = SimKubelet(store, clock=clock, behaviour=behaviour)
    engine = Engine(api, clock=clock, workers=4, status_interval=0.0)  # every change written: more kill points
    await kubelet.start()
    await engine.start()
    if submit:
        await store.create(base.WORKFLOWS, workflow, namespace=meta["namespace"])
    waiter = asyncio.ensure_future(wait_completed(store, meta["name"], meta["namespace"], timeout=30))
    dead = asyncio.ensure_future(api.dead.wait())
    done, _ = await asyncio.wait({waiter, dead}, return_when=asyncio.FIRST_COMPLETED)
    killed = dead in done and not waiter.done()
    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
        raise waiter.exception()
    for t in (waiter, dead):
        t.cancel()
    await engine.stop()
    await kubelet.stop()
    await store.close()
    return killed


def run_lives(path: Path, workflow: dict, /, *, behaviour: Callable[[dict, dict], SimOutcome],
              kill_on: tuple[str, str] | None = None, kill_after: int | None = None,
              max_lives: int = 4) -> Restarted:
    """Submit `workflow` to a fresh store at `path` and run controller lives until it completes.

    The first life dies right after its `kill_after`-th write of `kill_on` (see `CountingApi`);
    each later life runs on, up to `max_lives` lives. `behaviour` is the kubelet's: it sees every
    pod that runs, so a test can count the runs.
    """
    meta = workflow["metadata"]

    async def go() -> Restarted:
        lives = 1
        killed = await _life(path, workflow, behaviour, kill_on=kill_on, kill_after=kill_after, submit=True)
        while killed and lives < max_lives:
            lives += 1
            killed = await _life(path, workflow, behaviour, kill_on=None, kill_after=None, submit=False)
        store = EmbeddedApi(path=path)
        final = await store.get(base.WORKFLOWS, meta["name"], namespace=meta["namespace"])
        pods = await store.list(base.PODS, namespace=meta["namespace"])
        await store.close()
        return Restarted(final, Counter(p["metadata"]["name"] for p in pods.items), lives)

    return asyncio.run(go())
