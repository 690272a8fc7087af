"""The controller engine and the node agent together: workflows run as real processes."""
from __future__ import annotations

import pytest

from tiphys.controller.local import wait_completed

pytest.importorskip("tiphys.controller.engine", reason="the controller engine is not there yet")
from tiphys.controller.engine import Engine  # noqa: E402

WF = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
    "metadata": {"name": "pipe", "namespace": "default"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [
                [{"name": "produce", "template": "produce"}],
                [{"name": "consume", "template": "consume",
                  "arguments": {"parameters": [{"name": "msg", "value": "{{steps.produce.outputs.parameters.msg}}"}]}}]]},
            {"name": "produce", "script": {"image": "python:3.12", "command": ["python3"],
                                           "source": "open('/tmp/msg', 'w').write('from python')\nprint('wrote')"},
             "outputs": {"parameters": [{"name": "msg", "valueFrom": {"path": "/tmp/msg"}}]}},
            {"name": "consume", "inputs": {"parameters": [{"name": "msg"}]},
             "container": {"image": "argoproj/argosay:v2", "args": ["echo", "got {{inputs.parameters.msg}}"]}},
        ]},
}


async def test_steps_workflow_passes_a_result_between_real_pods(harness):
    """produce's output parameter becomes consume's input: emissary -> wait -> task result (relayed
    by the agent) -> controller -> the next pod's args. (outputs.result is not used: the planner does
    not yet set ARGO_INCLUDE_SCRIPT_OUTPUT for results referenced downstream.)"""
    async with harness() as h:
        engine = Engine(h.api, clock=h.clock, workers=2)
        await engine.start()
        try:
            from tiphys.controller.api import WORKFLOWS
            await h.api.create(WORKFLOWS, WF, namespace="default")
            wf = await wait_completed(h.api, "pipe", "default", timeout=80)
        finally:
            await engine.stop()
        assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
        logs = {p.parent.name: (p.parent / "main.log").read_text() for p in (h.root / "logs" / "default").glob("*/main.log")}
        assert sorted(logs.values()) == ["got from python\n", "wrote\n"]
