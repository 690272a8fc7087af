"""Values flow between real steps on the node agent: parameters, results, exit codes, artifacts."""
from __future__ import annotations

import asyncio

from tiphys.controller.local import LocalSession
from tiphys.controller.status_writer import StatusWriter

WF = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "values-"},
    "spec": {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [
            [{"name": "a", "template": "writer-py"}, {"name": "b", "template": "writer-sh"},
             {"name": "c", "template": "fails", "continueOn": {"failed": True}}],
            [{"name": "d", "template": "reader",
              "arguments": {"parameters": [{"name": "msg", "value": "got {{steps.a.outputs.result}}"}],
                            "artifacts": [{"name": "in", "from": "{{steps.a.outputs.artifacts.art}}"}]}},
             {"name": "e", "template": "echo",
              "arguments": {"parameters": [{"name": "msg",
                                            "value": "{{steps.b.outputs.parameters.p}}/{{steps.c.exitCode}}"}]}}]]},
        # a and b run at once and both write /tmp/out.txt: each must read back its own file
        {"name": "writer-py", "script": {"image": "python:3.11", "command": ["python"], "source":
            "import pathlib, time\npathlib.Path('/tmp/out.txt').write_text('from-a')\ntime.sleep(0.5)\n"
            "pathlib.Path('/tmp/art').mkdir()\npathlib.Path('/tmp/art/data.txt').write_text('artifact body')\n"
            "print(pathlib.Path('/tmp/out.txt').read_text() and 42)\n"},
         "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/out.txt"}}],
                     "artifacts": [{"name": "art", "path": "/tmp/art"}]}},
        {"name": "writer-sh", "container": {"image": "busybox", "command": ["sh", "-c"],
                                            "args": ["echo -n from-b > /tmp/out.txt; sleep 0.5; cat /tmp/out.txt"]},
         "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/out.txt"}}]}},
        {"name": "fails", "container": {"image": "busybox", "command": ["sh", "-c", "exit 3"]}},
        {"name": "reader", "inputs": {"parameters": [{"name": "msg"}],
                                      "artifacts": [{"name": "in", "path": "/tmp/in"}]},
         "container": {"image": "busybox", "command": ["sh", "-c"],
                       "args": ["echo {{inputs.parameters.msg}}; cat /tmp/in/data.txt"]}},
        {"name": "echo", "inputs": {"parameters": [{"name": "msg"}]},
         "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.msg}}"]}},
    ]},
}


def test_values_pass_between_real_steps():
    """Output parameters, results, exit codes and an artifact arrive by value; concurrent /tmp is private."""
    async def go() -> dict:
        async with LocalSession(kubelet="agent") as session:
            return await session.run(WF, timeout=120)

    final = asyncio.run(go())
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    nodes = {n.display_name: n for n in StatusWriter().read_nodes(final["status"]).values()}
    params = {name: {p.name: p.value for p in (nodes[name].outputs.parameters or ())} for name in ("a", "b")}
    assert params == {"a": {"p": "from-a"}, "b": {"p": "from-b"}}, "a step saw another step's /tmp"
    assert nodes["a"].outputs.result == "42"
    assert nodes["b"].outputs.result == "from-b"
    assert nodes["c"].phase == "Failed" and nodes["c"].outputs.exit_code == "3"
    assert nodes["d"].outputs.result == "got 42\nartifact body"
    assert nodes["e"].outputs.result == "from-b/3"
    [art] = nodes["a"].outputs.artifacts
    assert art.name == "art"
