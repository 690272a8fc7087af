"""podGC: which pods go, when, never before their node's outcome is written, and across a restart."""
from __future__ import annotations

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.clock import FakeClock
from tiphys.controller.simkubelet import SimOutcome
from tiphys.controller.status_writer import StatusWriter

NODE = "workflows.argoproj.io/node-name"


def fail_named_fail(pod: dict, template: dict) -> SimOutcome:
    return SimOutcome(exit_code=1) if pod["metadata"]["annotations"][NODE].endswith(".fail") else SimOutcome()


def parallel(pod_gc: dict, *, labels: bool = False) -> dict:
    """Argo's pod-gc-strategy example: one step fails, one succeeds (plus a labelled pair)."""
    def leaf(name: str, code: int, label: str | None = None) -> dict:
        t = {"name": name, "container": {"image": "alpine", "command": ["sh", "-c", f"exit {code}"]}}
        if label is not None:
            t["metadata"] = {"labels": {"should-be-deleted": label}}
        return t
    steps = [{"name": "fail", "template": "fail"}, {"name": "succeed", "template": "succeed"}]
    templates = [leaf("fail", 1, "true" if labels else None), leaf("succeed", 0, "true" if labels else None)]
    if labels:
        steps.append({"name": "kept", "template": "kept"})
        templates.append(leaf("kept", 0, "false"))
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "gc"},
            "spec": {"entrypoint": "main", "podGC": pod_gc,
                     "templates": [{"name": "main", "steps": [steps]}, *templates]}}


def sequence(pod_gc: dict) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "gc"},
            "spec": {"entrypoint": "main", "podGC": pod_gc, "templates": [
                {"name": "main", "steps": [[{"name": "one", "template": "ok"}], [{"name": "two", "template": "ok"}]]},
                {"name": "ok", "container": {"image": "alpine", "command": ["true"]}}]}}


async def pods_by_node(c: FakeCluster) -> set[str]:
    return {p["metadata"]["annotations"][NODE] for p in await c.objects(base.PODS)}


async def test_on_pod_success_deletes_succeeded_pods_after_the_delay_and_keeps_failed_ones():
    async with FakeCluster(behaviour=fail_named_fail) as c:
        await c.submit(parallel({"strategy": "OnPodSuccess", "deleteDelayDuration": "30s"}))
        await c.until(lambda: c.completed("gc"))
        start = c.clock.now()
        assert await pods_by_node(c) == {"gc[0].fail", "gc[0].succeed"}
        await c.advance(27)
        assert await pods_by_node(c) == {"gc[0].fail", "gc[0].succeed"}  # not before the delay
        await c.advance(start + 32 - c.clock.now())
        assert await pods_by_node(c) == {"gc[0].fail"}
        nodes = await c.nodes("gc")
        assert nodes["gc[0].succeed"].phase == "Succeeded" and nodes["gc[0].fail"].phase == "Failed"


async def test_on_pod_completion_deletes_while_the_workflow_runs_and_the_node_stays_succeeded():
    """The ConfigMap default delay (5 s) applies; the deleted pod's node is not `pod deleted`."""
    async with FakeCluster(hold=lambda pod: pod["metadata"]["annotations"][NODE].endswith(".two")) as c:
        await c.submit(sequence({"strategy": "OnPodCompletion"}))
        await c.until(lambda: _has(c, "gc[1].two"))
        assert await pods_by_node(c) == {"gc[0].one", "gc[1].two"}
        await c.advance(7)
        assert await pods_by_node(c) == {"gc[1].two"}
        wf = await c.workflow("gc")
        nodes = await c.nodes("gc")
        assert wf["status"]["phase"] == "Running"
        assert (nodes["gc[0].one"].phase, nodes["gc[0].one"].message) == ("Succeeded", None)
        assert nodes["gc[1].two"].phase == "Pending"


async def _has(c: FakeCluster, node: str) -> bool:
    return node in await pods_by_node(c)


async def test_on_workflow_completion_keeps_pods_until_the_end_then_deletes_all():
    async with FakeCluster(behaviour=fail_named_fail) as c:
        await c.submit(parallel({"strategy": "OnWorkflowCompletion", "deleteDelayDuration": "10s"}))
        await c.until(lambda: c.completed("gc"))
        assert await pods_by_node(c) == {"gc[0].fail", "gc[0].succeed"}
        await c.advance(12)
        assert await pods_by_node(c) == set()


