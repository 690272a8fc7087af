"""Artifact GC under the simulated kubelet (`tiphys run --simulate`): the GC pod runs the real
`artifact-gc` loop over its tasks (nothing was stored, so every delete succeeds)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tiphys.controller.api import WORKFLOWS
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
