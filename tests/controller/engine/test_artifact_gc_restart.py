"""Artifact GC across a controller restart: the first controller makes the tasks and the GC pod
and stops; the pod runs while no controller is there; a new controller reads the results from
what exists, marks the artifacts deleted, removes the pod, the tasks and the finalizer."""
from __future__ import annotations

import asyncio
from pathlib import Path

from tiphys.controller.api import PODS, WORKFLOW_ARTIFACT_GC_TASKS, WORKFLOWS, EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.nodeagent.gcpod import ApiGCTaskApi
from tiphys.executor.artifact_gc import GCSettings, run_artifact_gc
from tiphys.executor.artifacts import LocalDriver

FIN = "workflows.argoproj.io/artifact-gc"


def _completed_workflow() -> dict:
    arts = [{"name": "a", "path": "/tmp/a", "s3": {"key": "wf/a.tgz"}},
            {"name": "b", "path": "/tmp/b", "s3": {"key": "wf/b.tgz"}}]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "default", "finalizers": [FIN],
                         "labels": {"workflows.argoproj.io/completed": "true",
                                    "workflows.argoproj.io/phase": "Succeeded"}},
            "spec": {"entrypoint": "main", "artifactGC": {"strategy": "OnWorkflowCompletion"},
                     "templates": [{"name": "main", "container": {"image": "x"},
                                    "outputs": {"artifacts": [{"name": "a", "path": "/tmp/a"},
                                                              {"name": "b", "path": "/tmp/b"}]}}]},
            "status": {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
                       "finishedAt": "2026-01-01T00:00:05Z",
                       "nodes": {"wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Pod",
                                        "templateName": "main", "phase": "Succeeded",
                                        "outputs": {"artifacts": arts}}}}}


async def _until(check, timeout: float = 30.0):
    for _ in range(int(timeout / 0.05)):
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_gc_finishes_after_a_restart(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "wf").mkdir(parents=True)
    for name in ("a.tgz", "b.tgz", "other.tgz"):
        (repo / "wf" / name).write_text(name)
    clock = RealClock()
    api = EmbeddedApi(clock=clock)
    await api.create(WORKFLOWS, _completed_workflow(), namespace="default")
    first = Engine(api, clock=clock, workers=2)
    await first.start()

    async def gc_pod():
        pods = [p for p in (await api.list(PODS, namespace="default")).items if "-artgc-" in p["metadata"]["name"]]
        wf = await api.get(WORKFLOWS, "wf", namespace="default")
        return pods if pods and (wf["status"].get("artifactGCStatus") or {}).get("strategiesProcessed") else None
    pods = await _until(gc_pod)
    await first.stop()
    assert len(pods) == 1 and pods[0]["metadata"]["labels"]["workflows.argoproj.io/component"] == "artifact-gc"
    name = pods[0]["metadata"]["name"]
    tasks = (await api.list(WORKFLOW_ARTIFACT_GC_TASKS, namespace="default")).items
    assert [t["metadata"]["name"] for t in tasks] == [f"{name}-0"]

    # the GC pod runs while no controller is up
    code = await run_artifact_gc(ApiGCTaskApi(api, GCSettings(pod_name=name, namespace="default")), drivers={},
                                 default=LocalDriver(repo), log=lambda line: None)
    assert code == 0 and sorted(p.name for p in (repo / "wf").iterdir()) == ["other.tgz"]
    await api.patch(PODS, name, {"status": {"phase": "Succeeded"}}, namespace="default", subresource="status")

    second = Engine(api, clock=clock, workers=2)
    await second.start()
    try:
        async def finalized():
            wf = await api.get(WORKFLOWS, "wf", namespace="default")
            return wf if not wf["metadata"].get("finalizers") else None
        wf = await _until(finalized)

        async def cleaned():
            left = [p for p in (await api.list(PODS, namespace="default")).items if "-artgc-" in p["metadata"]["name"]]
            return not left and not (await api.list(WORKFLOW_ARTIFACT_GC_TASKS, namespace="default")).items
        await _until(cleaned)
    finally:
        await second.stop()
    arts = wf["status"]["nodes"]["wf"]["outputs"]["artifacts"]
    assert [a.get("deleted") for a in arts] == [True, True]
    assert wf["status"]["artifactGCStatus"] == {"strategiesProcessed": {"OnWorkflowCompletion": True},
                                                "podsRecouped": {name: True}}
    assert not any(c["type"] == "ArtifactGCError" for c in wf["status"].get("conditions") or ())
