"""Kill and restart: the controller dies right after one of its writes; a new one, on the persisted
embedded store, finishes the workflow with no duplicate pod and no step run twice or lost."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.controller.engine._restart import run_lives
from tiphys.controller.simkubelet import SimOutcome
from tiphys.controller.status_writer import StatusWriter

WF = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "crashy", "namespace": "default"},
    "spec": {"entrypoint": "main", "onExit": "bye", "templates": [
        {"name": "main", "steps": [
            [{"name": "first", "template": "gen"}],
            [{"name": "fan", "template": "echo", "withItems": [1, 2, 3, 4],
              "arguments": {"parameters": [{"name": "m", "value": "{{item}}-{{steps.first.outputs.parameters.out}}"}]}},
             {"name": "inner", "template": "diamond"}],
            [{"name": "last", "template": "echo", "arguments": {"parameters": [{"name": "m", "value": "end"}]}}]]},
        {"name": "diamond", "dag": {"tasks": [
            {"name": "A", "template": "echo", "arguments": {"parameters": [{"name": "m", "value": "A"}]}},
            {"name": "B", "depends": "A", "template": "flaky"},
            {"name": "C", "depends": "A", "template": "echo", "arguments": {"parameters": [{"name": "m", "value": "C"}]}},
            {"name": "D", "depends": "B && C", "template": "echo",
             "arguments": {"parameters": [{"name": "m", "value": "D"}]}}]}},
        {"name": "gen", "container": {"image": "busybox", "command": ["echo"]},
         "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]}},
        {"name": "echo", "inputs": {"parameters": [{"name": "m"}]},
         "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.m}}"]}},
        {"name": "flaky", "retryStrategy": {"limit": 3}, "container": {"image": "busybox", "command": ["false"]}},
        {"name": "bye", "container": {"image": "busybox", "command": ["echo", "bye"]}},
    ]},
}
POD_NODES = 12  # first, fan x4, A, B(0), B(1), C, D, last, onExit


def flaky_once(pod: dict, template: dict, runs: Counter) -> SimOutcome:
    name = pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]
    runs[pod["metadata"]["name"]] += 1
    return SimOutcome(exit_code=1) if name.endswith(".B(0)") else SimOutcome()


def _run_with_crash(tmp_path: Path, kind, n: int) -> tuple[dict, Counter, Counter, int]:
    path = tmp_path / f"state-{kind[0]}-{kind[1]}-{n}.db" if kind else tmp_path / "clean.db"
    runs: Counter = Counter()
    final, pods, lives = run_lives(path, WF, behaviour=lambda p, t: flaky_once(p, t, runs),
                                   kill_on=kind, kill_after=n if kind else None)
    return final, runs, pods, lives


def _assert_clean(final: dict, runs: Counter, pods: Counter) -> None:
    nodes = StatusWriter().read_nodes(final["status"])
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    pod_nodes = [n for n in nodes.values() if n.type_ == "Pod"]
    assert len(pod_nodes) == POD_NODES
    assert all(count == 1 for count in pods.values()), "a pod was created twice"
    assert len(pods) == POD_NODES, "a pod is missing or extra"
    assert all(count == 1 for count in runs.values()), f"a step ran twice: {runs}"
    assert sum(runs.values()) == POD_NODES, "a step was lost"
    fans = sorted(n.inputs.parameters[0].value for n in pod_nodes if n.display_name.startswith("fan("))
    assert fans == ["1-sim-out", "2-sim-out", "3-sim-out", "4-sim-out"], "an output was lost"


def test_clean_run_reference(tmp_path):
    """Without a crash the workflow succeeds with 12 pods, each run once."""
    final, runs, pods, lives = _run_with_crash(tmp_path, None, 0)
    assert lives == 1
    _assert_clean(final, runs, pods)


KILL_POINTS = [
    *[pytest.param(("create", "pods"), n, id=f"after-pod-create-{n}") for n in (1, 2, 5, 9, 12)],
    *[pytest.param(("update", "workflows"), n, id=f"after-status-write-{n}") for n in (1, 2, 3, 5)],
    *[pytest.param(("create", "events"), n, id=f"after-event-{n}") for n in (1, 2)],
]


@pytest.mark.parametrize("kind, n", KILL_POINTS)
def test_killed_after_write(tmp_path, kind, n):
    """Killed right after its n-th write of this kind, a restarted controller finishes the job exactly once."""
    final, runs, pods, lives = _run_with_crash(tmp_path, kind, n)
    assert lives >= 2, "the crash did not happen"
    _assert_clean(final, runs, pods)


def test_killed_mid_cleanup(tmp_path):
    """Task results are deleted after the final status is written (Argo's persistUpdates order), so a
    controller killed after its first task-result delete has already recorded the outcome: no second
    life is needed (the leftovers' clean-up by the next life: test_lost_pod_creates.py)."""
    final, runs, pods, lives = _run_with_crash(tmp_path, ("delete", "workflowtaskresults"), 1)
    assert lives == 1
    _assert_clean(final, runs, pods)
