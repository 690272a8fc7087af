"""Artifact GC under the simulated kubelet (`tiphys run --simulate`): the GC pod runs the real
`artifact-gc` loop over its tasks (nothing was stored, so every delete succeeds)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tiphys.controller.api import WORKFLOWS, EventType
from tiphys.controller.api.errors import NotFound
from tiphys.controller.local import LocalSession

EXAMPLE = Path(__file__).resolve().parents[3] / ".." / "shared" / "argo" / "examples" / "artifact-gc-workflow.yaml"
FIN = "workflows.argoproj.io/artifact-gc"


async def _wait(api, name: str, pred, timeout: float = 30.0):
    for _ in range(int(timeout / 0.1)):
        try:
            wf = await api.get(WORKFLOWS, name, namespace="default")
        except NotFound:
            wf = None
        if pred(wf):
            return wf
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out; last: {wf and wf['metadata']} {wf and wf['status'].get('artifactGCStatus')}")


async def test_simulated_run_collects_then_lets_the_deleted_workflow_go():
    if not EXAMPLE.exists():
        pytest.skip(f"Argo's examples are not there ({EXAMPLE}): the shared test data is absent")
    async with LocalSession(kubelet="sim") as s:
        final = await s.run(yaml.safe_load(EXAMPLE.read_text()), timeout=30)
        name = final["metadata"]["name"]
        wf = await _wait(s.api, name, lambda w: all(((w["status"].get("artifactGCStatus") or {})
                                                     .get("podsRecouped") or {"x": False}).values()))
        arts = {a["name"]: a for n in wf["status"]["nodes"].values()
                for a in (n.get("outputs") or {}).get("artifacts") or ()}
        assert arts["on-completion"]["deleted"] is True and "deleted" not in arts["on-deletion"]
        assert wf["metadata"]["finalizers"] == [FIN]
        await s.api.delete(WORKFLOWS, name, namespace="default")
        await _wait(s.api, name, lambda w: w is None)


DELETED_WHILE_RUNNING = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "early-delete"},
    "spec": {"entrypoint": "main", "artifactGC": {"strategy": "OnWorkflowDeletion"}, "templates": [
        {"name": "main", "steps": [[{"name": "wait", "template": "wait"}], [{"name": "make", "template": "make"}]]},
        {"name": "wait", "suspend": {"duration": "2"}},
        {"name": "make", "container": {"image": "busybox", "command": ["true"]},
         "outputs": {"artifacts": [{"name": "out", "path": "/tmp/out", "s3": {"key": "early/out"}},
                                   {"name": "now", "path": "/tmp/now", "s3": {"key": "early/now"},
                                    "artifactGC": {"strategy": "OnWorkflowCompletion"}}]}}]}}


async def test_a_workflow_deleted_while_running_finishes_then_is_collected():
    """Deleted while suspended: the finalizer holds it, it runs to the end (Argo collects only a
    fulfilled workflow), then both strategies run and the object goes."""
    async with LocalSession(kubelet="sim") as s:
        created = await s.submit(DELETED_WHILE_RUNNING)
        await _wait(s.api, "early-delete", lambda w: w is not None and FIN in (w["metadata"].get("finalizers") or ()))
        states: list[dict] = []

        async def follow() -> None:
            async with s.api.watch(WORKFLOWS, namespace="default", field_selector="metadata.name=early-delete",
                                   resource_version=created["metadata"]["resourceVersion"], timeout=60) as stream:
                async for event in stream:
                    if event.type is not EventType.BOOKMARK:
                        states.append(event.object)  # the DELETED one: the state that let it go
                    if event.type is EventType.DELETED:
                        return
        follower = asyncio.ensure_future(follow())
        await asyncio.sleep(0.2)
        assert (await s.api.get(WORKFLOWS, "early-delete", namespace="default"))["status"]["phase"] == "Running"
        await s.api.delete(WORKFLOWS, "early-delete", namespace="default")
        await asyncio.wait_for(follower, 60)
        deleting = [w for w in states if w["metadata"].get("deletionTimestamp")]
        assert deleting[0]["status"]["phase"] == "Running"  # deleted while it ran
        assert all(FIN in w["metadata"]["finalizers"] for w in deleting[:-1])
        # the last state seen is the one before the GC write that let it go (the embedded store's
        # DELETED event carries the object as it was stored before that write); the artifacts
        # marked deleted are checked where that write is observable (node agent and cluster tests)
        last = deleting[-1]
        assert last["status"]["phase"] == "Succeeded"
        assert last["status"]["artifactGCStatus"]["strategiesProcessed"] == {"OnWorkflowCompletion": True,
                                                                             "OnWorkflowDeletion": True}
