"""Controller-wide `parallelism` and `namespaceParallelism` through the engine, on the embedded API
with the simulated kubelet. Every pod is held (Pending) until a test lets it run, so which
workflows run at each moment is observable, not a race. Limits are set the way the process sets
them from its ConfigMap (`Engine.throttler.configure`, before the workers start)."""
from __future__ import annotations

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.engine import Engine
from tiphys.core.plan.admission import LIMIT_LABEL, POSTPONED_MESSAGE

WF_LABEL = "workflows.argoproj.io/workflow"


def wf(name: str, *, namespace: str = NS, priority: int | None = None) -> dict:
    spec: dict = {"entrypoint": "main", "templates": [
        {"name": "main", "container": {"image": "busybox", "command": ["echo", "hello"]}}]}
    if priority is not None:
        spec["priority"] = priority
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


class Throttled(FakeCluster):
    """A FakeCluster whose controller starts with the given limits; every pod is held."""

    def __init__(self, *, parallelism: int = 0, namespace_parallelism: int = 0, **kw) -> None:
        super().__init__(hold=lambda pod: True, **kw)
        self.limits = {"parallelism": parallelism, "namespace_parallelism": namespace_parallelism}

    async def start_controller(self) -> None:
        self.engine = Engine(self.api, clock=self.clock, workers=4, settings=self.settings)
        self.engine.throttler.configure(**self.limits)  # as ControllerProcess._apply_config, before start
        await self.engine.start()

    async def create(self, body: dict) -> None:
        await self.api.create(base.WORKFLOWS, body, namespace=body["metadata"]["namespace"])

    async def status(self, name: str, namespace: str = NS) -> dict:
        return (await self.api.get(base.WORKFLOWS, name, namespace=namespace)).get("status") or {}

    async def pods_of(self, name: str, namespace: str = NS) -> list[dict]:
        return (await self.api.list(base.PODS, namespace=namespace, label_selector=f"{WF_LABEL}={name}")).items

    async def started(self, namespace: str | None = None) -> set[str]:
        """Workflows that have a pod (were admitted and started)."""
        pods = (await self.api.list(base.PODS, namespace=namespace)).items
        return {p["metadata"]["labels"][WF_LABEL] for p in pods}

    async def finish(self, name: str, namespace: str = NS) -> None:
        """Let the workflow's pod run, and wait until the workflow is completed."""
        for pod in await self.pods_of(name, namespace):
            await self.kubelet._run(pod)
        await self.until(lambda: self.completed(name, namespace))

    async def terminate(self, name: str, namespace: str = NS) -> None:
        """Set `spec.shutdown: Terminate`, as `argo terminate` does."""
        live = await self.api.get(base.WORKFLOWS, name, namespace=namespace)
        await self.api.update(base.WORKFLOWS, {**live, "spec": {**live["spec"], "shutdown": "Terminate"}},
                              namespace=namespace)


async def _postponed(c: Throttled, name: str, namespace: str = NS) -> bool:
    status = await c.status(name, namespace)
    return status.get("phase") == "Pending" and status.get("message") == POSTPONED_MESSAGE and \
        not await c.pods_of(name, namespace)


async def test_parallelism_one_runs_three_workflows_one_by_one_with_argos_message():
    async with Throttled(parallelism=1) as c:
        for name in ("a", "b", "c"):
            await c.create(wf(name))
            await c.advance(1)  # creation order a, b, c
        await c.advance(2)
        assert await c.started() == {"a"}
        assert (await c.status("a"))["phase"] == "Running"
        for name in ("b", "c"):
            assert await _postponed(c, name)
            labels = (await c.api.get(base.WORKFLOWS, name, namespace=NS))["metadata"]["labels"]
            assert labels["workflows.argoproj.io/phase"] == "Pending"
            assert labels["workflows.argoproj.io/completed"] == "false"
            assert "startedAt" not in await c.status(name)
        await c.finish("a")
        await c.until(lambda: _has_pod(c, "b"))
        assert await c.started() == {"a", "b"} and await _postponed(c, "c")
        b = await c.status("b")
        assert b["phase"] == "Running" and "message" not in b  # admitted: Argo's message is gone
        await c.finish("b")
        await c.until(lambda: _has_pod(c, "c"))
        await c.finish("c")
        for name in ("a", "b", "c"):
            assert (await c.status(name))["phase"] == "Succeeded"


async def _has_pod(c: Throttled, name: str, namespace: str = NS) -> bool:
    return bool(await c.pods_of(name, namespace))


async def test_higher_priority_then_older_waiter_is_admitted_first():
    async with Throttled(parallelism=1) as c:
        await c.create(wf("runner"))
        await c.until(lambda: _has_pod(c, "runner"))
        await c.create(wf("old-low", priority=1))
        await c.advance(1)
        await c.create(wf("new-high", priority=5))
        await c.advance(1)
        await c.create(wf("newer-high", priority=5))
        await c.advance(2)
        assert await c.started() == {"runner"}
        await c.finish("runner")
        await c.until(lambda: _has_pod(c, "new-high"))
        assert await c.started() == {"runner", "new-high"}
        await c.finish("new-high")
        await c.until(lambda: _has_pod(c, "newer-high"))
        assert await _postponed(c, "old-low")
        await c.finish("newer-high")
        await c.until(lambda: _has_pod(c, "old-low"))


