"""Artifact GC against a real kube-apiserver, the controller running with the shipped ClusterRole
only (as test_rbac_controller does): the finalizer is added, the GC tasks and pod are made,
read and removed, and a deleted workflow is held by the finalizer until its OnWorkflowDeletion
artifacts are collected — the apiserver's own finalizer semantics, not the embedded store's.
Pods run on the simulated kubelet (admin, binding through Binding objects), whose GC pod runs the real `artifact-gc` loop."""
from __future__ import annotations

import asyncio
import time

import pytest
import yaml

from tiphys.controller.api import NotFound, base
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine

from ._control_plane import ControlPlane
from ._faults import RecordingKubelet, direct_api
from .fixture import REPO_ROOT
from .test_rbac_controller import _install, cleanup_roles  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.cluster
EXAMPLE = REPO_ROOT / ".." / "shared" / "argo" / "examples" / "artifact-gc-workflow.yaml"
FIN = "workflows.argoproj.io/artifact-gc"


async def _until(api, name: str, ns: str, pred, *, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            wf = await api.get(base.WORKFLOWS, name, namespace=ns)
        except NotFound:
            wf = None
        if pred(wf):
            return wf
        assert time.monotonic() < deadline, f"timed out; last: {wf and wf['metadata']} " \
                                            f"{wf and wf.get('status', {}).get('artifactGCStatus')}"
        await asyncio.sleep(0.2)


def test_artifact_gc_with_the_shipped_role(cluster: ControlPlane, cluster_namespace: str,
                                           cleanup_roles: None) -> None:  # noqa: F811
    if not EXAMPLE.exists():
        pytest.skip(f"Argo's examples are not there ({EXAMPLE}): the shared test data is absent")
    ns = cluster_namespace
    token = _install(cluster, ns)
    wf = yaml.safe_load(EXAMPLE.read_text())
    wf["metadata"] = {"name": "artgc"}

    async def go() -> tuple[dict, dict | None, list, list]:
        admin = direct_api(cluster)
        kubelet = RecordingKubelet(direct_api(cluster), clock=RealClock(), namespace=ns)
        engine = Engine(direct_api(cluster, token=token), clock=RealClock(), namespace=ns, workers=2)
        await kubelet.start()
        await engine.start()
        try:
            await admin.create(base.WORKFLOWS, wf, namespace=ns)
            done = await _until(admin, "artgc", ns, lambda w: w is not None and all(
                ((w.get("status") or {}).get("artifactGCStatus") or {}).get("podsRecouped", {"-": False}).values()))
            for _ in range(150):  # pod and tasks are deleted after the recouping write
                pods = [p["metadata"]["name"] for p in (await admin.list(base.PODS, namespace=ns)).items
                        if "-artgc-" in p["metadata"]["name"]]
                tasks = (await admin.list(base.WORKFLOW_ARTIFACT_GC_TASKS, namespace=ns)).items
                if not pods and not tasks:
                    break
                await asyncio.sleep(0.2)
            await admin.delete(base.WORKFLOWS, "artgc", namespace=ns)
            gone = await _until(admin, "artgc", ns, lambda w: w is None)
            return done, gone, pods, tasks
        finally:
            await engine.stop()
            await kubelet.stop()
            await admin.close()

    done, gone, pods, tasks = asyncio.run(go())
    assert done["metadata"]["finalizers"] == [FIN]
    assert done["status"]["artifactGCStatus"]["strategiesProcessed"] == {"OnWorkflowCompletion": True}
    arts = {a["name"]: a for n in done["status"]["nodes"].values() for a in (n.get("outputs") or {}).get("artifacts") or ()}
    assert arts["on-completion"]["deleted"] is True and not arts["on-deletion"].get("deleted")
    assert not pods and not tasks
    assert gone is None
