"""LocalSession: objects preloaded before the engine starts, and the quick-start `artifact-repositories`."""
from __future__ import annotations

from pathlib import Path

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.local import ARTIFACT_REPOSITORY_KEYS, LocalSession, local_artifact_repositories

# artifact-repository-ref.yaml's shape: a ref to `my-key`, one output artifact without a location
REF_WF = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "ref-"},
          "spec": {"entrypoint": "main", "artifactRepositoryRef": {"key": "my-key"}, "templates": [
              {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c"],
                                             "args": ["echo hello world | tee /tmp/hello_world.txt"]},
               "outputs": {"artifacts": [{"name": "hello_world", "path": "/tmp/hello_world.txt"}]}}]}}


def _cm(name: str, data: dict, namespace: str = "default", **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, **meta},
            "data": data}


def test_quick_start_configmap_shape():
    """Argo's quick-start keys, `default-v1` the annotated default, each a key-only s3 location."""
    cm = local_artifact_repositories("ns1")
    assert cm["metadata"]["name"] == "artifact-repositories" and cm["metadata"]["namespace"] == "ns1"
    assert cm["metadata"]["annotations"] == {"workflows.argoproj.io/default-artifact-repository": "default-v1"}
    assert sorted(cm["data"]) == sorted(ARTIFACT_REPOSITORY_KEYS) == ["default-v1", "my-key"]
    assert set(cm["data"].values()) == {"s3: {}\n"}


async def test_artifact_repository_ref_runs_into_the_local_directory():
    """With artifact_repositories=True the ref resolves, and the node agent stores the artifact locally."""
    async with LocalSession(kubelet="agent", artifact_repositories=True) as session:
        final = await session.run(REF_WF, timeout=60)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        assert final["status"]["artifactRepositoryRef"] == {
            "configMap": "artifact-repositories", "key": "my-key", "namespace": "default",
            "artifactRepository": {"s3": {}}}
        (node,) = [n for n in final["status"]["nodes"].values() if n["type"] == "Pod"]
        (art,) = node["outputs"]["artifacts"]
        key = art["s3"]["key"]
        assert key.startswith(f"{final['metadata']['name']}/") and key.endswith("/hello_world.tgz")
        assert Path(session.root_dir, "artifacts", key).is_file()  # TIPHYS_ARTIFACT_DIR under the node's root


async def test_without_the_configmap_the_ref_is_argos_error():
    """No artifact_repositories: the ref is found nowhere, the workflow Errors with Argo's message."""
    async with LocalSession() as session:
        final = await session.run(REF_WF, timeout=60)
    assert final["status"]["phase"] == "Error"
    assert final["status"]["message"] == ('failed to resolve artifact repository: failed to find any artifact '
                                          'repository for artifact repository ref "#my-key"')


async def test_callers_own_artifact_repositories_wins():
    """A preloaded `artifact-repositories` (tiphys run -f) is kept: the default is not forced over it."""
    own = _cm("artifact-repositories", {"my-key": "s3:\n  keyFormat: custom/{{workflow.name}}\n"})
    async with LocalSession(preload=[(base.CONFIG_MAPS, own)], artifact_repositories=True) as session:
        final = await session.run(REF_WF, timeout=60)
        cm = await session.api.get(base.CONFIG_MAPS, "artifact-repositories", namespace="default")
    assert cm["data"] == own["data"]
    assert final["status"]["artifactRepositoryRef"]["artifactRepository"] == {
        "s3": {"keyFormat": "custom/{{workflow.name}}"}}


async def test_preload_replaces_an_existing_object_and_keeps_an_existing_default():
    """Over a persisted API, a preloaded object of the same name replaces the old one; the default
    ConfigMap, already there, is left as it is."""
    api = EmbeddedApi(clock=RealClock())
    await api.create(base.CONFIG_MAPS, _cm("params", {"a": "old"}), namespace="default")
    await api.create(base.CONFIG_MAPS, _cm("artifact-repositories", {"default-v1": "s3: {bucket: kept}\n"}),
                     namespace="default")
    async with LocalSession(api=api, preload=[(base.CONFIG_MAPS, _cm("params", {"a": "new"}))],
                            artifact_repositories=True) as session:
        params = await session.api.get(base.CONFIG_MAPS, "params", namespace="default")
        repos = await session.api.get(base.CONFIG_MAPS, "artifact-repositories", namespace="default")
    assert params["data"] == {"a": "new"}
    assert repos["data"] == {"default-v1": "s3: {bucket: kept}\n"}
