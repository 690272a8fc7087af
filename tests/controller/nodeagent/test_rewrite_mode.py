"""The fallback without mount namespaces: per-pod directories and path rewriting (forced here)."""
from __future__ import annotations

import pytest

from tiphys.controller.api import WORKFLOW_TASK_RESULTS
from tiphys.controller.nodeagent import Isolation

from .conftest import pod, sh, statuses


async def test_rewrite_mode_maps_volume_paths(harness):
    """Volume paths in the command and workingDir are mapped to the pod's host directories."""
    async with harness(isolation=Isolation.REWRITE) as h:
        assert h.agent.isolation is Isolation.REWRITE
        vol = [{"name": "shared", "emptyDir": {}}]
        writer = sh("writer", "echo ping > /out/msg; pwd", workingDir="/out",
                    volumeMounts=[{"name": "shared", "mountPath": "/out"}])
        reader = sh("reader", "while [ ! -f /in/msg ]; do sleep 0.05; done; cat /in/msg",
                    volumeMounts=[{"name": "shared", "mountPath": "/in"}])
        await h.create(pod("rw", writer, reader, volumes=vol))
        p = await h.finished("rw")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("rw", "reader") == "ping\n"
        host_dir = h.root / "pods" / p["metadata"]["uid"] / "volumes" / "shared"
        assert h.log("rw", "writer") == f"{host_dir}\n"
        assert (host_dir / "msg").read_text() == "ping\n"


async def test_rewrite_mode_runs_a_workflow_pod(harness):
    """The executor and wrapper find their files through ARGO_VAR_RUN & co. without namespaces."""
    podspec = pytest.importorskip("tiphys.core.plan.podspec", reason="core/plan/podspec.py is not there yet")
    from tiphys.core.plan.meta import PodSettings, WorkflowMeta

    template = {"name": "main", "container": {"image": "alpine", "command": ["sh", "-c"], "args": ["echo rewritten"]}}
    async with harness(isolation=Isolation.REWRITE) as h:
        body = podspec.build_pod(template, meta=WorkflowMeta(name="rw", namespace="default", uid="u-rw"),
                                 spec={"entrypoint": "main"}, node_id="rw-1", node_name="rw", pod_name="rw-1",
                                 settings=PodSettings(), include_script_output=True)
        await h.create(body)
        p = await h.finished("rw-1", timeout=80)
        assert p["status"]["phase"] == "Succeeded", (p["status"], h.log("rw-1", "wait"))
        assert statuses(p)["wait"]["state"]["terminated"]["exitCode"] == 0
        result = await h.api.get(WORKFLOW_TASK_RESULTS, "rw-1", namespace="default")
        assert result["outputs"]["result"] == "rewritten"


async def test_fallback_is_announced_once(harness, monkeypatch, caplog):
    """Without namespaces the agent says so once, with the reason, and runs pods by rewriting."""
    from tiphys.controller.nodeagent import agent as agent_module
    monkeypatch.setattr(agent_module, "probe_isolation", lambda helper: (Isolation.REWRITE, "not root in this test"))
    caplog.set_level("WARNING", logger="tiphys.nodeagent")
    async with harness() as h:
        assert h.agent.isolation is Isolation.REWRITE
        await h.create(pod("one", sh("main", "echo one")))
        await h.create(pod("two", sh("main", "echo two")))
        assert (await h.finished("one"))["status"]["phase"] == "Succeeded"
        assert (await h.finished("two"))["status"]["phase"] == "Succeeded"
    warnings = [r.getMessage() for r in caplog.records if "falling back to path rewriting" in r.getMessage()]
    assert len(warnings) == 1 and "not root in this test" in warnings[0]
