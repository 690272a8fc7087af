"""synchronization through the engine: mutexes and semaphores shared by workflows, on the embedded
API with the simulated kubelet. Pods are held (Pending) until a test lets one run, so who holds a
lock at each moment is observable, not a race."""
from __future__ import annotations

from tests.controller.engine.fakecluster import NS, FakeCluster, put_configmap
from tiphys.controller.api import base

MUTEX = f"{NS}/Mutex/test"
SEMAPHORE = f"{NS}/ConfigMap/my-config/workflow"


def wf_level(name: str, sync: dict, *, priority: int | None = None) -> dict:
    spec = {"entrypoint": "main", "synchronization": sync, "templates": [
        {"name": "main", "container": {"image": "busybox", "command": ["echo", "hello"]}}]}
    if priority is not None:
        spec["priority"] = priority
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name}, "spec": spec}


def fan_out(name: str, n: int) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name}, "spec": {
        "entrypoint": "main", "templates": [
            {"name": "main", "steps": [[{"name": "lock", "template": "locked", "withParam": str(list(range(n))),
                                         "arguments": {"parameters": [{"name": "i", "value": "{{item}}"}]}}]]},
            {"name": "locked", "inputs": {"parameters": [{"name": "i"}]},
             "synchronization": {"mutexes": [{"name": "welcome"}]},
             "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.i}}"]}}]}}


SEM_SYNC = {"semaphores": [{"configMapKeyRef": {"name": "my-config", "key": "workflow"}}]}


class Gate:
    """Holds every pod; `run(name)` lets one run to completion (the simulated kubelet's own run)."""

    def __init__(self) -> None:
        self.cluster: FakeCluster | None = None

    def cluster_of(self, **kw) -> FakeCluster:
        self.cluster = FakeCluster(hold=lambda pod: True, **kw)
        return self.cluster

    async def pods(self, workflow: str | None = None) -> list[dict]:
        pods = await self.cluster.objects(base.PODS)
        return [p for p in pods if workflow is None
                or p["metadata"]["labels"].get("workflows.argoproj.io/workflow") == workflow]

    async def unfinished(self, workflow: str | None = None) -> list[dict]:
        return [p for p in await self.pods(workflow) if (p.get("status") or {}).get("phase") not in
                ("Succeeded", "Failed")]

    async def run(self, pod: dict) -> None:
        await self.cluster.kubelet._run(pod)


async def _configmap(c: FakeCluster, value: str) -> None:
    await put_configmap(c.api, "my-config", {"workflow": value})


async def _status(c: FakeCluster, name: str) -> dict:
    return (await c.workflow(name) or {}).get("status") or {}


async def _all_succeed(c: FakeCluster, *names: str) -> None:
    """Each workflow, in turn, completes, and it Succeeded."""
    for name in names:
        await c.until(lambda: c.completed(name))
        assert (await _status(c, name))["phase"] == "Succeeded"


async def test_second_workflow_waits_for_the_mutex_with_argos_message_and_runs_after():
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(wf_level("a", {"mutexes": [{"name": "test"}]}))
        await c.until(lambda: _has(gate, "a"))
        c.clock.advance(1)  # b is younger: Argo's queue order is priority, then creation time
        await c.submit(wf_level("b", {"mutexes": [{"name": "test"}]}))
        await c.advance(3)
        b = await _status(c, "b")
        assert b["phase"] == "Pending"
        assert b["message"] == f"Waiting for {MUTEX} lock. Lock status: 0/1"
        assert b["synchronization"] == {"mutex": {"waiting": [{"mutex": MUTEX, "holder": f"{NS}/a"}]}}
        assert "startedAt" not in b
        assert await gate.pods("b") == []
        a = await _status(c, "a")
        assert a["phase"] == "Running"
        assert a["synchronization"] == {"mutex": {"holding": [{"mutex": MUTEX, "holder": "a"}]}}

        await gate.run((await gate.pods("a"))[0])
        await c.until(lambda: c.completed("a"))
        await c.until(lambda: _has(gate, "b"))
        b = await _status(c, "b")
        assert b["phase"] == "Running" and not b.get("message")
        assert b["synchronization"] == {"mutex": {"holding": [{"mutex": MUTEX, "holder": "b"}]}}
        assert "synchronization" not in await _status(c, "a")  # released at completion
        await gate.run((await gate.pods("b"))[0])
        await _all_succeed(c, "b")


async def _has(gate: Gate, workflow: str) -> bool:
    return bool(await gate.pods(workflow))


async def test_semaphore_of_two_runs_two_of_three_workflows_then_the_third():
    gate = Gate()
    async with gate.cluster_of() as c:
        await _configmap(c, "2")
        for name in ("s1", "s2", "s3"):
            await c.submit(wf_level(name, SEM_SYNC))
            await c.advance(1)
        await c.advance(2)
        assert {p["metadata"]["labels"]["workflows.argoproj.io/workflow"] for p in await gate.pods()} == {"s1", "s2"}
        s3 = await _status(c, "s3")
        assert s3["phase"] == "Pending"
        assert s3["message"] == f"Waiting for {SEMAPHORE} lock. Lock status: 0/2"
        assert s3["synchronization"] == {"semaphore": {"waiting": [
            {"semaphore": SEMAPHORE, "holders": [f"{NS}/s1", f"{NS}/s2"]}]}}
        assert (await _status(c, "s1"))["synchronization"] == {
            "semaphore": {"holding": [{"semaphore": SEMAPHORE, "holders": ["s1"]}]}}
        await gate.run((await gate.pods("s2"))[0])
        await c.until(lambda: _has(gate, "s3"))
        assert len(await gate.unfinished()) == 2  # s1 and s3: never more than the limit
        for name in ("s1", "s3"):
            await gate.run((await gate.pods(name))[0])
        await _all_succeed(c, "s1", "s2", "s3")


