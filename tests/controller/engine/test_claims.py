"""volumeClaimTemplates: PVCs made before the first pod, recorded in status, released per volumeClaimGC."""
from __future__ import annotations

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.api.errors import InternalError
from tiphys.controller.clock import FakeClock
from tiphys.controller.simkubelet import SimOutcome

PVC_NAME = "vols-workdir"


def workflow(name: str = "vols", gc: str | None = None, fail: bool = False) -> dict:
    spec = {
        "entrypoint": "main",
        "volumeClaimTemplates": [{"metadata": {"name": "workdir", "labels": {"team": "a"}},
                                  "spec": {"accessModes": ["ReadWriteOnce"],
                                           "resources": {"requests": {"storage": "1Gi"}}}}],
        "templates": [
            {"name": "main", "steps": [[{"name": "generate", "template": "write"}],
                                       [{"name": "print", "template": "read"}]]},
            {"name": "write", "container": {"image": "busybox", "command": ["sh", "-c", "exit 1" if fail else "true"],
                                            "volumeMounts": [{"name": "workdir", "mountPath": "/mnt/vol"}]}},
            {"name": "read", "container": {"image": "busybox", "command": ["cat", "/mnt/vol/x"],
                                           "volumeMounts": [{"name": "workdir", "mountPath": "/mnt/vol"}]}},
        ]}
    if gc:
        spec["volumeClaimGC"] = {"strategy": gc}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name}, "spec": spec}


def fails(pod: dict, template: dict) -> SimOutcome:
    return SimOutcome(exit_code=1)


async def test_pvc_made_before_the_first_pod_with_argo_name_labels_owner_and_status():
    """The PVC `<wf>-<claim>` exists (owned by the workflow, labelled) before any pod, and the
    status lists it as Argo does while the workflow runs."""
    async with FakeCluster(hold=lambda pod: True) as c:
        wf = await c.submit(workflow())
        await c.until(c.has_pod)
        pvcs = await c.objects(base.PERSISTENT_VOLUME_CLAIMS)
        pods = await c.objects(base.PODS)
        assert [p["metadata"]["name"] for p in pvcs] == [PVC_NAME]
        pvc = pvcs[0]
        assert pvc["metadata"]["labels"] == {"team": "a", "workflows.argoproj.io/workflow": "vols"}
        assert pvc["metadata"]["ownerReferences"] == [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "vols", "uid": wf["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]
        assert pvc["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
        assert all(int(pvc["metadata"]["resourceVersion"]) < int(p["metadata"]["resourceVersion"]) for p in pods)
        vols = pods[0]["spec"]["volumes"]
        assert {"name": "workdir", "persistentVolumeClaim": {"claimName": PVC_NAME}} in vols
        await c.advance(2)
        status = (await c.workflow("vols"))["status"]
        assert status["phase"] == "Running"
        assert status["persistentVolumeClaims"] == [
            {"name": "workdir", "persistentVolumeClaim": {"claimName": PVC_NAME}}]


async def test_succeeded_workflow_deletes_its_pvc_and_empties_the_list():
    """Default volumeClaimGC (OnWorkflowSuccess): a Succeeded workflow's PVC is deleted at completion."""
    async with FakeCluster() as c:
        await c.submit(workflow())
        await c.until(lambda: c.completed("vols"))
        final = await c.workflow("vols")
        assert final["status"]["phase"] == "Succeeded"
        assert "persistentVolumeClaims" not in final["status"]
        assert await c.names(base.PERSISTENT_VOLUME_CLAIMS) == set()


async def test_failed_workflow_keeps_its_pvc_under_the_default_strategy():
    """OnWorkflowSuccess keeps a failed workflow's volume (for a retry) and keeps it listed."""
    async with FakeCluster(behaviour=fails) as c:
        await c.submit(workflow())
        await c.until(lambda: c.completed("vols"))
        final = await c.workflow("vols")
        assert final["status"]["phase"] == "Failed"
        assert final["status"]["persistentVolumeClaims"] == [
            {"name": "workdir", "persistentVolumeClaim": {"claimName": PVC_NAME}}]
        assert await c.names(base.PERSISTENT_VOLUME_CLAIMS) == {PVC_NAME}


async def test_on_workflow_completion_deletes_the_pvc_of_a_failed_workflow():
    async with FakeCluster(behaviour=fails) as c:
        await c.submit(workflow(gc="OnWorkflowCompletion"))
        await c.until(lambda: c.completed("vols"))
        final = await c.workflow("vols")
        assert final["status"]["phase"] == "Failed"
        assert "persistentVolumeClaims" not in final["status"]
        assert await c.names(base.PERSISTENT_VOLUME_CLAIMS) == set()


async def test_someone_elses_pvc_of_the_same_name_errors_the_workflow_and_starts_nothing():
    """Argo reuses an existing PVC only if the workflow owns it."""
    async with FakeCluster() as c:
        await c.api.create(base.PERSISTENT_VOLUME_CLAIMS, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": PVC_NAME, "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"]}}, namespace=NS)
        await c.submit(workflow())
        await c.until(lambda: c.completed("vols"))
        final = await c.workflow("vols")
        assert final["status"]["phase"] == "Error"
        assert final["status"]["message"] == \
            f"pvc create error: {PVC_NAME} pvc already exists with different ownerreference"
        assert await c.names(base.PODS) == set()


async def test_our_own_pvc_from_before_a_restart_is_reused():
    """A PVC the workflow already owns (made before a crash, status not written) is adopted."""
    async with FakeCluster() as c:
        await c.stop_controller()
        wf = await c.submit(workflow())
        await c.api.create(base.PERSISTENT_VOLUME_CLAIMS, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": PVC_NAME, "namespace": NS, "ownerReferences": [{
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "vols",
                "uid": wf["metadata"]["uid"], "controller": True}]},
            "spec": {"accessModes": ["ReadWriteOnce"]}}, namespace=NS)
        await c.start_controller()
        await c.until(lambda: c.completed("vols"))
        assert (await c.workflow("vols"))["status"]["phase"] == "Succeeded"


