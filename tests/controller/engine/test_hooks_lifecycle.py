"""Lifecycle hooks through the whole engine: embedded API, informers, reconciler, a kubelet.

The simulated kubelet takes a pod from Pending to Succeeded in one write, so a `Running` hook
would never see its step run. `RunningFirst` shows each pod Running first and holds it there
until the controller has written the node as Running (level-based: it waits for the stored
status, not for a time), then lets the simulated kubelet finish it.

Argo's examples `life-cycle-hooks-wf-level` and `life-cycle-hooks-tmpl-level` call an HTTP
template. tiphys runs HTTP templates (through the agent pod, docs/compatibility.md), but these
tests are about when hooks fire, not about the agent: the golden trees here swap that template
for a container of the same name, so the trees are Argo's with `Pod` where Argo has `HTTP`
nodes. The examples with their HTTP templates, against a local server instead of the internet
URL, are in test_http_examples.py. Golden files were generated once, then read against §4.2,
§4.5 and §5.11.
"""
from __future__ import annotations

import asyncio

import pytest

from tests.controller.engine.conftest import run_workflow
from tests.controller.engine.test_examples_golden import GOLDEN, _assert_golden, _tree, _workflow
from tiphys.controller import simkubelet
from tiphys.controller.api import base
from tiphys.controller.status_writer import StatusWriter

NODE_ID = "workflows.argoproj.io/node-id"
STAND_IN = {"name": "http", "container": {"image": "alpine:3.23", "command": ["sh", "-c"], "args": ["echo hook"]}}


class RunningFirst(simkubelet.SimKubelet):
    async def _run(self, pod: dict, outcome=None) -> None:
        meta = pod["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        running = {"phase": "Running", "containerStatuses": [
            {"name": "main", "ready": True, "restartCount": 0, "image": "sim",
             "state": {"running": {"startedAt": simkubelet._now()}}}]}
        await self.api.patch(base.PODS, name, {"status": running}, namespace=ns, subresource="status")
        await _until_node_running(self.api, meta)
        await super()._run(pod, outcome)


async def _until_node_running(api, meta: dict) -> None:
    workflow = meta["labels"][simkubelet.WORKFLOW_LABEL]
    node_id = meta["annotations"][NODE_ID]
    for _ in range(300):
        wf = await api.get(base.WORKFLOWS, workflow, namespace=meta.get("namespace"))
        node = StatusWriter().read_nodes(wf.get("status") or {}).get(node_id)
        if node is not None and node.phase == "Running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the controller never wrote node {node_id} Running")


def _run(wf: dict, monkeypatch) -> tuple[dict, dict]:
    monkeypatch.setattr(simkubelet, "SimKubelet", RunningFirst)
    return run_workflow(wf, timeout=60)


def _example(stem: str) -> dict:
    wf = _workflow(stem)
    spec = dict(wf["spec"])
    spec["templates"] = [STAND_IN if t.get("name") == "http" else t for t in spec["templates"]]
    return {**wf, "spec": spec}


@pytest.mark.parametrize("stem", ["life-cycle-hooks-wf-level", "life-cycle-hooks-tmpl-level"])
def test_lifecycle_hook_examples(stem, monkeypatch):
    final, nodes = _run(_example(stem), monkeypatch)
    _assert_golden(_tree(final, nodes), GOLDEN / f"{stem}.yaml", width=250)
    for name, node in nodes.items():
        if ".hooks." in name or name.endswith(".onExit"):
            assert node.node_flag is not None and node.node_flag.hooked, name


def test_workflow_hook_fires_once_while_running_and_the_workflow_waits(monkeypatch):
    """`workflow.status == "Running"` is true on every reconcile until the end: one hook node, one
    pod; the exit handler and the workflow's end come after it."""
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf-hook-once"},
          "spec": {"entrypoint": "main", "hooks": {
              "running": {"expression": 'workflow.status == "Running"', "template": "slow"},
              "exit": {"template": "echo"}},
              "templates": [{"name": "main", "steps": [[{"name": "a", "template": "echo"}],
                                                       [{"name": "b", "template": "echo"}]]},
                            {"name": "echo", "container": {"image": "alpine", "command": ["true"]}},
                            {"name": "slow", "container": {"image": "alpine", "command": ["true"]}}]}}
    final, nodes = _run(wf, monkeypatch)
    assert final["status"]["phase"] == "Succeeded"
    hooks = [n for n in nodes if ".hooks." in n]
    assert hooks == ["wf-hook-once.hooks.running"]
    hook, exit_node, root = nodes[hooks[0]], nodes["wf-hook-once.onExit"], nodes["wf-hook-once"]
    assert hook.phase == "Succeeded" and hook.finished_at <= exit_node.started_at
    assert hook.id_ in root.children


def test_task_hook_on_a_running_task(monkeypatch):
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "dag-hook"},
          "spec": {"entrypoint": "main", "templates": [
              {"name": "main", "dag": {"tasks": [
                  {"name": "a", "template": "echo", "hooks": {
                      "running": {"expression": 'tasks.a.status == "Running"', "template": "echo"},
                      "failed": {"expression": 'tasks.a.status == "Failed"', "template": "echo"}}},
                  {"name": "b", "template": "echo", "depends": "a"}]}},
              {"name": "echo", "container": {"image": "alpine", "command": ["true"]}}]}}
    final, nodes = _run(wf, monkeypatch)
    assert final["status"]["phase"] == "Succeeded"
    assert sorted(n for n in nodes if ".hooks." in n) == ["dag-hook.a.hooks.running"]
    hook, b = nodes["dag-hook.a.hooks.running"], nodes["dag-hook.b"]
    assert hook.display_name == "a.hooks.running" and hook.boundary_id == nodes["dag-hook"].id_
    assert hook.finished_at <= b.started_at  # b waited for a's hook
    assert [nodes_by_id(nodes)[c] for c in nodes["dag-hook.a"].children] == ["dag-hook.a.hooks.running", "dag-hook.b"]


def nodes_by_id(nodes: dict) -> dict:
    return {n.id_: name for name, n in nodes.items()}
