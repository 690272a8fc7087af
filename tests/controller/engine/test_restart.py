"""Kill and restart: the controller dies right after one of its writes; a new one, on the persisted
embedded store, finishes the workflow with no duplicate pod and no step run twice or lost."""
from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.controller.engine._restart import CountingApi, Killed, run_lives
from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
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


def test_killed_after_cleanup(tmp_path):
    """Task results are deleted after the final status is written (Argo's persistUpdates order), with
    one DeleteCollection: a controller killed right after that one write (the first and only of
    its kind) has recorded the outcome and left no task result behind, so no second life is needed
    (killed between the two, the next life cleans up: test_lost_pod_creates.py)."""
    final, runs, pods, lives = _run_with_crash(tmp_path, ("delete", "workflowtaskresults"), 1)
    assert lives == 1
    _assert_clean(final, runs, pods)

    async def left() -> list:
        store = EmbeddedApi(path=tmp_path / "state-delete-workflowtaskresults-1.db")
        try:
            return (await store.list(base.WORKFLOW_TASK_RESULTS, namespace="default")).items
        finally:
            await store.close()
    assert asyncio.run(left()) == []


def test_a_collection_delete_is_one_delete_write_and_a_kill_point():
    """The harness counts a delete_collection as one ("delete", plural) write however many objects
    it removes, and kills after it like after any write (the deletes landed, later calls fail)."""
    async def go() -> None:
        store = EmbeddedApi()
        api = CountingApi(store, kill_on=("delete", "workflowtaskresults"), kill_after=1)
        for name in ("r1", "r2", "r3"):
            await api.create(base.WORKFLOW_TASK_RESULTS, {"metadata": {"name": name, "labels": {"w": "x"}}},
                             namespace="default")
        with pytest.raises(Killed):
            await api.delete_collection(base.WORKFLOW_TASK_RESULTS, namespace="default", label_selector="w=x")
        assert api.writes[("delete", "workflowtaskresults")] == 1 and api.total_writes == 4
        assert api.collection_deletes == Counter({"workflowtaskresults": 1}) and api.dead.is_set()
        assert (await store.list(base.WORKFLOW_TASK_RESULTS, namespace="default")).items == []
        with pytest.raises(Killed):
            await api.list(base.WORKFLOW_TASK_RESULTS, namespace="default")
        await store.close()

    asyncio.run(go())