async def test_on_workflow_success_keeps_the_pods_of_a_failed_workflow():
    async with FakeCluster(behaviour=fail_named_fail) as c:
        await c.submit(parallel({"strategy": "OnWorkflowSuccess", "deleteDelayDuration": "0s"}))
        await c.until(lambda: c.completed("gc"))
        await c.advance(30)
        assert (await c.workflow("gc"))["status"]["phase"] == "Failed"
        assert await pods_by_node(c) == {"gc[0].fail", "gc[0].succeed"}


async def test_label_selector_limits_deletion_to_matching_pods():
    """Argo's pod-gc-strategy-with-label-selector example: only `succeed` (labelled, succeeded) goes."""
    async with FakeCluster(behaviour=fail_named_fail) as c:
        await c.submit(parallel({"strategy": "OnPodSuccess", "deleteDelayDuration": "1s",
                                 "labelSelector": {"matchLabels": {"should-be-deleted": "true"}}}, labels=True))
        await c.until(lambda: c.completed("gc"))
        await c.advance(3)
        assert await pods_by_node(c) == {"gc[0].fail", "gc[0].kept"}


class WitnessApi(EmbeddedApi):
    """Records, for every pod deleted, the phase its node had in the stored workflow at that moment."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.at_delete: dict[str, str | None] = {}

    async def delete(self, resource, name, /, **kw):
        if resource == base.PODS:
            pod = await self.get(base.PODS, name, namespace=kw.get("namespace"))
            node_id = pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
            wf = await self.get(base.WORKFLOWS, pod["metadata"]["labels"]["workflows.argoproj.io/workflow"],
                                namespace=kw.get("namespace"))
            nodes = StatusWriter().read_nodes(wf.get("status") or {})
            self.at_delete[name] = nodes[node_id].phase if node_id in nodes else None
        return await super().delete(resource, name, **kw)


async def test_a_pod_is_deleted_only_after_its_nodes_outcome_is_written():
    """With no delay the delete still waits for the (coalesced) status write that records the node."""
    clock = FakeClock()
    api = WitnessApi(clock=clock)
    async with FakeCluster(api=api, clock=clock) as c:
        await c.submit(sequence({"strategy": "OnPodCompletion", "deleteDelayDuration": "0s"}))
        await c.until(lambda: c.completed("gc"))
        await c.advance(2)
        assert len(api.at_delete) == 2
        assert set(api.at_delete.values()) == {"Succeeded"}
        assert await c.names(base.PODS) == set()


async def test_a_restarted_controller_finishes_the_gc():
    """The controller dies after the workflow completed, before the delay passed; a new one,
    with nothing in memory, deletes the pods when they are due."""
    async with FakeCluster() as c:
        await c.submit(sequence({"strategy": "OnWorkflowCompletion", "deleteDelayDuration": "20s"}))
        await c.until(lambda: c.completed("gc"))
        await c.stop_controller()
        await c.advance(5)
        await c.start_controller()
        await c.advance(5)
        assert await pods_by_node(c) == {"gc[0].one", "gc[1].two"}
        await c.advance(12)
        assert await pods_by_node(c) == set()


async def test_a_restart_after_a_pod_was_collected_does_not_lose_its_node():
    """OnPodCompletion removed step one's pod; a new controller rebuilds from status and finishes
    the workflow Succeeded (a missing pod of a fulfilled node is not `pod deleted`)."""
    release = {"two": False}

    def hold(pod: dict) -> bool:
        return pod["metadata"]["annotations"][NODE].endswith(".two") and not release["two"]

    async with FakeCluster(hold=hold) as c:
        await c.submit(sequence({"strategy": "OnPodCompletion", "deleteDelayDuration": "0s"}))
        await c.until(lambda: _has(c, "gc[1].two"))
        await c.advance(3)
        assert await pods_by_node(c) == {"gc[1].two"}
        await c.stop_controller()
        await c.start_controller()
        await c.advance(3)
        release["two"] = True
        [pod] = await c.objects(base.PODS)
        await c.api.patch(base.PODS, pod["metadata"]["name"], {"metadata": {"annotations": {"poke": "1"}}},
                          namespace=NS)
        await c.until(lambda: c.completed("gc"))
        nodes = await c.nodes("gc")
        assert (await c.workflow("gc"))["status"]["phase"] == "Succeeded"
        assert nodes["gc[0].one"].phase == "Succeeded" and nodes["gc[1].two"].phase == "Succeeded"
