"""spec.podDisruptionBudget on the embedded API: the PDB exists while the workflow runs (made
before its first pod), is gone at completion, and a restart or a failed delete does not leave it."""
from __future__ import annotations

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.api.errors import Forbidden, InternalError
from tiphys.controller.clock import FakeClock

LABEL = "workflows.argoproj.io/workflow"


def workflow(name: str = "pdb", budget: dict | None = None) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"entrypoint": "main", "podDisruptionBudget": budget or {"minAvailable": 9999},
                     "templates": [{"name": "main", "steps": [[{"name": "a", "template": "leaf"}],
                                                              [{"name": "b", "template": "leaf"}]]},
                                   {"name": "leaf", "container": {"image": "busybox", "command": ["true"]}}]}}


class FlakyPDBApi(EmbeddedApi):
    """PDB requests of one `verb` fail with `error` the first `n` times."""

    def __init__(self, n: int, /, *, verb: str, error: Exception, **kw) -> None:
        super().__init__(**kw)
        self.n, self.verb, self.error = n, verb, error
        self.calls: list[str] = []

    def _maybe_fail(self, verb: str, resource: base.Resource) -> None:
        if resource == base.POD_DISRUPTION_BUDGETS:
            self.calls.append(verb)
            if verb == self.verb and self.n > 0:
                self.n -= 1
                raise self.error

    async def create(self, resource, body, /, **kw):
        self._maybe_fail("create", resource)
        return await super().create(resource, body, **kw)

    async def delete(self, resource, name, /, **kw):
        self._maybe_fail("delete", resource)
        return await super().delete(resource, name, **kw)


async def _pdbs(c: FakeCluster) -> set[str]:
    return await c.names(base.POD_DISRUPTION_BUDGETS)


async def test_pdb_exists_while_running_with_argos_shape_and_is_gone_at_completion():
    held = {"on": True}
    async with FakeCluster(hold=lambda pod: held["on"]) as c:
        wf = await c.submit(workflow())
        await c.until(c.has_pod)
        [pdb] = await c.objects(base.POD_DISRUPTION_BUDGETS)
        [pod] = await c.objects(base.PODS)
        assert pdb["metadata"]["name"] == "pdb" and pdb["metadata"]["labels"] == {LABEL: "pdb"}
        assert pdb["metadata"]["ownerReferences"] == [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "pdb", "uid": wf["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]
        assert pdb["spec"] == {"minAvailable": 9999, "selector": {"matchLabels": {LABEL: "pdb"}}}
        assert int(pdb["metadata"]["resourceVersion"]) < int(pod["metadata"]["resourceVersion"])
        assert pod["metadata"]["labels"][LABEL] == "pdb"  # the selector picks the workflow's pods
        await c.advance(2)
        assert (await c.workflow("pdb"))["status"]["phase"] == "Running" and await _pdbs(c) == {"pdb"}
        await _release(c, held)
        await c.until(lambda: c.completed("pdb"))
        assert (await c.workflow("pdb"))["status"]["phase"] == "Succeeded"
        assert await _pdbs(c) == set()


async def test_restart_while_running_keeps_one_pdb_and_the_completion_deletes_it():
    held = {"on": True}
    clock = FakeClock()
    api = FlakyPDBApi(0, verb="", error=InternalError("unused"), clock=clock)
    async with FakeCluster(api=api, clock=clock, hold=lambda pod: held["on"]) as c:
        await c.submit(workflow())
        await c.until(c.has_pod)
        await c.advance(2)
        await c.stop_controller()
        assert await _pdbs(c) == {"pdb"}
        await c.start_controller()
        await _release(c, held)
        await c.until(lambda: c.completed("pdb"))
        assert await _pdbs(c) == set()
        assert api.calls.count("create") == 1  # a running workflow's PDB is not asked for again


async def test_a_failed_delete_at_completion_is_done_by_the_completed_path():
    """The delete before the final status fails (5xx); the completed workflow's clean-up deletes it."""
    clock = FakeClock()
    api = FlakyPDBApi(2, verb="delete", error=InternalError("etcdserver: leader changed"), clock=clock)
    async with FakeCluster(api=api, clock=clock) as c:
        await c.submit(workflow())
        await c.until(lambda: c.completed("pdb"))
        await c.until(lambda: _none(c))
        assert api.n == 0 and (await c.workflow("pdb"))["status"]["phase"] == "Succeeded"
        deletes = api.calls.count("delete")
        await c.advance(30)
        assert api.calls.count("delete") == deletes  # once seen gone, never asked again


async def test_a_restart_after_the_final_write_with_the_pdb_left_deletes_it():
    """The controller stopped after the completed status was written but before its PDB delete
    (simulated: the delete failed and the controller stopped); the next controller deletes it."""
    clock = FakeClock()
    api = FlakyPDBApi(1, verb="delete", error=InternalError("connection reset by peer"), clock=clock)
    async with FakeCluster(api=api, clock=clock) as c:
        await c.stop_controller()
        await c.submit(workflow())
        await c.start_controller()
        await c.until(lambda: c.completed("pdb"))
        await c.stop_controller()  # may already have deleted it on its retry; then put one back
        if not await _pdbs(c):
            wf = await c.workflow("pdb")
            await c.api.create(base.POD_DISRUPTION_BUDGETS, {
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "pdb", "namespace": NS, "labels": {LABEL: "pdb"},
                             "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                  "name": "pdb", "uid": wf["metadata"]["uid"], "controller": True}]},
                "spec": {"minAvailable": 1}}, namespace=NS)
        await c.start_controller()
        await c.until(lambda: _none(c))


async def test_a_refused_create_fails_the_workflow_with_argos_message_and_runs_nothing():
    clock = FakeClock()
    api = FlakyPDBApi(1, verb="create", error=Forbidden("poddisruptionbudgets.policy is forbidden"), clock=clock)
    async with FakeCluster(api=api, clock=clock) as c:
        await c.submit(workflow())
        await c.until(lambda: c.completed("pdb"))
        status = (await c.workflow("pdb"))["status"]
        assert status["phase"] == "Failed"
        assert status["message"] == ("Unable to create PDB resource for workflow, pdb error: "
                                     "poddisruptionbudgets.policy is forbidden")
        assert await c.names(base.PODS) == set() and await _pdbs(c) == set()


async def test_an_existing_pdb_of_the_name_is_taken_as_made():
    """Argo finds a PDB of the workflow's name and goes on (a create before a crash)."""
    async with FakeCluster() as c:
        await c.stop_controller()
        await c.api.create(base.POD_DISRUPTION_BUDGETS, {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "pdb", "namespace": NS}, "spec": {"minAvailable": 1}}, namespace=NS)
        await c.submit(workflow())
        await c.start_controller()
        await c.until(lambda: c.completed("pdb"))
        assert (await c.workflow("pdb"))["status"]["phase"] == "Succeeded"
        assert await _pdbs(c) == set()


async def _none(c: FakeCluster) -> bool:
    return not await _pdbs(c)


async def _release(c: FakeCluster, held: dict) -> None:
    """Let the held pods run: the kubelet looks at a pod again when it changes."""
    held["on"] = False
    for pod in await c.objects(base.PODS):
        await c.api.patch(base.PODS, pod["metadata"]["name"], {"metadata": {"annotations": {"released": "1"}}},
                          namespace=NS)
