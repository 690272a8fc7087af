"""The artifact repository on the embedded API: resolved once into status.artifactRepositoryRef,
handed to pods as the template's archiveLocation; a missing ref is a workflow Error naming it."""
from __future__ import annotations

import json

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.core.plan.artifact_repo import DEFAULT_REPOSITORY_ANNOTATION

REPO = "s3:\n  bucket: my-bucket\n  endpoint: minio:9000\n  insecure: true\n  keyFormat: 'runs/{{workflow.name}}/{{pod.name}}'\n"


def workflow(name: str, **spec) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"entrypoint": "main", **spec, "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c", "echo hi > /tmp/o"]},
                 "outputs": {"artifacts": [{"name": "out", "path": "/tmp/o"}]}}]}}


async def configmap(c: FakeCluster, name: str, data: dict, annotations: dict | None = None) -> None:
    await c.api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": name, "namespace": NS, **({"annotations": annotations} if annotations else {})}, "data": data},
        namespace=NS)
    await c.settle()


def argo_template(pod: dict) -> dict:
    for ctr in pod["spec"]["containers"]:
        for env in ctr.get("env") or ():
            if env["name"] == "ARGO_TEMPLATE":
                return json.loads(env["value"])
    raise AssertionError("no ARGO_TEMPLATE")


async def test_a_ref_reaches_status_and_the_pods_archive_location():
    async with FakeCluster() as c:
        await configmap(c, "my-repos", {"s3-main": REPO, "other": "s3:\n  bucket: x\n"})
        await c.submit(workflow("art", artifactRepositoryRef={"configMap": "my-repos", "key": "s3-main"}))
        await c.until(lambda: c.completed("art"))
        wf = await c.workflow("art")
        assert wf["status"]["phase"] == "Succeeded"
        assert wf["status"]["artifactRepositoryRef"] == {
            "configMap": "my-repos", "key": "s3-main", "namespace": NS,
            "artifactRepository": {"s3": {"bucket": "my-bucket", "endpoint": "minio:9000", "insecure": True,
                                          "keyFormat": "runs/{{workflow.name}}/{{pod.name}}"}}}
        pod = (await c.objects(base.PODS))[0]
        # the key format is rendered with the workflow's and the pod's names
        assert argo_template(pod)["archiveLocation"] == {
            "s3": {"bucket": "my-bucket", "endpoint": "minio:9000", "insecure": True,
                   "key": f"runs/art/{pod['metadata']['name']}"}, "archiveLogs": False}


async def test_the_namespace_default_configmap_serves_workflows_without_a_ref():
    async with FakeCluster(hold=lambda pod: True) as c:
        await configmap(c, "artifact-repositories", {"mine": REPO}, {DEFAULT_REPOSITORY_ANNOTATION: "mine"})
        c.engine.reconciler.artifact_repository = {"s3": {"bucket": "controller-default"}}
        await c.submit(workflow("ns-default"))
        await c.until(c.has_pod)
        await c.settle()
        ref = (await c.workflow("ns-default"))["status"]["artifactRepositoryRef"]
        assert (ref["configMap"], ref["key"], ref["namespace"]) == ("artifact-repositories", "mine", NS)
        assert argo_template((await c.objects(base.PODS))[0])["archiveLocation"]["s3"]["bucket"] == "my-bucket"


async def test_the_controller_configmap_repository_is_the_last_resort():
    async with FakeCluster(hold=lambda pod: True) as c:
        c.engine.reconciler.artifact_repository = {"s3": {"bucket": "controller-default", "endpoint": "minio:9000"}}
        await c.submit(workflow("ctl"))
        await c.until(c.has_pod)
        await c.settle()
        ref = (await c.workflow("ctl"))["status"]["artifactRepositoryRef"]
        assert ref == {"default": True, "artifactRepository": {"s3": {"bucket": "controller-default",
                                                                      "endpoint": "minio:9000"}}}
        pod = (await c.objects(base.PODS))[0]
        assert argo_template(pod)["archiveLocation"]["s3"] == {
            "bucket": "controller-default", "endpoint": "minio:9000",
            "key": f"ctl/{pod['metadata']['name']}"}  # Argo's default {{workflow.name}}/{{pod.name}}


async def test_nothing_configured_records_the_empty_default_and_the_embedded_run_still_works():
    async with FakeCluster() as c:
        await c.submit(workflow("plain"))
        await c.until(lambda: c.completed("plain"))
        wf = await c.workflow("plain")
        assert wf["status"]["phase"] == "Succeeded"
        assert wf["status"]["artifactRepositoryRef"] == {"default": True, "artifactRepository": {}}


async def test_a_missing_ref_is_a_workflow_error_naming_it():
    async with FakeCluster() as c:
        await configmap(c, "my-repos", {"other": REPO})
        await c.submit(workflow("missing-key", artifactRepositoryRef={"configMap": "my-repos", "key": "s3-main"}))
        await c.submit(workflow("missing-cm", artifactRepositoryRef={"configMap": "nope"}))
        await c.until(lambda: c.completed("missing-key"))
        await c.until(lambda: c.completed("missing-cm"))
        for name, ref in (("missing-key", "my-repos#s3-main"), ("missing-cm", "nope#")):
            status = (await c.workflow(name))["status"]
            assert status["phase"] == "Error"
            assert status["message"] == ("failed to resolve artifact repository: failed to find any artifact "
                                         f'repository for artifact repository ref "{ref}"')
            assert "artifactRepositoryRef" not in status
        assert await c.names(base.PODS) == set()


async def test_the_repository_is_resolved_once_a_changed_configmap_does_not_move_a_running_workflow():
    held = {"pin"}
    async with FakeCluster(hold=lambda pod: pod["metadata"]["labels"]["workflows.argoproj.io/workflow"] in held) as c:
        await configmap(c, "my-repos", {"k": REPO})
        ref = {"configMap": "my-repos", "key": "k"}
        await c.submit(workflow("pin", artifactRepositoryRef=ref))
        await c.until(c.has_pod)
        cm = await c.api.get(base.CONFIG_MAPS, "my-repos", namespace=NS)
        await c.api.update(base.CONFIG_MAPS, {**cm, "data": {"k": "s3:\n  bucket: moved\n"}}, namespace=NS)
        await c.stop_controller()  # a restarted controller reads the recorded repository
        await c.start_controller()
        held.clear()
        pod = (await c.objects(base.PODS))[0]  # an update lets the kubelet see it again and run it
        pod["metadata"].setdefault("annotations", {})["poke"] = "1"
        await c.api.update(base.PODS, pod, namespace=NS)
        await c.until(lambda: c.completed("pin"))
        status = (await c.workflow("pin"))["status"]
        assert status["phase"] == "Succeeded"
        assert status["artifactRepositoryRef"]["artifactRepository"]["s3"]["bucket"] == "my-bucket"
