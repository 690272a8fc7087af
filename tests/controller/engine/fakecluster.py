"""The engine, the embedded API and the simulated kubelet on one `FakeClock`: time-driven rules
(timeouts, GC delays, TTL) are tested by stepping the clock, never by sleeping."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.api.errors import NotFound
from tiphys.controller.clock import FakeClock
from tiphys.controller.engine import Engine
from tiphys.controller.simkubelet import SimKubelet, SimOutcome
from tiphys.controller.status_writer import StatusWriter
from tiphys.core.plan.meta import PodSettings

NS = "default"


async def put_configmap(api: base.Api, name: str, data: dict[str, str], /, *, namespace: str = NS) -> None:
    """Create the ConfigMap `name` with `data`, or replace the data of the one there."""
    try:
        live = await api.get(base.CONFIG_MAPS, name, namespace=namespace)
    except NotFound:
        await api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": name, "namespace": namespace}, "data": data},
                         namespace=namespace)
        return
    await api.update(base.CONFIG_MAPS, {**live, "data": data}, namespace=namespace)


class HoldingKubelet(SimKubelet):
    """The simulated kubelet, except that pods `hold(pod)` picks are never run (they stay Pending)."""

    def __init__(self, api: base.Api, /, *, hold: Callable[[dict], bool], **kw: Any) -> None:
        super().__init__(api, **kw)
        self.hold = hold

    def _maybe(self, pod: dict) -> None:
        if not self.hold(pod):
            super()._maybe(pod)


class FakeCluster:
    def __init__(self, *, behaviour: Callable[[dict, dict], SimOutcome] | None = None,
                 hold: Callable[[dict], bool] = lambda pod: False, settings: PodSettings = PodSettings(),
                 api: EmbeddedApi | None = None, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.api = api or EmbeddedApi(clock=self.clock)
        self.settings = settings
        self.engine: Engine | None = None
        kw = {"behaviour": behaviour} if behaviour else {}
        self.kubelet = HoldingKubelet(self.api, clock=self.clock, hold=hold, **kw)

    async def __aenter__(self) -> "FakeCluster":
        await self.kubelet.start()
        await self.start_controller()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_controller()
        await self.kubelet.stop()

    async def start_controller(self) -> None:
        self.engine = Engine(self.api, clock=self.clock, workers=4, settings=self.settings)
        await self.engine.start()

    async def stop_controller(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    async def submit(self, wf: dict) -> dict:
        meta = {**wf.get("metadata", {}), "namespace": NS}
        return await self.api.create(base.WORKFLOWS, {**wf, "metadata": meta}, namespace=NS)

    async def settle(self, turns: int = 60) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)

    async def until(self, check: Callable[[], Awaitable[bool]], *, step: float = 0.25, limit: float = 120.0) -> None:
        """Run the loop and step the clock by `step` until `check()` holds (at most `limit` fake seconds)."""
        waited = 0.0
        while True:
            await self.settle()
            if await check():
                return
            if waited >= limit:
                raise AssertionError(f"condition not reached within {limit} fake seconds")
            self.clock.advance(step)
            waited += step

    async def advance(self, seconds: float, *, step: float = 0.25) -> None:
        """Let `seconds` of fake time pass in steps, the loop running between them."""
        done = 0.0
        while done < seconds:
            await self.settle()
            self.clock.advance(min(step, seconds - done))
            done += step
        await self.settle()

    async def workflow(self, name: str, namespace: str = NS) -> dict | None:
        try:
            return await self.api.get(base.WORKFLOWS, name, namespace=namespace)
        except NotFound:
            return None

    async def completed(self, name: str, namespace: str = NS) -> bool:
        wf = await self.workflow(name, namespace)
        return wf is not None and (wf["metadata"].get("labels") or {}).get("workflows.argoproj.io/completed") == "true"

    async def nodes(self, name: str) -> dict:
        wf = await self.workflow(name)
        nodes = StatusWriter().read_nodes((wf or {}).get("status") or {})
        return {n.name: n for n in nodes.values()}

    async def names(self, resource: base.Resource) -> set[str]:
        listed = await self.api.list(resource, namespace=NS)
        return {o["metadata"]["name"] for o in listed.items}

    async def objects(self, resource: base.Resource) -> list[dict]:
        return list((await self.api.list(resource, namespace=NS)).items)

    async def has_pod(self) -> bool:
        """Whether any pod exists yet (for `until`)."""
        return bool(await self.names(base.PODS))
