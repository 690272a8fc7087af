"""spec.podDisruptionBudget against the real apiserver, with the shipped controller role's token:
the PDB (policy/v1, through the HTTP API) exists while the workflow runs, as Argo shapes it, and is
gone once the workflow completes; the apiserver accepts what we write and the role covers it."""
from __future__ import annotations

import asyncio
import time

import pytest

from tiphys.controller.api import NotFound, base
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine

from ._control_plane import ControlPlane
from ._faults import RecordingKubelet, direct_api, wait_phase
from .test_rbac_controller import _install, cleanup_roles  # noqa: F401  (the fixture, by name)

pytestmark = pytest.mark.cluster

LABEL = "workflows.argoproj.io/workflow"


class _HoldingKubelet(RecordingKubelet):
    """The cluster tests' kubelet (binds through Binding objects), leaving pods Pending while held."""

    def __init__(self, api: base.Api, /, *, held: dict, **kw) -> None:
        super().__init__(api, **kw)
        self.held = held

    def _maybe(self, pod: dict) -> None:
        if not self.held["on"]:
            super()._maybe(pod)


def _workflow() -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "pdb"},
            "spec": {"entrypoint": "main", "podDisruptionBudget": {"minAvailable": 9999},
                     "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}]}}


def test_pdb_lives_while_the_workflow_runs_with_the_shipped_role(
        cluster: ControlPlane, cluster_namespace: str, cleanup_roles: None) -> None:  # noqa: F811
    ns = cluster_namespace
    token = _install(cluster, ns)

    async def main() -> tuple[dict, dict, bool]:
        held = {"on": True}
        admin = direct_api(cluster)
        api = direct_api(cluster, token=token)
        kubelet = _HoldingKubelet(direct_api(cluster), clock=RealClock(), namespace=ns, held=held)
        engine = Engine(api, clock=RealClock(), namespace=ns, workers=2)
        try:
            await kubelet.start()
            await engine.start()
            wf = await admin.create(base.WORKFLOWS, _workflow(), namespace=ns)
            deadline = time.monotonic() + 60
            while not (await admin.list(base.PODS, namespace=ns)).items:
                assert time.monotonic() < deadline, "no pod made"
                await asyncio.sleep(0.2)
            pdb = await admin.get(base.POD_DISRUPTION_BUDGETS, "pdb", namespace=ns)
            assert pdb["metadata"]["ownerReferences"][0]["uid"] == wf["metadata"]["uid"]
            held["on"] = False
            for pod in (await admin.list(base.PODS, namespace=ns)).items:  # the kubelet looks again
                await admin.patch(base.PODS, pod["metadata"]["name"], {"metadata": {"annotations": {"go": "1"}}},
                                  namespace=ns)
            final = await wait_phase(admin, "pdb", ns, timeout=60)
            try:
                await admin.get(base.POD_DISRUPTION_BUDGETS, "pdb", namespace=ns)
                gone = False
            except NotFound:
                gone = True
            return pdb, final, gone
        finally:
            await engine.stop()
            await kubelet.stop()
            for client in (api, admin, kubelet.api):
                await client.close()

    pdb, final, gone = asyncio.run(main())
    assert pdb["apiVersion"] == "policy/v1" and pdb["metadata"]["labels"] == {LABEL: "pdb"}
    assert pdb["spec"]["minAvailable"] == 9999 and pdb["spec"]["selector"] == {"matchLabels": {LABEL: "pdb"}}
    assert final["status"]["phase"] == "Succeeded"
    assert gone, "the PDB outlived its workflow"
