"""Artifact GC end to end on the embedded API: the controller, the node agent playing the GC pod,
and the local artifact repository on disk (files really deleted)."""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest
import yaml

from tiphys.controller.api import PODS, WORKFLOW_ARTIFACT_GC_TASKS, WORKFLOWS
from tiphys.controller.api.errors import NotFound
from tiphys.controller.local import LocalSession

EXAMPLE = Path(__file__).resolve().parents[3] / ".." / "shared" / "argo" / "examples" / "artifact-gc-workflow.yaml"
FIN = "workflows.argoproj.io/artifact-gc"


def _example() -> dict:
    if not EXAMPLE.exists():
        pytest.skip(f"Argo's examples are not there ({EXAMPLE}): the shared test data is absent")
    return yaml.safe_load(EXAMPLE.read_text())


def _files(root: Path) -> list[str]:
    art = root / "artifacts"
    return sorted(p.relative_to(art).as_posix() for p in art.rglob("*") if p.is_file()) if art.exists() else []


async def _until(api, name: str, pred, *, timeout: float = 60.0) -> dict | None:
    """The workflow once `pred(wf)` holds; None once it is gone (when pred accepts None)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            wf = await api.get(WORKFLOWS, name, namespace="default")
        except NotFound:
            wf = None
        if pred(wf):
            return wf
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last state: {wf and wf.get('metadata')} {wf and wf.get('status', {}).get('artifactGCStatus')}")
        await asyncio.sleep(0.2)


def _recouped(wf: dict | None) -> bool:
    pods = ((wf or {}).get("status", {}).get("artifactGCStatus") or {}).get("podsRecouped") or {}
    return bool(pods) and all(pods.values())


async def test_argo_example_completion_then_deletion():
    """artifact-gc-workflow.yaml: `on-completion` is deleted when the workflow completes (marked
    `deleted`, the GC pod and task gone, the finalizer kept for the other); deleting the workflow
    deletes `on-deletion`, then the object goes."""
    async with LocalSession(kubelet="agent", artifact_repositories=True) as s:
        final = await s.run(_example(), timeout=90)
        name = final["metadata"]["name"]
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        assert FIN in final["metadata"]["finalizers"]
        wf = await _until(s.api, name, _recouped)
        assert wf["status"]["artifactGCStatus"]["strategiesProcessed"] == {"OnWorkflowCompletion": True}
        assert _files(Path(s.root_dir)) == ["on-deletion.txt"]
        arts = {a["name"]: a for n in wf["status"]["nodes"].values() for a in (n.get("outputs") or {}).get("artifacts", [])}
        assert arts["on-completion"].get("deleted") is True and not arts["on-deletion"].get("deleted")
        assert wf["metadata"]["finalizers"] == [FIN]
        assert not any(c["type"] == "ArtifactGCError" for c in wf["status"].get("conditions") or ())
        # GC pods and tasks are removed once recouped
        for _ in range(50):
            pods = [p["metadata"]["name"] for p in (await s.api.list(PODS, namespace="default")).items]
            tasks = (await s.api.list(WORKFLOW_ARTIFACT_GC_TASKS, namespace="default")).items
            if not any("-artgc-" in p for p in pods) and not tasks:
                break
            await asyncio.sleep(0.2)
        assert not any("-artgc-" in p for p in pods) and not tasks
        await s.api.delete(WORKFLOWS, name, namespace="default")
        assert await _until(s.api, name, lambda w: w is None) is None
        assert _files(Path(s.root_dir)) == []


BROKEN = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "gc-fails"},
          "spec": {"entrypoint": "main",
                   # the GC pod loses the local repository: every key-only delete fails
                   "artifactGC": {"strategy": "OnWorkflowCompletion", "podSpecPatch": (
                       '{"containers": [{"name": "main", "env": [{"name": "TIPHYS_ARTIFACT_DIR", "value": ""}]}]}')},
                   "templates": [{"name": "main", "container": {"image": "busybox", "command": ["sh", "-c"],
                                                                "args": ["echo hi > /tmp/out.txt"]},
                                  "outputs": {"artifacts": [{"name": "out", "path": "/tmp/out.txt",
                                                             "s3": {"key": "gc-fails/out.txt"}}]}}]}}


async def test_failure_is_an_error_condition_and_the_finalizer_stays_unless_forced():
    """A delete that fails gives ArtifactGCError naming the artifact and why; the finalizer stays,
    so a deleted workflow is held; with forceFinalizerRemoval it is removed and the object goes."""
    forced = copy.deepcopy(BROKEN)
    forced["metadata"]["name"] = "gc-forced"
    forced["spec"]["artifactGC"]["forceFinalizerRemoval"] = True
    forced["spec"]["templates"][0]["outputs"]["artifacts"][0]["s3"]["key"] = "gc-forced/out.txt"
    async with LocalSession(kubelet="agent", artifact_repositories=True) as s:
        await s.submit(copy.deepcopy(BROKEN))
        await s.submit(forced)
        wf = await _until(s.api, "gc-fails", _recouped, timeout=90)
        errors = [c for c in wf["status"].get("conditions") or () if c["type"] == "ArtifactGCError"]
        assert len(errors) == 1 and errors[0]["status"] == "True"
        assert "artifact out of node" in errors[0]["message"]
        assert "no artifact repository is configured" in errors[0]["message"]
        assert wf["metadata"]["finalizers"] == [FIN]
        assert "gc-fails/out.txt" in _files(Path(s.root_dir))
        await s.api.delete(WORKFLOWS, "gc-fails", namespace="default")
        held = await _until(s.api, "gc-fails", lambda w: w is not None and w["metadata"].get("deletionTimestamp"))
        assert held["metadata"]["finalizers"] == [FIN]

        wf2 = await _until(s.api, "gc-forced", lambda w: _recouped(w) and not (w["metadata"].get("finalizers")),
                           timeout=90)
        assert any(c["type"] == "ArtifactGCError" for c in wf2["status"].get("conditions") or ())
        await s.api.delete(WORKFLOWS, "gc-forced", namespace="default")
        assert await _until(s.api, "gc-forced", lambda w: w is None) is None
        await asyncio.sleep(1.0)  # the held one is still held
        assert (await s.api.get(WORKFLOWS, "gc-fails", namespace="default"))["metadata"]["finalizers"] == [FIN]
