"""The cron controller on the embedded API with the engine and simulated kubelet, all on a fake clock."""
from __future__ import annotations

import msgspec
import pytest

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.cron import CronController
from tiphys.controller.simkubelet import SimOutcome
from tiphys.core.cron import CRON_LABEL, SCHEDULED_TIME_ANNOTATION, rfc3339

START = 1_800_000_030.0  # 30 s past a whole minute (1_800_000_000 is 08:00:00 UTC)
MINUTE = 1_800_000_060


class CronCluster(FakeCluster):
    """FakeCluster plus the cron controller, stoppable on its own (a controller restart)."""

    def __init__(self, **kw) -> None:
        from tiphys.controller.clock import FakeClock
        super().__init__(clock=FakeClock(START), **kw)
        self.cron: CronController | None = None

    async def start_controller(self) -> None:
        await super().start_controller()
        self.cron = CronController(self.api, clock=self.clock, workers=2)
        await self.cron.start()

    async def stop_controller(self) -> None:
        if self.cron is not None:
            await self.cron.stop()
            self.cron = None
        await super().stop_controller()

    async def create_cron(self, **spec) -> dict:
        spec.setdefault("schedules", ["* * * * *"])
        spec.setdefault("workflowSpec", {"entrypoint": "main", "templates": [
            {"name": "main", "container": {"image": "busybox", "command": ["echo", "{{workflow.scheduledTime}}"]}}]})
        return await self.api.create(base.CRON_WORKFLOWS, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": "hello", "namespace": NS}, "spec": spec}, namespace=NS)

    async def get_cron(self) -> dict:
        return await self.api.get(base.CRON_WORKFLOWS, "hello", namespace=NS)

    async def children(self) -> list[dict]:
        items = (await self.api.list(base.WORKFLOWS, namespace=NS, label_selector=CRON_LABEL)).items
        return sorted(items, key=lambda w: w["metadata"]["name"])


async def _has_pods(c: CronCluster) -> bool:
    return bool(await c.objects(base.PODS))


def held(pod: dict) -> bool:
    return True  # pods never run: workflows stay Running


async def test_runs_on_schedule_and_records_status():
    async with CronCluster() as c:
        made = await c.create_cron()
        await c.advance(29)
        assert await c.children() == []
        await c.advance(2)  # the minute passes
        [wf] = await c.children()
        assert wf["metadata"]["name"] == f"hello-{MINUTE}"
        assert wf["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == rfc3339(MINUTE)
        assert wf["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]
        # {{workflow.scheduledTime}} reaches the pod from the annotation
        await c.until(lambda: _has_pods(c))
        [pod] = await c.objects(base.PODS)
        assert rfc3339(MINUTE) in msgspec.json.encode(pod).decode()
        await c.until(lambda: c.completed(f"hello-{MINUTE}"))
        await c.settle()
        status = (await c.get_cron())["status"]
        assert status["lastScheduledTime"] == rfc3339(MINUTE)
        assert status["succeeded"] == 1 and "active" not in status and status["phase"] == "Active"
        await c.advance(60)
        assert [w["metadata"]["name"] for w in await c.children()] == [f"hello-{MINUTE}", f"hello-{MINUTE + 60}"]


async def test_active_listed_while_running():
    async with CronCluster(hold=held) as c:
        await c.create_cron()
        await c.advance(31)
        status = (await c.get_cron())["status"]
        [ref] = status["active"]
        assert ref["name"] == f"hello-{MINUTE}" and ref["uid"] and ref["namespace"] == NS


async def test_forbid_skips_while_one_runs():
    async with CronCluster(hold=held) as c:
        await c.create_cron(concurrencyPolicy="Forbid")
        await c.advance(31 + 120)
        assert [w["metadata"]["name"] for w in await c.children()] == [f"hello-{MINUTE}"]
        assert c.cron.triggered == {(NS, "hello"): 1}
        assert c.cron.policy_triggered == {(NS, "hello", "Forbid"): 2}  # the two skipped runs


async def test_allow_runs_alongside():
    async with CronCluster(hold=held) as c:
        await c.create_cron()
        await c.advance(31 + 120)
        assert len(await c.children()) == 3
        assert len((await c.get_cron())["status"]["active"]) == 3


async def test_replace_terminates_the_running_one():
    async with CronCluster(hold=held) as c:
        await c.create_cron(concurrencyPolicy="Replace")
        await c.advance(31)
        await c.advance(60)
        first, second = await c.children()
        assert c.cron.policy_triggered == {(NS, "hello", "Replace"): 1}
        assert first["spec"].get("shutdown") == "Terminate"
        assert second["metadata"]["name"] == f"hello-{MINUTE + 60}" and "shutdown" not in second["spec"]
        await c.until(lambda: c.completed(f"hello-{MINUTE}"))
        assert (await c.workflow(f"hello-{MINUTE}"))["status"]["phase"] in ("Failed", "Error")


async def test_history_pruned_to_the_limits():
    async with CronCluster() as c:
        await c.create_cron(successfulJobsHistoryLimit=2)
        await c.advance(30 + 4 * 60 + 20, step=1.0)  # five runs, all finished
        names = [w["metadata"]["name"] for w in await c.children()]
        assert names == [f"hello-{MINUTE + 180}", f"hello-{MINUTE + 240}"]
        assert (await c.get_cron())["status"]["succeeded"] == 5


async def test_failed_history_default_keeps_one():
    async with CronCluster(behaviour=lambda pod, tmpl: SimOutcome(exit_code=1)) as c:
        await c.create_cron()
        await c.advance(30 + 2 * 60 + 20, step=1.0)  # three runs, all failed
        names = [w["metadata"]["name"] for w in await c.children()]
        assert names == [f"hello-{MINUTE + 120}"]
        assert (await c.get_cron())["status"]["failed"] == 3


async def test_suspend_creates_nothing():
    async with CronCluster() as c:
        await c.create_cron(suspend=True)
        await c.advance(200)
        assert await c.children() == []


async def test_restart_does_not_double_create():
    async with CronCluster(hold=held) as c:
        await c.create_cron(startingDeadlineSeconds=300)
        await c.advance(31)
        # the controller dies right after creating the child, before its status write lands:
        # a new process with the deadline recovers "missed" runs but the name makes it idempotent
        await c.stop_controller()
        await c.api.patch(base.CRON_WORKFLOWS, "hello", {"status": {
            "lastScheduledTime": rfc3339(MINUTE - 60), "active": None}}, namespace=NS)
        await c.start_controller()
        await c.advance(1)
        assert [w["metadata"]["name"] for w in await c.children()] == [f"hello-{MINUTE}"]
        assert c.cron is not None and c.cron.created == 0
        status = (await c.get_cron())["status"]
        assert status["lastScheduledTime"] == rfc3339(MINUTE)  # the duplicate counted as done
        assert [r["name"] for r in status["active"]] == [f"hello-{MINUTE}"]


async def test_missed_run_recovered_after_downtime_only_within_the_deadline():
    async with CronCluster(hold=held) as c:
        await c.create_cron(startingDeadlineSeconds=90)
        await c.advance(31)
        await c.stop_controller()
        await c.advance(150)  # MINUTE+60 and MINUTE+120 missed; now is MINUTE+151
        await c.start_controller()
        await c.advance(1)
        names = [w["metadata"]["name"] for w in await c.children()]
        assert names == [f"hello-{MINUTE}", f"hello-{MINUTE + 120}"]  # only the latest, at most one


async def test_without_deadline_missed_runs_are_lost():
    async with CronCluster(hold=held) as c:
        await c.create_cron()
        await c.advance(31)
        await c.stop_controller()
        await c.advance(100)
        await c.start_controller()
        await c.advance(1)
        assert len(await c.children()) == 1
        await c.advance(30)  # the next on-time run still happens
        assert len(await c.children()) == 2


async def test_bad_schedule_is_a_condition():
    async with CronCluster() as c:
        await c.create_cron(schedules=["* * * * * *"])
        await c.advance(61)
        [cond] = (await c.get_cron())["status"]["conditions"]
        assert cond["type"] == "SpecError" and "$.spec.schedules[0]" in cond["message"]
        assert await c.children() == []
        assert c.cron.errors == {"CronWorkflowSpecError": 1}  # once, however many passes see it
        cron = await c.get_cron()
        cron["spec"]["schedules"] = ["* * * * *"]
        await c.api.update(base.CRON_WORKFLOWS, cron, namespace=NS)
        await c.advance(60)
        assert len(await c.children()) == 1
        assert "conditions" not in (await c.get_cron())["status"]


async def test_stop_strategy_completes_the_cron():
    async with CronCluster(behaviour=lambda pod, tmpl: SimOutcome(exit_code=1)) as c:
        await c.create_cron(stopStrategy={"expression": "cronworkflow.failed >= 2"}, failedJobsHistoryLimit=5)
        await c.advance(30 + 4 * 60, step=1.0)
        cron = await c.get_cron()
        assert cron["metadata"]["labels"]["cronworkflows.argoproj.io/completed"] == "true"
        assert cron["status"]["phase"] == "Stopped" and cron["status"]["failed"] == 2
        assert len(await c.children()) == 2


async def test_deleting_the_cron_deletes_its_workflows():
    async with CronCluster(hold=held) as c:
        await c.create_cron()
        await c.advance(31)
        await c.api.delete(base.CRON_WORKFLOWS, "hello", namespace=NS)
        await c.advance(120)
        assert await c.children() == []


@pytest.mark.parametrize("when, runs", [
    pytest.param("{{= cronworkflow.lastScheduledTime == nil || "
                 "(now() - cronworkflow.lastScheduledTime).Seconds() > 150 }}", 2, id="argo-cron-when-example"),
    pytest.param("false", 0, id="never"),
])
async def test_when_gates_runs(when, runs):
    async with CronCluster() as c:
        await c.create_cron(when=when)
        await c.advance(30 + 4 * 60, step=1.0)
        assert len(await c.children()) == runs


async def test_cron_metrics_under_argo_names():
    """argo_workflows_cronworkflows_triggered_total and ..._concurrencypolicy_triggered, as Argo exports them."""
    from tiphys.controller.metrics import ControllerMetrics

    async with CronCluster(hold=held) as c:
        await c.create_cron(concurrencyPolicy="Forbid")
        await c.advance(31 + 60)
        metrics = ControllerMetrics()
        metrics.bind(cron=c.cron)
        text = metrics.exposition().decode()
        assert 'argo_workflows_cronworkflows_triggered_total{name="hello",namespace="default"} 1.0' in text
        assert ('argo_workflows_cronworkflows_concurrencypolicy_triggered{name="hello",namespace="default",'
                'concurrency_policy="Forbid"} 1.0') in text
        assert 'argo_workflows_error_count{cause="CronWorkflowSpecError"} 0.0' in text
