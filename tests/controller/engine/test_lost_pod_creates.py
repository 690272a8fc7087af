"""Lost pod creates and the outputs gate, on the embedded API (the cluster twin is
tests/cluster/test_faults.py::test_dropped_pod_creates).

A pod POST can be lost before the apiserver saw it, or after: the pod exists, the controller only
got a 503. In the second case the kubelet may run the pod and its WorkflowTaskResult may reach the
controller before the create's error does; the retried create then meets AlreadyExists. The node
must take its outputs from that task result (keyed by node ID, the same for both attempts) and
never wait for the 60 s outputs gate.

The end of a workflow: Argo deletes its task results only after the completed status is written
(persistUpdates). Deleting them first made the completion wait for one DELETE per pod (a slow API
held a finished fan-out "Running", its last written status showing Succeeded nodes still waiting
for task results); and a crash between the deletes and the write restarted from a status whose
nodes waited for task results that no longer existed.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.cluster._faults import fan_behaviour, fan_workflow
from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.api.errors import ApiError, NotFound
from tiphys.controller.clock import FakeClock
from tiphys.controller.engine import Engine
from tiphys.controller.simkubelet import SimKubelet, template_of_pod
from tiphys.controller.status_writer import StatusWriter

NS = "default"
FAN = 6
NODE_ID = "workflows.argoproj.io/node-id"


async def _settle(turns: int = 100) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


class _Delegating(base.Api):
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

    async def close(self) -> None:
        pass


class LosingApi(_Delegating):
    """Loses the first create of the pods whose names `lose` maps: 'before' (never made) or
    'after' (made, and the answer only comes once the kubelet ran the pod, wrote its task result
    and the controller's informers had time to see both)."""

    def __init__(self, inner: EmbeddedApi, lose: dict[str, str], /) -> None:
        super().__init__(inner)
        self.lose = dict(lose)
        self.lost: list[tuple[str, str]] = []

    async def create(self, resource, body, /, **kw):
        name = (body.get("metadata") or {}).get("name", "")
        how = self.lose.pop(name, None) if resource is base.PODS else None
        if how == "before":
            self.lost.append((name, how))
            raise ApiError(f"POST pods {name}: connection reset", status=503, reason="ServiceUnavailable")
        made = await self.inner.create(resource, body, **kw)
        if how == "after":
            node_id = body["metadata"]["annotations"][NODE_ID]
            for _ in range(200):
                await _settle(10)
                pod = await self.inner.get(base.PODS, name, namespace=kw.get("namespace"))
                try:
                    await self.inner.get(base.WORKFLOW_TASK_RESULTS, node_id, namespace=kw.get("namespace"))
                except NotFound:
                    continue
                if (pod.get("status") or {}).get("phase") == "Succeeded":
                    break
            else:
                raise AssertionError(f"the kubelet never ran {name}")
            await _settle(200)  # the controller's informers deliver the task result and the pod
            self.lost.append((name, how))
            raise ApiError(f"POST pods {name}: server disconnected", status=503, reason="ServiceUnavailable")
        return made


class RecordingApi(_Delegating):
    """Records the controller's writes in order; task-result deletes wait for `release`."""

    def __init__(self, inner: base.Api, /, *, hold_deletes: bool = False) -> None:
        super().__init__(inner)
        self.log: list[tuple[str, str, Any]] = []
        self.release = asyncio.Event()
        if not hold_deletes:
            self.release.set()

    async def update(self, resource, body, /, **kw):
        out = await self.inner.update(resource, body, **kw)
        if resource is base.WORKFLOWS:
            labels = (out.get("metadata") or {}).get("labels") or {}
            self.log.append(("update", "workflows", labels.get("workflows.argoproj.io/completed")))
        return out

    async def delete(self, resource, name, /, **kw):
        if resource is base.WORKFLOW_TASK_RESULTS:
            await self.release.wait()
        out = await self.inner.delete(resource, name, **kw)
        self.log.append(("delete", resource.plural, name))
        return out


class Killed(Exception):
    """The controller process died."""


class DyingApi(_Delegating):
    """Dies right after the controller's first task-result DELETE: every later call raises."""

    def __init__(self, inner: base.Api, /) -> None:
        super().__init__(inner)
        self.dead = False

    def _check(self) -> None:
        if self.dead:
            raise Killed("controller is dead")

    async def get(self, resource, name, /, **kw):
        self._check()
        return await self.inner.get(resource, name, **kw)

    async def list(self, resource, /, **kw):
        self._check()
        return await self.inner.list(resource, **kw)

    async def create(self, resource, body, /, **kw):
        self._check()
        return await self.inner.create(resource, body, **kw)

    async def update(self, resource, body, /, **kw):
        self._check()
        return await self.inner.update(resource, body, **kw)

    async def patch(self, resource, name, patch, /, **kw):
        self._check()
        return await self.inner.patch(resource, name, patch, **kw)

    async def delete(self, resource, name, /, **kw):
        self._check()
        out = await self.inner.delete(resource, name, **kw)
        if resource is base.WORKFLOW_TASK_RESULTS:
            self.dead = True
            raise Killed(f"killed after deleting task result {name}")
        return out


class Cluster:
    """The engine over `wrap(embedded)`, the simulated kubelet straight on the embedded store."""

    def __init__(self, wrap) -> None:
        self.clock = FakeClock()
        self.store = EmbeddedApi(clock=self.clock)
        self.api = wrap(self.store)
        self.kubelet = SimKubelet(self.store, clock=self.clock, behaviour=fan_behaviour, workers=4)
        self.engine = Engine(self.api, clock=self.clock, workers=4)

    async def __aenter__(self) -> "Cluster":
        await self.kubelet.start()
        await self.engine.start()
        wf = fan_workflow("fan", FAN)
        await self.store.create(base.WORKFLOWS, {**wf, "metadata": {**wf["metadata"], "namespace": NS}},
                                namespace=NS)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.stop()
        await self.kubelet.stop()

    async def workflow(self) -> dict:
        return await self.store.get(base.WORKFLOWS, "fan", namespace=NS)

    async def completed(self) -> bool:
        labels = (await self.workflow())["metadata"].get("labels") or {}
        return labels.get("workflows.argoproj.io/completed") == "true"

    async def run(self, *, limit: float) -> float:
        """Step the fake clock 50 ms at a time until the workflow is completed; the fake seconds it took."""
        waited = 0.0
        while not await self.completed():
            if waited >= limit:
                wf = await self.workflow()
                raise AssertionError(f"not completed within {limit} fake seconds: "
                                     f"{(wf.get('status') or {}).get('progress')}")
            await _settle()
            self.clock.advance(0.05)
            waited += 0.05
        return waited

    async def pods(self) -> list[dict]:
        return list((await self.store.list(base.PODS, namespace=NS)).items)

    async def task_results(self) -> list[str]:
        return [r["metadata"]["name"] for r in (await self.store.list(base.WORKFLOW_TASK_RESULTS, namespace=NS)).items]


def _collected(pods: list[dict]) -> list[str]:
    collect = [template_of_pod(p) for p in pods if template_of_pod(p).get("name") == "collect"]
    assert len(collect) == 1
    return sorted(json.loads(collect[0]["container"]["command"][1]))


def _fan_pod_names(n: int) -> list[str]:
    """The fan pods' names, as the controller derives them (from a clean run's pods)."""
    async def go() -> list[str]:
        async with Cluster(lambda api: api) as c:
            await c.run(limit=30)
            return sorted(p["metadata"]["name"] for p in await c.pods() if p["metadata"]["name"].startswith("fan-work-"))

    return asyncio.run(go())[:n]


def test_a_create_whose_answer_was_lost_takes_its_outputs_without_waiting() -> None:
    names = _fan_pod_names(FAN)
    lose = {names[0]: "after", names[1]: "after", names[2]: "before", names[3]: "after"}

    async def go() -> None:
        losing: list[LosingApi] = []

        def wrap(api: EmbeddedApi) -> LosingApi:
            losing.append(LosingApi(api, lose))
            return losing[0]

        async with Cluster(wrap) as c:
            took = await c.run(limit=30)
            assert sorted(losing[0].lost) == sorted((n, h) for n, h in lose.items()), "a fault was not injected"
            # far below the 60 s the outputs gate would wait for a task result it missed
            assert took < 5, took
            final = await c.workflow()
            assert final["status"]["phase"] == "Succeeded"
            nodes = StatusWriter().read_nodes(final["status"])
            fans = [n for n in nodes.values() if n.display_name.startswith("fan(")]
            assert len(fans) == FAN and all(n.task_result_synced is not False for n in fans)
            assert sorted(n.outputs.parameters[0].value for n in fans) == sorted(f"{i}-seed!" for i in range(FAN))
            pods = await c.pods()
            assert len(pods) == FAN + 2 and len({p["metadata"]["name"] for p in pods}) == FAN + 2
            assert c.kubelet.completed == FAN + 2, "a pod ran twice"
            assert _collected(pods) == sorted(f"{i}-seed!" for i in range(FAN))

    asyncio.run(go())


def test_the_final_status_is_written_before_the_task_results_are_deleted() -> None:
    async def go() -> None:
        rec: list[RecordingApi] = []

        def wrap(api: EmbeddedApi) -> RecordingApi:
            rec.append(RecordingApi(api))
            return rec[0]

        async with Cluster(wrap) as c:
            await c.run(limit=30)
            await _settle()
            log = rec[0].log
            deletes = [i for i, w in enumerate(log) if w[:2] == ("delete", "workflowtaskresults")]
            final = [i for i, w in enumerate(log) if w == ("update", "workflows", "true")]
            assert len(deletes) == FAN + 2, log
            assert final and final[0] < deletes[0], f"task results deleted before the completed status: {log}"
            assert await c.task_results() == []

    asyncio.run(go())


def test_completion_does_not_wait_for_the_task_result_deletes() -> None:
    async def go() -> None:
        rec: list[RecordingApi] = []

        def wrap(api: EmbeddedApi) -> RecordingApi:
            rec.append(RecordingApi(api, hold_deletes=True))
            return rec[0]

        async with Cluster(wrap) as c:
            # every task-result DELETE hangs: the workflow is completed regardless
            await c.run(limit=30)
            final = await c.workflow()
            assert final["status"]["phase"] == "Succeeded"
            assert len(await c.task_results()) == FAN + 2  # none deleted yet
            rec[0].release.set()
            for _ in range(20):
                await _settle()
                c.clock.advance(0.05)
            assert await c.task_results() == []

    asyncio.run(go())


def test_a_crash_in_the_task_result_clean_up_loses_no_output() -> None:
    """The controller dies after its first task-result DELETE; a new one on the same store finishes
    at once with every output (the completed status was on record before the clean-up began) and
    deletes the task results left behind."""
    async def go() -> None:
        dying: list[DyingApi] = []

        def wrap(api: EmbeddedApi) -> DyingApi:
            dying.append(DyingApi(api))
            return dying[0]

        async with Cluster(wrap) as c:
            waited = 0.0
            while not dying[0].dead:
                assert waited < 30, "the controller never deleted a task result"
                await _settle()
                c.clock.advance(0.05)
                waited += 0.05
            await c.engine.stop()
            assert len(await c.task_results()) == FAN + 1  # it deleted one
            c.engine = Engine(c.store, clock=c.clock, workers=4)  # restarted, on the API without faults
            await c.engine.start()
            took = await c.run(limit=90)
            assert took < 5, f"the restarted controller waited {took} s (the outputs gate: task results gone)"
            final = await c.workflow()
            assert final["status"]["phase"] == "Succeeded"
            nodes = StatusWriter().read_nodes(final["status"])
            fans = [n for n in nodes.values() if n.display_name.startswith("fan(")]
            assert sorted(n.outputs.parameters[0].value for n in fans if n.outputs and n.outputs.parameters) == \
                sorted(f"{i}-seed!" for i in range(FAN))
            # the task results the dead controller did not delete are deleted by the new one
            for _ in range(20):
                await _settle()
                c.clock.advance(0.05)
            assert await c.task_results() == []

    asyncio.run(go())
