"""controller.artifact_gc: the shell's order (tasks, pod, one workflow write, deletes) and nodes
stored compressed (decoded, marked, packed again by the size policy)."""
from __future__ import annotations

import msgspec

from tiphys.controller.api import PODS, WORKFLOW_ARTIFACT_GC_TASKS, WORKFLOWS, EmbeddedApi
from tiphys.controller.apply import Applier
from tiphys.controller.artifact_gc import ArtifactGC
from tiphys.controller.clock import RealClock
from tiphys.core.spec import NodeStatus
from tiphys.core.status.packer import Packer, SizeSettings

FIN = "workflows.argoproj.io/artifact-gc"


class _Store:
    def __init__(self, items):
        self.items = items

    def by_index(self, name, key):
        assert name == "workflow"
        return [i for i in self.items if (i["metadata"].get("labels") or {}).get("workflows.argoproj.io/workflow")
                == key.split("/")[1]]


class _Informer:
    def __init__(self, items=()):
        self.store = _Store(list(items))


def _nodes() -> dict[str, NodeStatus]:
    raw = {f"n{i}": {"id": f"n{i}", "name": f"n{i}", "displayName": f"n{i}", "type": "Pod", "phase": "Succeeded",
                     "templateName": "main", "outputs": {"artifacts": [
                         {"name": "a", "path": "/a", "s3": {"key": f"wf/n{i}/a.tgz"},
                          "artifactGC": {"strategy": "OnWorkflowCompletion"}}]}} for i in range(3)}
    return {k: msgspec.convert(v, NodeStatus) for k, v in raw.items()}


def _compressed_workflow() -> dict:
    packed = Packer(NodeStatus, settings=SizeSettings(compress_above=10, compact_above=10**9,
                                                      hard_limit=10**9)).pack(_nodes(), base_size=0)
    assert packed.compressed_nodes
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "default", "finalizers": [FIN],
                         "labels": {"workflows.argoproj.io/completed": "true"}},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "x"}}]},
            "status": {"phase": "Succeeded", "compressedNodes": packed.compressed_nodes}}


async def test_compressed_nodes_are_read_marked_and_written_back():
    api = EmbeddedApi(clock=RealClock())
    wf = await api.create(WORKFLOWS, _compressed_workflow(), namespace="default")
    gc = ArtifactGC(api, pods=_Informer(), tasks=_Informer(), applier=Applier(api))
    assert await gc.reconcile(wf, wf["spec"]) is None
    tasks = (await api.list(WORKFLOW_ARTIFACT_GC_TASKS, namespace="default")).items
    pods = (await api.list(PODS, namespace="default")).items
    assert len(tasks) == 1 and sorted(tasks[0]["spec"]["artifactsByNode"]) == ["n0", "n1", "n2"]
    assert len(pods) == 1
    wf = await api.get(WORKFLOWS, "wf", namespace="default")
    assert wf["status"]["artifactGCStatus"]["strategiesProcessed"] == {"OnWorkflowCompletion": True}

    # the GC pod did its work
    results = {n: {"artifactResults": {"a": {"name": "a", "success": True}}} for n in ("n0", "n1", "n2")}
    task = await api.patch(WORKFLOW_ARTIFACT_GC_TASKS, tasks[0]["metadata"]["name"],
                           {"status": {"artifactResultsByNode": results}}, namespace="default", subresource="status")
    pod = await api.patch(PODS, pods[0]["metadata"]["name"], {"status": {"phase": "Succeeded"}}, namespace="default",
                          subresource="status")
    gc = ArtifactGC(api, pods=_Informer([pod]), tasks=_Informer([task]), applier=Applier(api))
    # a cached copy older than our own write is not acted on
    gc.written["default/wf"] = (wf["metadata"]["uid"], int(wf["metadata"]["resourceVersion"]) + 1)
    assert await gc.reconcile(wf, wf["spec"]) == 0.05
    gc.forget("default/wf")
    assert await gc.reconcile(wf, wf["spec"]) is None
    final = await api.get(WORKFLOWS, "wf", namespace="default")
    # three small nodes fit plain under the default size policy: written back as status.nodes
    assert "compressedNodes" not in final["status"]
    assert [n["outputs"]["artifacts"][0].get("deleted") for n in final["status"]["nodes"].values()] == [True] * 3
    assert not final["metadata"].get("finalizers")
    assert not (await api.list(PODS, namespace="default")).items
    assert not (await api.list(WORKFLOW_ARTIFACT_GC_TASKS, namespace="default")).items
