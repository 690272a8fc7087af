"""Argo's synchronization examples (../shared/argo/examples/synchronization-*.yaml) through the
engine with the simulated kubelet. Argo labels most of them `no-test` (they need the `my-config`
ConfigMap), so the conformance run skips them; here the ConfigMap is made and, step by step, no
lock is ever held by more pods than its limit."""
from __future__ import annotations

import re

import pytest

from tests.conftest import SHARED_ARGO
from tests.controller.engine.fakecluster import NS, FakeCluster
from tests.controller.engine.test_sync import Gate
from tiphys.controller.api import base
from tiphys.core.spec import load_text

EXAMPLES = SHARED_ARGO / "examples"
NODE_NAME = "workflows.argoproj.io/node-name"


def example(name: str, as_name: str) -> dict:
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"Argo examples not found at {EXAMPLES}")
    wf = next(d.body for d in load_text(path.read_bytes(), source=str(path)) if d.kind == "Workflow")
    meta = {k: v for k, v in (wf.get("metadata") or {}).items() if k != "generateName"}
    return {**wf, "metadata": {**meta, "name": as_name}}


async def _config(c: FakeCluster, data: dict) -> None:
    await c.api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "my-config", "namespace": NS}, "data": data},
                       namespace=NS)


async def _drive(c: FakeCluster, gate: Gate, names: list[str], check) -> int:
    """Let every unfinished pod run, one round at a time, checking the pods alive at each round;
    returns the number of rounds."""
    rounds = 0
    while not all([await c.completed(n) for n in names]):
        await c.advance(1)
        unfinished = await gate.unfinished()
        check([p["metadata"]["annotations"][NODE_NAME] for p in unfinished])
        for pod in unfinished:
            await gate.run(pod)
        rounds += 1
        assert rounds < 60, "the workflows did not finish"
    return rounds


async def test_template_level_semaphore_example_runs_at_most_the_limit_at_once():
    gate = Gate()
    seen: list[int] = []
    async with gate.cluster_of() as c:
        await _config(c, {"template": "2"})
        await c.submit(example("synchronization-tmpl-level.yaml", "tmpl"))

        def check(alive: list[str]) -> None:
            assert len(alive) <= 2
            seen.append(len(alive))
        await _drive(c, gate, ["tmpl"], check)
        final = await c.workflow("tmpl")
        assert final["status"]["phase"] == "Succeeded"
        assert max(seen) == 2 and sum(seen) == 5  # five items, two at a time


async def test_template_level_mutex_example_runs_one_pod_per_mutex_at_once():
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(example("synchronization-mutex-tmpl-level.yaml", "mtx"))
        seen: list[tuple[int, int]] = []

        def check(alive: list[str]) -> None:
            welcome = sum(1 for n in alive if re.search(r"\.synchronization-acquire-lock\(", n))
            test = sum(1 for n in alive if re.search(r"\.synchronization-acquire-lock1\(", n))
            assert welcome <= 1 and test <= 1 and welcome + test == len(alive)
            seen.append((welcome, test))
        rounds = await _drive(c, gate, ["mtx"], check)
        assert (await c.workflow("mtx"))["status"]["phase"] == "Succeeded"
        assert rounds >= 5 and (1, 1) in seen  # serial per mutex, the two mutexes side by side


@pytest.mark.parametrize("example_name, sync_key, data", [
    ("synchronization-wf-level.yaml", f"{NS}/ConfigMap/my-config/workflow", {"workflow": "1"}),
    ("synchronization-mutex-wf-level.yaml", f"{NS}/Mutex/test", None),
])
async def test_workflow_level_examples_run_one_workflow_at_a_time(example_name, sync_key, data):
    gate = Gate()
    async with gate.cluster_of() as c:
        if data:
            await _config(c, data)
        for i in range(3):
            await c.submit(example(example_name, f"wf{i}"))
            c.clock.advance(1)
        await c.advance(2)
        for waiter in ("wf1", "wf2"):
            status = (await c.workflow(waiter))["status"]
            assert (status["phase"], status["message"]) == ("Pending", f"Waiting for {sync_key} lock. Lock status: 0/1")
        await _drive(c, gate, ["wf0", "wf1", "wf2"], lambda alive: _at_most_one(alive))
        for i in range(3):
            status = (await c.workflow(f"wf{i}"))["status"]
            assert status["phase"] == "Succeeded" and "synchronization" not in status


def _at_most_one(alive: list[str]) -> None:
    assert len(alive) <= 1


@pytest.mark.parametrize("example_name, where", [
    ("synchronization-db-wf-level.yaml", "workflow"),
    ("synchronization-db-mutex-wf-level.yaml", "workflow"),
    ("synchronization-db-tmpl-level.yaml", "node"),
    ("synchronization-db-mutex-tmpl-level.yaml", "node"),
])
async def test_database_lock_examples_are_refused_with_a_clear_error(example_name, where):
    """Database locks need Argo's SQL lock store: refused by name rather than run unlocked."""
    async with FakeCluster() as c:
        await c.submit(example(example_name, "db"))
        await c.until(lambda: c.completed("db"))
        status = (await c.workflow("db"))["status"]
        assert status["phase"] in ("Failed", "Error")
        if where == "workflow":
            assert status["message"].startswith("Failed to acquire the synchronization lock. spec.synchronization.")
            assert "database" in status["message"] and "not supported by tiphys" in status["message"]
        else:
            nodes = await c.nodes("db")
            errors = [n.message for n in nodes.values() if n.phase == "Error" and n.type_ == "Pod"]
            assert errors and all("database" in m and "not supported by tiphys" in m for m in errors)