async def test_namespace_parallelism_limits_each_namespace_and_the_label_overrides_it():
    async with Throttled(namespace_parallelism=1) as c:
        for ns in ("team-a", "team-b"):
            for name in ("one", "two"):
                await c.create(wf(name, namespace=ns))
                await c.advance(1)
        await c.advance(2)
        assert await c.started("team-a") == {"one"} and await c.started("team-b") == {"one"}
        assert await _postponed(c, "two", "team-a") and await _postponed(c, "two", "team-b")
        # Argo's per-namespace override: the Namespace label wins over namespaceParallelism
        await c.api.create(base.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "team-b", "labels": {LIMIT_LABEL: "2"}}})
        await c.until(lambda: _has_pod(c, "two", "team-b"))
        await c.advance(2)
        assert await c.started("team-a") == {"one"}  # team-a keeps namespaceParallelism 1
        await c.finish("one", "team-a")
        await c.until(lambda: _has_pod(c, "two", "team-a"))


async def test_raising_the_limit_admits_waiters_at_once_without_polling():
    async with Throttled(parallelism=1) as c:
        for name in ("a", "b", "c"):
            await c.create(wf(name))
            await c.advance(1)
        await c.advance(2)
        assert await c.started() == {"a"}
        assert c.engine is not None
        c.engine.throttler.configure(parallelism=3, namespace_parallelism=0)  # a ConfigMap change
        await c.settle(200)  # the fake clock does not move: only the enqueue can start them
        assert await c.started() == {"a", "b", "c"}
        c.engine.throttler.configure(parallelism=1, namespace_parallelism=0)  # lowering stops nothing
        await c.create(wf("d"))
        await c.advance(2)
        assert await c.started() == {"a", "b", "c"} and await _postponed(c, "d")
        for name in ("a", "b"):
            await c.finish(name)
        await c.advance(2)
        assert not await _has_pod(c, "d")  # c still runs: 1 running = the limit
        await c.finish("c")
        await c.until(lambda: _has_pod(c, "d"))


async def test_deleting_a_running_workflow_frees_its_slot():
    async with Throttled(parallelism=1) as c:
        await c.create(wf("a"))
        await c.advance(1)
        await c.create(wf("b"))
        await c.advance(2)
        assert await _postponed(c, "b")
        await c.api.delete(base.WORKFLOWS, "a", namespace=NS)
        await c.until(lambda: _has_pod(c, "b"))


async def test_terminating_a_postponed_workflow_bypasses_the_throttler_without_taking_a_slot():
    async with Throttled(parallelism=1) as c:
        await c.create(wf("a"))
        await c.advance(1)
        for name in ("b", "c"):
            await c.create(wf(name))
            await c.advance(1)
        await c.advance(1)
        await c.terminate("c")
        await c.advance(2)
        c_status = await c.status("c")
        assert c_status.get("message") != POSTPONED_MESSAGE  # reconciled at once, out of the queue
        assert c_status["nodes"]["c"]["message"] == "workflow shutdown with strategy:  Terminate"
        assert not await _has_pod(c, "c")
        assert c.engine is not None and c.engine.throttler.table.waiting() == [f"{NS}/b"]
        assert await c.started() == {"a"} and await _postponed(c, "b")
        await c.finish("a")
        await c.until(lambda: _has_pod(c, "b"))  # the slot went to b, c never held one


async def test_a_workflow_terminated_before_its_first_pod_completes_failed():
    async with Throttled(parallelism=1) as c:
        await c.create(wf("a"))
        await c.advance(1)
        await c.create(wf("c"))
        await c.advance(1)
        await c.terminate("c")
        await c.until(lambda: c.completed("c"), limit=10)
        assert (await c.status("c"))["phase"] == "Failed"


def suspended(name: str) -> dict:
    """Runs (phase Running) with no pod at all: nothing but its own key wakes it after a restart."""
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name, "namespace": NS},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]}}


async def test_a_restarted_controller_counts_running_workflows_before_admitting():
    async with Throttled(parallelism=1) as c:
        await c.create(suspended("z-running"))
        await c.until(lambda: _phase_is(c, "z-running", "Running"))
        await c.stop_controller()
        # submitted while no controller runs; its key is listed and reconciled before z-running's
        await c.create(wf("a-new"))
        await c.advance(1)
        await c.start_controller()
        await c.advance(3)
        assert await _postponed(c, "a-new")  # z-running was counted before anything was admitted
        await c.api.delete(base.WORKFLOWS, "z-running", namespace=NS)
        await c.until(lambda: _has_pod(c, "a-new"))
        await c.finish("a-new")
        assert (await c.status("a-new"))["phase"] == "Succeeded"


async def _phase_is(c: Throttled, name: str, phase: str) -> bool:
    return (await c.status(name)).get("phase") == phase


async def test_no_limits_run_everything_at_once():
    async with Throttled() as c:
        for name in ("a", "b", "c"):
            await c.create(wf(name))
        await c.advance(2)
        assert await c.started() == {"a", "b", "c"}
