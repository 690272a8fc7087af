"""The deployed controller process throttles from its ConfigMap: `parallelism` read at start,
a changed ConfigMap applied hot (a raised limit starts the waiters through the process's own
instrumented work queue), and a restart counting the running workflows before its workers start."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.controller.engine.fakecluster import put_configmap
from tiphys.controller.api import EmbeddedApi, base
from tiphys.controller.clock import FakeClock
from tiphys.controller.main import ControllerProcess, Options
from tiphys.core.plan.admission import POSTPONED_MESSAGE

NS = "default"
CM = "workflow-controller-configmap"


def _wf(name: str, template: dict) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name, "namespace": NS},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", **template}]}}


SUSPEND = {"suspend": {}}  # runs until deleted, with no pod: what runs is what the throttler admitted
POD = {"container": {"image": "busybox", "command": ["true"]}}


def _process(api: EmbeddedApi, clock: FakeClock) -> ControllerProcess:
    return ControllerProcess(Options(health_port=0, metrics_port=0, bind_address="127.0.0.1", leader_elect=False,
                                     embedded=":memory:", workflow_workers=2, cron_workflow_workers=1,
                                     namespace=None, configmap=f"{NS}/{CM}"), api=api, clock=clock)


@contextlib.asynccontextmanager
async def _running(api: EmbeddedApi, clock: FakeClock) -> AsyncIterator[ControllerProcess]:
    """The controller process runs for the block; then it stops, and must exit with status 0."""
    proc = _process(api, clock)
    run = asyncio.ensure_future(proc.run())
    try:
        yield proc
    finally:
        proc.stop()
        assert await asyncio.wait_for(run, 60) == 0


async def _run_for(clock: FakeClock, settle, seconds: int) -> None:
    for _ in range(seconds):
        await settle(40)
        clock.advance(1.0)
    await settle(40)


async def _status(api: EmbeddedApi, name: str) -> dict:
    return (await api.get(base.WORKFLOWS, name, namespace=NS)).get("status") or {}


async def _configmap(api: EmbeddedApi, data: dict) -> None:
    await put_configmap(api, CM, data, namespace=NS)


async def test_configmap_parallelism_holds_then_a_raised_limit_admits_at_once(settle):
    clock = FakeClock(1_800_000_000.0)
    api = EmbeddedApi(clock=clock)
    await _configmap(api, {"parallelism": "1"})
    for name in ("a", "b", "c"):
        await api.create(base.WORKFLOWS, _wf(name, SUSPEND), namespace=NS)
        clock.advance(1.0)
    async with _running(api, clock):
        await _run_for(clock, settle, 5)
        assert (await _status(api, "a"))["phase"] == "Running"
        for name in ("b", "c"):
            status = await _status(api, name)
            assert (status.get("phase"), status.get("message")) == ("Pending", POSTPONED_MESSAGE)
        await _configmap(api, {"parallelism": "2"})
        await settle(200)  # no clock step: the ConfigMap event alone starts b
        assert (await _status(api, "b"))["phase"] == "Running"
        assert (await _status(api, "c"))["message"] == POSTPONED_MESSAGE
        await _configmap(api, {"parallelism": "0"})  # 0: no limit
        await settle(200)
        assert (await _status(api, "c"))["phase"] == "Running"


async def test_restarted_process_counts_running_workflows_and_admits_when_one_ends(settle):
    clock = FakeClock(1_800_000_000.0)
    api = EmbeddedApi(clock=clock)
    await _configmap(api, {"config": "parallelism: 1\n"})
    await api.create(base.WORKFLOWS, _wf("z-running", SUSPEND), namespace=NS)
    async with _running(api, clock):
        await _run_for(clock, settle, 3)
        assert (await _status(api, "z-running"))["phase"] == "Running"
    await api.create(base.WORKFLOWS, _wf("a-new", POD), namespace=NS)  # listed before z-running
    async with _running(api, clock):
        await _run_for(clock, settle, 3)
        status = await _status(api, "a-new")
        assert (status.get("phase"), status.get("message")) == ("Pending", POSTPONED_MESSAGE)
        await api.delete(base.WORKFLOWS, "z-running", namespace=NS)
        await _run_for(clock, settle, 2)
        pods = (await api.list(base.PODS, namespace=NS)).items
        assert [p["metadata"]["labels"]["workflows.argoproj.io/workflow"] for p in pods] == ["a-new"]
