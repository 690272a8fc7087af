"""The deployed controller process runs CronWorkflows (wired in `tiphys.controller.main`)."""
from __future__ import annotations

import asyncio

from tiphys.controller.api import EmbeddedApi, base
from tiphys.controller.clock import FakeClock
from tiphys.controller.main import ControllerProcess, Options, parse_args
from tiphys.core.cron import CRON_LABEL

CRON = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {"schedules": ["*/2 * * * *"], "workflowSpec": {"entrypoint": "main", "templates": [
            {"name": "main", "container": {"image": "busybox", "command": ["true"]}}]}}}


async def test_controller_process_runs_cron_workflows(settle):
    clock = FakeClock(1_800_000_000.0)  # 08:00:00 UTC, an even minute
    api = EmbeddedApi(clock=clock)
    await api.create(base.CRON_WORKFLOWS, CRON, namespace="default")
    proc = ControllerProcess(Options(health_port=0, metrics_port=0, bind_address="127.0.0.1", leader_elect=False,
                                     embedded=":memory:", sim_kubelet=True, workflow_workers=2,
                                     cron_workflow_workers=1),
                             api=api, clock=clock)
    run = asyncio.ensure_future(proc.run())
    try:
        for _ in range(4 * 60 + 10):  # four minutes of fake time, a second at a time
            await settle(40)
            clock.advance(1.0)
        await settle(40)
        names = sorted(w["metadata"]["name"] for w in (await api.list(
            base.WORKFLOWS, namespace="default", label_selector=f"{CRON_LABEL}=tick")).items)
        assert names == ["tick-1800000120", "tick-1800000240"]
        cron = await api.get(base.CRON_WORKFLOWS, "tick", namespace="default")
        assert cron["status"]["lastScheduledTime"] == "2027-01-15T08:04:00Z"
        assert proc.readiness() == (True, "ready")
    finally:
        proc.stop()
        assert await asyncio.wait_for(run, 60) == 0


def test_cron_workers_flag():
    assert parse_args(["--cron-workflow-workers", "3"]).cron_workflow_workers == 3
    assert parse_args([]).cron_workflow_workers == 8
