"""Kill and restart: the controller dies right after one of its writes; a new one, on the persisted
embedded store, finishes the workflow with no duplicate pod and no step run twice or lost."""
from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.local import wait_completed
from tiphys.controller.simkubelet import SimKubelet, SimOutcome
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


class Crash(Exception):
    pass


class CrashingApi(base.Api):
    """Delegates to the store; after the n-th write of one kind, every later call fails (process death)."""

    def __init__(self, inner: base.Api, kind: tuple[str, str] | None, n: int, log: Counter) -> None:
        self.inner, self.kind, self.n, self.log = inner, kind, n, log
        self.dead = asyncio.Event()

    def _check(self) -> None:
        if self.dead.is_set():
            raise Crash("controller is dead")

    async def _write(self, verb: str, resource: base.Resource, call):
        self._check()
        result = await call()
        key = (verb, resource.plural)
        self.log[key] += 1
        if key == self.kind:
            self.n -= 1
            if self.n == 0:
                self.dead.set()
                raise Crash(f"killed after {verb} {resource.plural}")
        return result

    async def get(self, resource, name, /, **kw):
        self._check()
        return await self.inner.get(resource, name, **kw)

    async def list(self, resource, /, **kw):
        self._check()
        return await self.inner.list(resource, **kw)

    def watch(self, resource, /, **kw):
        self._check()
        return self.inner.watch(resource, **kw)

    async def create(self, resource, body, /, **kw):
        return await self._write("create", resource, lambda: self.inner.create(resource, body, **kw))

    async def update(self, resource, body, /, **kw):
        return await self._write("update", resource, lambda: self.inner.update(resource, body, **kw))

    async def patch(self, resource, name, patch, /, **kw):
        return await self._write("patch", resource, lambda: self.inner.patch(resource, name, patch, **kw))

    async def delete(self, resource, name, /, **kw):
        return await self._write("delete", resource, lambda: self.inner.delete(resource, name, **kw))


def flaky_once(pod: dict, template: dict, runs: Counter) -> SimOutcome:
    name = pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]
    runs[pod["metadata"]["name"]] += 1
    return SimOutcome(exit_code=1) if name.endswith(".B(0)") else SimOutcome()


async def _life(path: Path, kind, n: int, creates: Counter, runs: Counter, submit: bool) -> bool:
    """One controller life on the store at `path`; True when it was killed."""
    clock = RealClock()
    store = EmbeddedApi(path=path, clock=clock)
    api = CrashingApi(store, kind, n, creates)
    # The kubelet is another process: it talks to the store directly and outlives the controller.
    kubelet = SimKubelet(store, clock=clock, behaviour=lambda p, t: flaky_once(p, t, runs))
    engine = Engine(api, clock=clock, workers=4, status_interval=0.0)  # every change written: more kill points
    await kubelet.start()
    await engine.start()
    if submit:
        await store.create(base.WORKFLOWS, WF, namespace="default")
    waiter = asyncio.ensure_future(wait_completed(store, "crashy", "default", timeout=30))
    dead = asyncio.ensure_future(api.dead.wait())
    done, _ = await asyncio.wait({waiter, dead}, return_when=asyncio.FIRST_COMPLETED)
    killed = dead in done and not waiter.done()
    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
        raise waiter.exception()
    for t in (waiter, dead):
        t.cancel()
    await engine.stop()
    await kubelet.stop()
    await store.close()
    return killed


def _run_with_crash(tmp_path: Path, kind, n: int) -> tuple[dict, Counter, Counter, int]:
    path = tmp_path / f"state-{kind[0]}-{kind[1]}-{n}.db" if kind else tmp_path / "clean.db"
    creates, runs = Counter(), Counter()

    async def go():
        lives = 1
        killed = await _life(path, kind, n, creates, runs, submit=True)
        while killed and lives < 4:
            lives += 1
            killed = await _life(path, None, 0, creates, runs, submit=False)
        store = EmbeddedApi(path=path)
        final = await store.get(base.WORKFLOWS, "crashy", namespace="default")
        pods = await store.list(base.PODS, namespace="default")
        await store.close()
        return final, pods, lives

    final, pods, lives = asyncio.run(go())
    return final, runs, Counter(p["metadata"]["name"] for p in pods.items), lives


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
    pytest.param(("delete", "workflowtaskresults"), 1, id="after-cleanup"),
]


@pytest.mark.parametrize("kind, n", KILL_POINTS)
def test_killed_after_write(tmp_path, kind, n):
    """Killed right after its n-th write of this kind, a restarted controller finishes the job exactly once."""
    final, runs, pods, lives = _run_with_crash(tmp_path, kind, n)
    assert lives >= 2, "the crash did not happen"
    _assert_clean(final, runs, pods)
