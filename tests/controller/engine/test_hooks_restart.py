"""Kill and restart with lifecycle hooks: a controller that dies right after one of its writes is
replaced by a new one on the same store; every hook node is found again, never made twice, and
each hook's pod runs once (the harness, `_restart`, is test_restart's too)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.controller.engine._restart import run_lives
from tiphys.controller.simkubelet import SimOutcome
from tiphys.controller.status_writer import StatusWriter

ECHO = {"name": "echo", "container": {"image": "busybox", "command": ["echo"]}}
WF = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "hooky", "namespace": "default"},
    "spec": {"entrypoint": "main", "onExit": "echo",
             "hooks": {"running": {"expression": 'workflow.status == "Running"', "template": "echo"}},
             "templates": [
                 {"name": "main", "steps": [
                     [{"name": "a", "template": "echo",
                       "hooks": {"ok": {"expression": 'steps.a.status == "Succeeded"', "template": "echo"}}}],
                     [{"name": "inner", "template": "diamond"}]]},
                 {"name": "diamond", "dag": {"tasks": [
                     {"name": "x", "template": "echo",
                      "hooks": {"ok": {"expression": 'tasks.x.status == "Succeeded"', "template": "echo"}}},
                     {"name": "y", "depends": "x", "template": "echo"}]}},
                 ECHO]},
}
HOOKS = ["hooky.hooks.running", "hooky[0].a.hooks.ok", "hooky[1].inner.x.hooks.ok"]


def _count(pod: dict, runs: Counter) -> SimOutcome:
    runs[pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]] += 1
    return SimOutcome()


def _run(tmp_path: Path, kind, n: int):
    runs: Counter = Counter()
    final, pods, lives = run_lives(tmp_path / "hooks.db", WF, behaviour=lambda p, t: _count(p, runs),
                                   kill_on=kind, kill_after=n if kind else None)
    return final, runs, pods, lives


def _assert_clean(final: dict, runs: Counter, pods: Counter) -> None:
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    nodes = {n.name: n for n in StatusWriter().read_nodes(final["status"]).values()}
    assert sorted(name for name in nodes if ".hooks." in name) == sorted(HOOKS)
    assert all(nodes[h].phase == "Succeeded" and nodes[h].node_flag.hooked for h in HOOKS)
    pod_nodes = [n for n in nodes.values() if n.type_ == "Pod"]
    assert len(pod_nodes) == 7  # a, x, y, three hooks, onExit
    assert all(count == 1 for count in pods.values()), "a pod was created twice"
    assert len(pods) == 7
    assert all(count == 1 for count in runs.values()), f"a pod ran twice: {runs}"


def test_hooks_clean_run(tmp_path):
    final, runs, pods, lives = _run(tmp_path, None, 0)
    assert lives == 1
    _assert_clean(final, runs, pods)


@pytest.mark.parametrize("kind, n", [
    *[pytest.param(("create", "pods"), n, id=f"after-pod-create-{n}") for n in (1, 2, 3, 4, 5, 6)],
    *[pytest.param(("update", "workflows"), n, id=f"after-status-write-{n}") for n in (1, 2, 4, 6)],
])
def test_hooks_killed_after_write(tmp_path, kind, n):
    final, runs, pods, lives = _run(tmp_path, kind, n)
    assert lives >= 2, "the crash did not happen"
    _assert_clean(final, runs, pods)
