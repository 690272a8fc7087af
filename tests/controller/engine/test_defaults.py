"""ConfigMap `workflowDefaults` on the embedded API: merged under workflows that lack a field,
losing to their own, hot for workflows adopted after a change (reference §1.2)."""
from __future__ import annotations

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base

DEFAULTS = {"metadata": {"labels": {"team": "platform"}, "annotations": {"owner": "ops"}},
            "spec": {"activeDeadlineSeconds": 300, "podGC": {"strategy": "OnPodCompletion"},
                     "ttlStrategy": {"secondsAfterCompletion": 20}}}


def workflow(name: str, **spec) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name, **spec.pop("meta", {})},
            "spec": {"entrypoint": "main", **spec, "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["echo", "hi"]}}]}}


async def test_defaults_apply_to_a_workflow_that_lacks_them():
    async with FakeCluster(hold=lambda pod: True) as c:
        c.engine.reconciler.workflow_defaults = DEFAULTS
        await c.submit(workflow("d"))
        await c.until(c.has_pod)
        pod = (await c.objects(base.PODS))[0]
        # the workflow deadline (activeDeadlineSeconds 300) caps the pod's
        assert 295 <= pod["spec"]["activeDeadlineSeconds"] <= 300
        assert pod["metadata"]["annotations"]["workflows.argoproj.io/pod-gc-strategy"].startswith("OnPodCompletion")
        await c.settle()
        wf = await c.workflow("d")
        assert wf["metadata"]["labels"]["team"] == "platform"
        assert wf["metadata"]["annotations"]["owner"] == "ops"
        assert wf["metadata"]["labels"]["workflows.argoproj.io/phase"] == "Running"
        # written into the object's spec, as Argo's setWorkflowDefaults does
        assert wf["spec"]["activeDeadlineSeconds"] == 300 and wf["spec"]["podGC"] == {"strategy": "OnPodCompletion"}


async def test_defaults_podgc_and_ttl_clean_up_after_completion():
    async with FakeCluster() as c:
        c.engine.reconciler.workflow_defaults = DEFAULTS
        await c.submit(workflow("d"))
        await c.until(lambda: c.completed("d"))
        assert (await c.workflow("d"))["metadata"]["labels"]["team"] == "platform"
        await c.advance(7)  # podGCDeleteDelayDuration 5 s
        assert await c.names(base.PODS) == set()  # podGC from the defaults
        assert await c.workflow("d") is not None
        await c.advance(15)
        assert await c.workflow("d") is None  # ttlStrategy from the defaults


async def test_the_workflows_own_fields_and_labels_win():
    async with FakeCluster() as c:
        c.engine.reconciler.workflow_defaults = DEFAULTS
        await c.submit(workflow("own", ttlStrategy={"secondsAfterCompletion": 60}, podGC={"strategy": "OnWorkflowSuccess"},
                                meta={"labels": {"team": "mine"}}))
        await c.until(lambda: c.completed("own"))
        await c.advance(25)
        wf = await c.workflow("own")
        assert wf is not None  # its own 60 s, not the defaults' 20 s
        assert wf["metadata"]["labels"]["team"] == "mine"
        assert wf["metadata"]["annotations"]["owner"] == "ops"
        assert await c.names(base.PODS) == set()  # its own podGC strategy: deleted on success


async def test_a_configmap_change_reaches_workflows_adopted_afterwards_not_running_ones():
    held = {"first"}
    async with FakeCluster(hold=lambda pod: pod["metadata"]["labels"]["workflows.argoproj.io/workflow"] in held) as c:
        c.engine.reconciler.workflow_defaults = {"metadata": {"labels": {"team": "a"}},
                                                 "spec": {"activeDeadlineSeconds": 100}}
        await c.submit(workflow("first"))

        async def first_pod() -> bool:
            return bool(await c.names(base.PODS))
        await c.until(first_pod)
        c.engine.reconciler.workflow_defaults = {"metadata": {"labels": {"team": "b"}},
                                                 "spec": {"activeDeadlineSeconds": 1000}}
        await c.submit(workflow("second"))
        await c.until(lambda: c.completed("second"))
        assert (await c.workflow("second"))["metadata"]["labels"]["team"] == "b"
        held.clear()
        await c.advance(2)
        wf = await c.workflow("first")
        assert wf["metadata"]["labels"]["team"] == "a"
        # its deadline is still the first default's: held past 100 s it would have failed; it ran at 2 s
        pods = {p["metadata"]["labels"]["workflows.argoproj.io/workflow"]: p for p in await c.objects(base.PODS)}
        assert pods["first"]["spec"]["activeDeadlineSeconds"] <= 100
        assert pods["second"]["spec"]["activeDeadlineSeconds"] > 100


async def test_defaults_under_a_workflow_template_are_stored_with_it():
    async with FakeCluster() as c:
        c.engine.reconciler.workflow_defaults = {"spec": {"ttlStrategy": {"secondsAfterCompletion": 3},
                                                          "activeDeadlineSeconds": 500}}
        await c.api.create(base.WORKFLOW_TEMPLATES, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "tpl"},
            "spec": {"entrypoint": "main", "activeDeadlineSeconds": 50, "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["true"]}}]}}, namespace=NS)
        await c.settle()
        await c.submit({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "ref"},
                        "spec": {"workflowTemplateRef": {"name": "tpl"}}})
        await c.until(lambda: c.completed("ref"))
        stored = (await c.workflow("ref"))["status"]["storedWorkflowTemplateSpec"]
        # the workflow over the template over the defaults
        assert stored["activeDeadlineSeconds"] == 50
        assert stored["ttlStrategy"] == {"secondsAfterCompletion": 3}
        await c.advance(4)
        assert await c.workflow("ref") is None


async def test_a_default_that_cannot_merge_fails_the_workflow_naming_the_place():
    async with FakeCluster() as c:
        c.engine.reconciler.workflow_defaults = {"spec": {"templates": [{"container": {"image": "x"}}]}}
        await c.submit(workflow("bad"))
        await c.until(lambda: c.completed("bad"))
        status = (await c.workflow("bad"))["status"]
        assert status["phase"] == "Failed"
        assert "workflowDefaults" in status["message"] and "templates[0]" in status["message"]
