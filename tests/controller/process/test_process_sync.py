"""The deployed controller process (`tiphys.controller.main`) serves synchronization as the
engine does: semaphore limits from their ConfigMaps, and the lock table rebuilt from
status.synchronization before its workers reconcile anything after a restart."""
from __future__ import annotations

import asyncio

from tiphys.controller.api import EmbeddedApi, base
from tiphys.controller.clock import FakeClock
from tiphys.controller.main import ControllerProcess, Options

NS = "default"


def _wf(name: str, sync: dict) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"entrypoint": "main", "synchronization": sync, "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["true"]}}]}}


def _process(api: EmbeddedApi, clock: FakeClock, *, kubelet: bool) -> ControllerProcess:
    return ControllerProcess(Options(health_port=0, metrics_port=0, bind_address="127.0.0.1", leader_elect=False,
                                     embedded=":memory:", sim_kubelet=kubelet, workflow_workers=2,
                                     cron_workflow_workers=1), api=api, clock=clock)


async def _run_for(proc: ControllerProcess, clock: FakeClock, settle, seconds: int) -> None:
    for _ in range(seconds):
        await settle(40)
        clock.advance(1.0)
    await settle(40)


async def _stop(proc: ControllerProcess, run: asyncio.Future) -> None:
    proc.stop()
    assert await asyncio.wait_for(run, 60) == 0


async def _pods(api: EmbeddedApi, workflow: str) -> list[dict]:
    return (await api.list(base.PODS, namespace=NS,
                           label_selector=f"workflows.argoproj.io/workflow={workflow}")).items


async def test_semaphore_limit_is_read_from_its_configmap(settle):
    clock = FakeClock(1_800_000_000.0)
    api = EmbeddedApi(clock=clock)
    await api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "my-config", "namespace": NS},
                                        "data": {"workflow": "1"}}, namespace=NS)
    await api.create(base.WORKFLOWS, _wf("sem", {"semaphores": [
        {"configMapKeyRef": {"name": "my-config", "key": "workflow"}}]}), namespace=NS)
    proc = _process(api, clock, kubelet=True)
    run = asyncio.ensure_future(proc.run())
    try:
        await _run_for(proc, clock, settle, 20)
        status = (await api.get(base.WORKFLOWS, "sem", namespace=NS)).get("status") or {}
        assert status.get("phase") == "Succeeded", status.get("message")
    finally:
        await _stop(proc, run)


async def test_restart_rebuilds_holdings_before_reconciling(settle):
    clock = FakeClock(1_800_000_000.0)
    api = EmbeddedApi(clock=clock)
    mutex = {"mutexes": [{"name": "only-one"}]}
    await api.create(base.WORKFLOWS, _wf("a", mutex), namespace=NS)
    proc = _process(api, clock, kubelet=False)  # no kubelet: a's pod stays Pending, a keeps the mutex
    run = asyncio.ensure_future(proc.run())
    try:
        await _run_for(proc, clock, settle, 5)
        assert len(await _pods(api, "a")) == 1
    finally:
        await _stop(proc, run)
    held = (await api.get(base.WORKFLOWS, "a", namespace=NS))["status"]["synchronization"]
    assert held == {"mutex": {"holding": [{"mutex": f"{NS}/Mutex/only-one", "holder": "a"}]}}
    await api.create(base.WORKFLOWS, _wf("b", mutex), namespace=NS)
    proc = _process(api, clock, kubelet=False)
    run = asyncio.ensure_future(proc.run())
    try:
        await _run_for(proc, clock, settle, 5)
        assert await _pods(api, "b") == []
        status = (await api.get(base.WORKFLOWS, "b", namespace=NS))["status"]
        assert status["phase"] == "Pending"
        assert status["message"] == f"Waiting for {NS}/Mutex/only-one lock. Lock status: 0/1"
    finally:
        await _stop(proc, run)
