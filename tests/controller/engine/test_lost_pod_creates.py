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
nodes waited for task results that no longer existed. They go with one DeleteCollection by the
workflow label, as Argo's deleteTaskResults: one request, however many pods the workflow ran.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.cluster._faults import fan_behaviour, fan_workflow
from tests.controller.passthrough_api import PassThroughApi
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
COMPLETED = "workflows.argoproj.io/completed"


async def _settle(turns: int = 100) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


class LosingApi(PassThroughApi):
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


class RecordingApi(PassThroughApi):
    """Records the controller's writes in order; task-result deletes (single or collection) wait
    for `release`."""

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

    async def delete_collection(self, resource, /, **kw):
        if resource is base.WORKFLOW_TASK_RESULTS:
            await self.release.wait()
        out = await self.inner.delete_collection(resource, **kw)
        self.log.append(("delete_collection", resource.plural, kw.get("label_selector")))
        return out


class _DeletionsHeld(base.WatchStream):
    """A watch whose DELETED events wait for `gate`: an informer lagging behind the API."""

    def __init__(self, inner: base.WatchStream, gate: asyncio.Event, /) -> None:
        self.inner, self.gate = inner, gate

    async def __anext__(self) -> base.WatchEvent:
        event = await self.inner.__anext__()
        if event.type is base.EventType.DELETED:
            await self.gate.wait()
        return event

    async def aclose(self) -> None:
        await self.inner.aclose()


class LaggingApi(RecordingApi):
    """Records writes; the controller's task-result informer sees deletions only once `caught_up`."""

    def __init__(self, inner: base.Api, /) -> None:
        super().__init__(inner)
        self.caught_up = asyncio.Event()

    def watch(self, resource, /, **kw):
        stream = self.inner.watch(resource, **kw)
        return _DeletionsHeld(stream, self.caught_up) if resource is base.WORKFLOW_TASK_RESULTS else stream


class Killed(Exception):
    """The controller process died."""


class DyingApi(PassThroughApi):
    """Dies right after the controller wrote the workflow's completed status (before its task-result
    clean-up): every later call raises."""

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
        out = await self.inner.update(resource, body, **kw)
        if resource is base.WORKFLOWS and (out["metadata"].get("labels") or {}).get(COMPLETED) == "true":
            self.dead = True
            raise Killed("killed after writing the completed status")
        return out

    async def patch(self, resource, name, patch, /, **kw):
        self._check()
        return await self.inner.patch(resource, name, patch, **kw)

    async def delete(self, resource, name, /, **kw):
        self._check()
        return await self.inner.delete(resource, name, **kw)

    async def delete_collection(self, resource, /, **kw):
        self._check()
        return await self.inner.delete_collection(resource, **kw)


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
            for _ in range(20):  # the completed workflow's later reconciles, once its writes are seen
                await _settle()
                c.clock.advance(0.05)
            log = rec[0].log
            assert not [w for w in log if w[:2] == ("delete", "workflowtaskresults")], "one DELETE per task result"
            collections = [i for i, w in enumerate(log) if w[0] == "delete_collection"]
            final = [i for i, w in enumerate(log) if w == ("update", "workflows", "true")]
            # one request for all FAN + 2, and not again when the completed workflow is reconciled
            # before the informer has delivered their deletions
            assert [log[i] for i in collections] == [
                ("delete_collection", "workflowtaskresults", "workflows.argoproj.io/workflow=fan")], log
            assert final and final[0] < collections[0], f"task results deleted before the completed status: {log}"
            assert await c.task_results() == []

    asyncio.run(go())


def test_completion_does_not_wait_for_the_task_result_deletes() -> None:
    async def go() -> None:
        rec: list[RecordingApi] = []

        def wrap(api: EmbeddedApi) -> RecordingApi:
            rec.append(RecordingApi(api, hold_deletes=True))
            return rec[0]

        async with Cluster(wrap) as c:
            # the task-result clean-up hangs: the workflow is completed regardless
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


def test_a_lagging_informer_does_not_delete_the_task_results_twice() -> None:
    """The completed workflow is reconciled again while the informer still holds the task results the
    collection delete removed: no second request for them; once it catches up, none either."""
    async def go() -> None:
        rec: list[LaggingApi] = []

        def wrap(api: EmbeddedApi) -> LaggingApi:
            rec.append(LaggingApi(api))
            return rec[0]

        async with Cluster(wrap) as c:
            await c.run(limit=30)
            for _ in range(20):
                await _settle()
                c.clock.advance(0.05)
            assert await c.task_results() == []
            index = c.engine.reconciler.task_results.store.by_index("workflow", f"{NS}/fan")
            assert len(index) == FAN + 2, "the informer was not behind"
            c.engine.queue.add(f"{NS}/fan")  # reconciled again (any event of the workflow would do)
            for _ in range(20):
                await _settle()
                c.clock.advance(0.05)
            rec[0].caught_up.set()
            for _ in range(20):
                await _settle()
                c.clock.advance(0.05)
            assert c.engine.reconciler.task_results.store.by_index("workflow", f"{NS}/fan") == []
            c.engine.queue.add(f"{NS}/fan")
            for _ in range(20):
                await _settle()
                c.clock.advance(0.05)
            assert [w for w in rec[0].log if w[0] == "delete_collection"] == [
                ("delete_collection", "workflowtaskresults", "workflows.argoproj.io/workflow=fan")], rec[0].log

    asyncio.run(go())


def test_a_crash_before_the_task_result_clean_up_loses_no_output() -> None:
    """The controller dies right after writing the completed status, before its task-result clean-up;
    a new one on the same store has nothing to run (the outcome, every output included, was on
    record) and deletes the task results left behind with one collection delete."""
    async def go() -> None:
        dying: list[DyingApi] = []

        def wrap(api: EmbeddedApi) -> DyingApi:
            dying.append(DyingApi(api))
            return dying[0]

        async with Cluster(wrap) as c:
            waited = 0.0
            while not dying[0].dead:
                assert waited < 30, "the controller never completed the workflow"
                await _settle()
                c.clock.advance(0.05)
                waited += 0.05
            await c.engine.stop()
            assert len(await c.task_results()) == FAN + 2  # none deleted
            restarted = RecordingApi(c.store)
            c.engine = Engine(restarted, clock=c.clock, workers=4)  # restarted, on an API without faults
            await c.engine.start()
            took = await c.run(limit=90)
            assert took == 0, "the completed status was not on record"
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
            assert restarted.log == [("delete_collection", "workflowtaskresults", "workflows.argoproj.io/workflow=fan")]

    asyncio.run(go())