class FlakyPVCApi(EmbeddedApi):
    """PVC writes of one `verb` (create or delete) fail with a 500 saying `message` the first `n` times."""

    def __init__(self, n: int, /, *, verb: str, message: str, **kw) -> None:
        super().__init__(**kw)
        self.n, self.verb, self.message = n, verb, message

    def _maybe_fail(self, verb: str, resource: base.Resource) -> None:
        if verb == self.verb and resource == base.PERSISTENT_VOLUME_CLAIMS and self.n > 0:
            self.n -= 1
            raise InternalError(self.message)

    async def create(self, resource, body, /, **kw):
        self._maybe_fail("create", resource)
        return await super().create(resource, body, **kw)

    async def delete(self, resource, name, /, **kw):
        self._maybe_fail("delete", resource)
        return await super().delete(resource, name, **kw)


async def test_a_failing_pvc_create_leaves_the_workflow_pending_then_it_runs():
    """A create that fails (5xx) keeps the workflow Pending with Argo's message and no pod; it is
    tried again with backoff, and the workflow then runs."""
    clock = FakeClock()
    api = FlakyPVCApi(3, verb="create", message="etcdserver: request timed out", clock=clock)
    seen: list[tuple[str, str]] = []
    async with FakeCluster(api=api, clock=clock) as c:
        await c.submit(workflow())

        async def pending_seen() -> bool:
            wf = await c.workflow("vols")
            status = wf.get("status") or {}
            seen.append((status.get("phase", ""), status.get("message", "")))
            return status.get("phase") == "Pending"

        await c.until(pending_seen, step=0.01)
        assert seen[-1] == ("Pending", "Waiting for a PVC to be created. etcdserver: request timed out")
        assert await c.names(base.PODS) == set()
        await c.until(lambda: c.completed("vols"))
        final = await c.workflow("vols")
        assert final["status"]["phase"] == "Succeeded"
        assert final["status"].get("message", "") == ""
        assert api.n == 0


async def test_a_failed_pvc_delete_stays_listed_and_is_tried_again():
    """Argo keeps a PVC whose delete failed in status.persistentVolumeClaims; tiphys also tries
    again after completion until it is gone."""
    clock = FakeClock()
    api = FlakyPVCApi(2, verb="delete", message="etcdserver: leader changed", clock=clock)
    async with FakeCluster(api=api, clock=clock) as c:
        await c.submit(workflow())
        await c.until(lambda: c.completed("vols"))
        final = await c.workflow("vols")
        assert final["status"]["phase"] == "Succeeded"
        assert final["status"]["persistentVolumeClaims"] == [
            {"name": "workdir", "persistentVolumeClaim": {"claimName": PVC_NAME}}]
        await c.until(lambda: _no_pvcs(c))
        assert api.n == 0


async def _no_pvcs(c: FakeCluster) -> bool:
    return not await c.names(base.PERSISTENT_VOLUME_CLAIMS)
