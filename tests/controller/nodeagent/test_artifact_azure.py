"""End to end through an Azure artifact repository on a real Azurite: the controller resolves the
`artifactRepositoryRef` ConfigMap's `azure` repository into each pod's `archiveLocation`, the node
agent's `wait` stores the output with the key of the Secret volume, `init` of the next step loads
it, a data step lists the container, and the artifact GC pod deletes the blob at completion."""
from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest

from tests.executor.azurite_fixture import azurite  # noqa: F401 - the session fixture
from tiphys.controller.api import CONFIG_MAPS, SECRETS, WORKFLOWS
from tiphys.controller.local import wait_completed
from tiphys.executor.artifacts import AzureBlobClient

from .test_artifact_secrets import nodes_of, pod_logs

pytest.importorskip("tiphys.controller.engine", reason="the controller engine is not there yet")
from tiphys.controller.engine import Engine  # noqa: E402


def _workflow(name: str, repo: dict) -> dict:
    templates = [
        {"name": "main", "steps": [
            [{"name": "produce", "template": "produce"}],
            [{"name": "consume", "template": "consume",
              "arguments": {"artifacts": [{"name": "msg", "from": "{{steps.produce.outputs.artifacts.msg}}"}]}},
             {"name": "list", "template": "list"}]]},
        {"name": "produce", "container": {"image": "busybox:1.36", "command": ["sh", "-c"],
                                          "args": ["mkdir -p /tmp/out/sub && echo through azure > /tmp/out/msg && "
                                                   "echo deeper > /tmp/out/sub/more"]},
         "outputs": {"artifacts": [{"name": "msg", "path": "/tmp/out",
                                    "artifactGC": {"strategy": "OnWorkflowCompletion"}}]}},
        # a path of its own: the sandbox leaves mount points on the host, and /in/msg is a file there
        {"name": "consume", "inputs": {"artifacts": [{"name": "msg", "path": "/in/az-tree"}]},
         "container": {"image": "busybox:1.36", "command": ["sh", "-c"],
                       "args": ["cat /in/az-tree/msg /in/az-tree/sub/more"]}},
        # a complete location: Argo gives a data template no archiveLocation to complete a key-only one
        {"name": "list", "data": {"source": {"artifactPaths": {"name": "all", "azure": {
            **{k: v for k, v in repo["azure"].items() if k != "blobNameFormat"}, "blob": name}}},
                                  "transformation": [{"expression": "data"}]}},
    ]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name, "namespace": "default"},
            "spec": {"entrypoint": "main", "artifactRepositoryRef": {"configMap": "repos", "key": "azure"},
                     "templates": templates}}


async def test_an_artifact_passes_between_steps_through_an_azure_repository(harness, azurite):  # noqa: F811
    client = AzureBlobClient(azurite.endpoint, f"wf-{uuid.uuid4().hex[:12]}", account_key=azurite.account_key)
    client.create_container()
    repo = {"azure": {"endpoint": azurite.endpoint, "container": client.container,
                      "blobNameFormat": "{{workflow.name}}/{{pod.name}}",
                      "accountKeySecret": {"name": "az-creds", "key": "accountkey"}}}
    name = "az-pass"
    async with harness() as h:
        await h.api.create(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                                     "metadata": {"name": "az-creds", "namespace": "default"},
                                     "data": {"accountkey": base64.b64encode(azurite.account_key.encode()).decode()}},
                           namespace="default")
        await h.api.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "repos", "namespace": "default"},
                                         "data": {"azure": json.dumps(repo)}}, namespace="default")
        engine = Engine(h.api, clock=h.clock, workers=2)
        await engine.start()
        try:
            await h.api.create(WORKFLOWS, _workflow(name, repo), namespace="default")
            final = await wait_completed(h.api, name, "default", timeout=180)
            assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
            (produce,) = nodes_of(final, "produce")
            (out,) = produce["outputs"]["artifacts"]
            blob = out["azure"]["blob"]
            assert blob.startswith(f"{name}/") and blob.endswith("/msg.tgz")
            assert out["azure"]["container"] == client.container
            (consume,) = nodes_of(final, "consume")
            assert (pod_logs(h, consume) / "main.log").read_text() == "through azure\ndeeper\n"
            (listing,) = nodes_of(final, "list")
            assert json.loads(listing["outputs"]["result"]) == [blob]
            # OnWorkflowCompletion: the GC pod deletes the blob and the node's artifact is marked
            deadline = asyncio.get_running_loop().time() + 90
            while True:
                got = await h.api.get(WORKFLOWS, name, namespace="default")
                (node,) = nodes_of(got, "produce")
                if node["outputs"]["artifacts"][0].get("deleted"):
                    break
                conditions = (got.get("status") or {}).get("conditions") or []
                assert not [c for c in conditions if c["type"] == "ArtifactGCError"], conditions
                assert asyncio.get_running_loop().time() < deadline, got["status"].get("artifactGCStatus")
                await asyncio.sleep(0.2)
        finally:
            await engine.stop()
    assert list(client.list_blobs(f"{name}/")) == []
