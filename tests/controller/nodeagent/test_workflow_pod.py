"""End to end: a workflow pod built by `build_pod`, run by the agent with the real executor.

init (installs the wrapper, writes the template) -> main through the C emissary wrapper -> wait
(collects `outputs.result` and writes the WorkflowTaskResult, which the agent relays into the API).
"""
from __future__ import annotations

import pytest

from tiphys.controller.api import WORKFLOW_TASK_RESULTS, WORKFLOWS

from .conftest import statuses

podspec = pytest.importorskip("tiphys.core.plan.podspec", reason="core/plan/podspec.py (build_pod) is not there yet")
from tiphys.core.plan.meta import PodSettings, WorkflowMeta  # noqa: E402


async def _workflow(h, name: str) -> WorkflowMeta:
    wf = await h.api.create(WORKFLOWS, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                        "metadata": {"name": name, "namespace": "default"},
                                        "spec": {"entrypoint": "main"}}, namespace="default")
    return WorkflowMeta(name=name, namespace="default", uid=wf["metadata"]["uid"])


async def _run(h, template: dict, *, wf: str, node_id: str, **kw) -> dict:
    meta = await _workflow(h, wf)
    body = podspec.build_pod(template, meta=meta, spec={"entrypoint": "main"}, node_id=node_id, node_name=wf,
                             pod_name=node_id, settings=PodSettings(), **kw)
    await h.create(body)
    return await h.finished(node_id, timeout=80)


async def test_container_template_runs_with_real_executor(harness):
    """A container template's pod: Succeeded, and a completed task result with outputs.result."""
    template = {"name": "main", "container": {"image": "busybox:1.36", "command": ["sh", "-c"],
                                              "args": ["echo hello world"]}}
    async with harness() as h:
        p = await _run(h, template, wf="hello", node_id="hello", include_script_output=True)
        assert p["status"]["phase"] == "Succeeded", (p["status"], h.log("hello", "init"), h.log("hello", "wait"))
        st = statuses(p)
        assert [c["name"] for c in p["spec"]["containers"]] == ["wait", "main"]
        assert st["main"]["state"]["terminated"]["exitCode"] == 0
        assert st["wait"]["state"]["terminated"]["exitCode"] == 0
        assert statuses(p, "initContainerStatuses")["init"]["state"]["terminated"]["reason"] == "Completed"
        result = await h.api.get(WORKFLOW_TASK_RESULTS, "hello", namespace="default")
        assert result["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
        assert result["outputs"]["result"] == "hello world"
        assert h.log("hello", "main") == "hello world\n"


async def test_output_parameter_and_failure_exit_code(harness):
    """A main that writes an output parameter and exits 1: the pod fails, the parameter is reported."""
    template = {"name": "main",
                "container": {"image": "python:3.12", "command": ["python3", "-c"],
                              "args": ["open('/tmp/p.txt','w').write('forty-two'); raise SystemExit(1)"]},
                "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p.txt"}}]}}
    async with harness() as h:
        p = await _run(h, template, wf="param", node_id="param")
        assert p["status"]["phase"] == "Failed"
        assert statuses(p)["main"]["state"]["terminated"]["exitCode"] == 1
        result = await h.api.get(WORKFLOW_TASK_RESULTS, "param", namespace="default")
        assert result["outputs"]["parameters"] == [{"name": "p", "valueFrom": {"path": "/tmp/p.txt"},
                                                    "value": "forty-two"}]