async def test_higher_priority_waiter_goes_first():
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(wf_level("p0", {"mutexes": [{"name": "test"}]}))
        await c.until(lambda: _has(gate, "p0"))
        await c.submit(wf_level("low", {"mutexes": [{"name": "test"}]}, priority=1))
        await c.advance(1)
        await c.submit(wf_level("high", {"mutexes": [{"name": "test"}]}, priority=5))
        await c.advance(2)
        await gate.run((await gate.pods("p0"))[0])
        await c.until(lambda: _has(gate, "high"))
        assert await gate.pods("low") == []
        assert (await _status(c, "low"))["phase"] == "Pending"


async def test_template_mutex_in_a_fan_out_runs_one_pod_at_a_time():
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(fan_out("fan", 4))
        seen_running = 0
        for _ in range(4):
            await c.until(lambda: _unfinished_count(gate, 1))
            await c.advance(1)
            running = await gate.unfinished("fan")
            assert len(running) == 1  # the others wait for the lock, without pods
            nodes = await c.nodes("fan")
            waiting = [n for n in nodes.values() if n.synchronization_status is not None]
            assert all(n.phase == "Pending" and n.synchronization_status.waiting == f"{NS}/Mutex/welcome"
                       and n.message == f"Waiting for {NS}/Mutex/welcome lock. Lock status: 0/1" for n in waiting)
            assert len(waiting) == 3 - seen_running
            status = await _status(c, "fan")
            holder = nodes[running[0]["metadata"]["annotations"]["workflows.argoproj.io/node-name"]]
            assert status["synchronization"]["mutex"]["holding"] == [
                {"mutex": f"{NS}/Mutex/welcome", "holder": holder.id_}]
            await gate.run(running[0])
            seen_running += 1
        await _all_succeed(c, "fan")
        assert len(await gate.pods("fan")) == 4


async def _unfinished_count(gate: Gate, n: int) -> bool:
    return len(await gate.unfinished()) == n


async def test_raising_the_semaphore_limit_lets_a_waiter_run():
    gate = Gate()
    async with gate.cluster_of() as c:
        await _configmap(c, "1")
        await c.submit(wf_level("l1", SEM_SYNC))
        await c.until(lambda: _has(gate, "l1"))
        await c.submit(wf_level("l2", SEM_SYNC))
        await c.advance(3)
        assert (await _status(c, "l2"))["message"] == f"Waiting for {SEMAPHORE} lock. Lock status: 0/1"
        await _configmap(c, "2")
        await c.until(lambda: _has(gate, "l2"), limit=5)  # the ConfigMap event enqueues the waiter
        assert len(await gate.unfinished()) == 2


async def test_missing_semaphore_configmap_fails_the_workflow_with_argos_prefix():
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(wf_level("nocm", SEM_SYNC))
        await c.until(lambda: c.completed("nocm"))
        status = await _status(c, "nocm")
        assert status["phase"] == "Failed"
        assert status["message"] == ('Failed to acquire the synchronization lock. configmaps "my-config" not found')


async def test_restart_in_the_middle_grants_no_lock_twice():
    """The controller stops while `a` holds the mutex and `b` waits; the new one rebuilds the
    holdings from status before reconciling, so `b` still waits until `a` finishes."""
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(wf_level("a", {"mutexes": [{"name": "test"}]}))
        await c.until(lambda: _has(gate, "a"))
        c.clock.advance(1)
        await c.submit(fan_out("b", 2))
        b_tmpl = wf_level("c", {"mutexes": [{"name": "welcome"}]})
        await c.advance(2)
        await c.until(lambda: _unfinished_count(gate, 2))  # a, and one of b's fan-out
        await c.stop_controller()
        # a newcomer that would win a free `welcome` lock if the holding were forgotten
        await c.submit(b_tmpl)
        await c.start_controller()
        await c.advance(3)
        assert await gate.pods("c") == []
        assert len(await gate.unfinished("b")) == 1
        status = await _status(c, "c")
        assert status["phase"] == "Pending"
        assert status["message"] == f"Waiting for {NS}/Mutex/welcome lock. Lock status: 0/1"
        # b's running node finishes: its own next node is older than c, so it goes first
        await gate.run((await gate.unfinished("b"))[0])
        await c.until(lambda: _unfinished_count(gate, 2))
        assert await gate.pods("c") == []
        await gate.run((await gate.unfinished("b"))[0])
        await c.until(lambda: _has(gate, "c"))
        await gate.run((await gate.pods("a"))[0])
        await gate.run((await gate.pods("c"))[0])
        await _all_succeed(c, "a", "b", "c")


async def test_deleting_the_holder_lets_the_waiter_run():
    gate = Gate()
    async with gate.cluster_of() as c:
        await c.submit(wf_level("a", {"mutexes": [{"name": "test"}]}))
        await c.until(lambda: _has(gate, "a"))
        await c.submit(wf_level("b", {"mutexes": [{"name": "test"}]}))
        await c.advance(2)
        assert (await _status(c, "b"))["phase"] == "Pending"
        await c.api.delete(base.WORKFLOWS, "a", namespace=NS)
        await c.until(lambda: _has(gate, "b"), limit=5)
        assert (await _status(c, "b"))["synchronization"] == {
            "mutex": {"holding": [{"mutex": MUTEX, "holder": "b"}]}}
