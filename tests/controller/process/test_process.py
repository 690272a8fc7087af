"""The controller process in-process on the embedded API: metrics page, readiness, stop, standby."""
from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import msgspec

from tiphys.controller import logs
from tiphys.controller.api import LEASES, PODS, WORKFLOWS, EmbeddedApi, base
from tiphys.controller.clock import RealClock
from tiphys.controller.local import wait_completed
from tiphys.controller.main import ControllerProcess, Options

from ._scrape import dashboard_metric_names, exposed

WF = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
      "metadata": {"name": "hello", "namespace": "default"},
      "spec": {"entrypoint": "main", "templates": [
          {"name": "main", "steps": [[{"name": "a", "template": "echo"}, {"name": "b", "template": "echo"}]]},
          {"name": "echo", "container": {"image": "busybox", "command": ["echo", "hi"]}}]}}
# A Lease a stalled process cannot lose by accident (a 2 s renew deadline was within reach of a loaded
# machine, and a leader losing it mid-test fails the test); no test here waits for one to expire:
# hand-overs go through a release, taken at the next 0.5 s retry. Only the test of a lost Lease
# keeps a 2 s renew deadline (how long a leader keeps trying once a thief holds it), and there an
# accidental loss ends the same way.
FAST = dict(health_port=0, metrics_port=0, bind_address="127.0.0.1", lease_duration=15.0, renew_deadline=10.0,
            retry_period=0.5, namespace=None, workflow_workers=4, status_interval=0.05)


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


async def _until(predicate, timeout: float = 60.0) -> None:  # a wait, not a speed limit
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


class GatedApi(base.Api):
    """Holds every workflow list until `gate` opens (an informer that cannot sync yet)."""

    def __init__(self, inner: base.Api) -> None:
        self.inner, self.gate = inner, asyncio.Event()

    async def get(self, *a, **k):
        return await self.inner.get(*a, **k)

    async def list(self, resource, /, **k):
        if resource is WORKFLOWS:
            await self.gate.wait()
        return await self.inner.list(resource, **k)

    def watch(self, *a, **k):
        return self.inner.watch(*a, **k)

    async def create(self, *a, **k):
        return await self.inner.create(*a, **k)

    async def update(self, *a, **k):
        return await self.inner.update(*a, **k)

    async def patch(self, *a, **k):
        return await self.inner.patch(*a, **k)

    async def delete(self, *a, **k):
        return await self.inner.delete(*a, **k)

    async def delete_collection(self, *a, **k):
        return await self.inner.delete_collection(*a, **k)


async def test_metrics_page_has_every_dashboard_metric_and_real_values():
    """Run a workflow, then scrape: each name the Grafana dashboard queries is there, fed by it."""
    wanted = dashboard_metric_names()
    assert {"argo_workflows_count", "argo_workflows_queue_depth_count", "log_messages"} <= wanted
    counter = logs.LevelCounter()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(counter)
    proc = ControllerProcess(Options(**FAST, sim_kubelet=True), api=EmbeddedApi(), clock=RealClock(),
                             log_counter=counter)
    run = asyncio.ensure_future(proc.run())
    try:
        await _until(lambda: proc.readiness()[0])
        await proc.api.create(WORKFLOWS, WF, namespace="default")
        done = await wait_completed(proc.api, "hello", "default", timeout=60)
        assert done["status"]["phase"] == "Succeeded"
        status, text = await _get(proc.metrics_server.port, "/metrics")
    finally:
        proc.stop()
        assert await run == 0
        root.removeHandler(counter)
        root.setLevel(old_level)
    assert status == 200
    samples = exposed(text)
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    present = set(samples) | families
    for name in wanted:
        # a histogram the dashboard reads as name_sum/name_count is exposed as that family
        base_name = re.sub(r"_(sum|count|bucket)$", "", name)
        assert name in present or base_name in families, f"dashboard metric {name} missing"
    assert ('{status="Succeeded"}', 1.0) in samples["argo_workflows_count"]
    assert ('{phase="Succeeded"}', 1.0) in samples["argo_workflows_gauge"]
    assert samples["argo_workflows_operation_duration_seconds_count"][0][1] >= 1
    assert samples["argo_workflows_queue_adds_count"][0][1] >= 1
    assert sum(v for _, v in samples["argo_workflows_queue_latency_count"]) >= 1
    assert ('{queue_name="workflow_queue"}', 0.0) in samples["argo_workflows_queue_depth_count"]
    assert samples["tiphys_pods_created_total"][0][1] == 2
    assert samples["tiphys_status_writes_total"][0][1] >= 1
    assert samples["tiphys_plan_cpu_seconds_total"][0][1] > 0
    assert ('{phase="Succeeded",namespace="default"}', 1.0) in samples["argo_workflows_total_count"]
    creates = [v for labels, v in samples["argo_workflows_k8s_request_total"]
               if 'kind="Pod"' in labels and 'verb="Create"' in labels and 'status_code="201"' in labels]
    assert creates == [2.0]
    assert samples["argo_workflows_is_leader"] == [("", 1.0)]
    assert any('level="info"' in labels and v > 0 for labels, v in samples["log_messages"])
    # counters keep Argo's exact names: no `_total` appended to the family
    assert "# TYPE argo_workflows_queue_adds_count counter" in text


async def test_readyz_flips_when_the_informers_sync():
    """/healthz answers at once; /readyz is 503 naming the unsynced informer, then 200."""
    gated = GatedApi(EmbeddedApi())
    proc = ControllerProcess(Options(**FAST), api=gated, clock=RealClock())
    run = asyncio.ensure_future(proc.run())
    try:
        await _until(lambda: proc.health.port is not None and proc.engine is not None)
        assert await _get(proc.health.port, "/healthz") == (200, "ok\n")
        status, body = await _get(proc.health.port, "/readyz")
        assert status == 503 and "workflows" in body
        gated.gate.set()
        await _until(lambda: proc.readiness()[0])
        await _until(lambda: proc.elector is not None and proc.elector.is_leader)
        assert await _get(proc.health.port, "/readyz") == (200, "leading\n")
    finally:
        gated.gate.set()
        proc.stop()
        assert await run == 0


async def test_only_the_leader_works_and_sigterm_hands_over():
    """Two processes on one store: the standby is ready but idle (is_leader 0, no pods made by it);
    stopping the leader releases the Lease and the standby takes over and runs new workflows."""
    store = EmbeddedApi()
    opts = Options(**{**FAST, "sim_kubelet": False})
    first = ControllerProcess(msgspec_replace(opts, identity="one", sim_kubelet=True), api=store, clock=RealClock())
    second = ControllerProcess(msgspec_replace(opts, identity="two"), api=store, clock=RealClock())
    run1 = asyncio.ensure_future(first.run())
    await _until(lambda: first.elector is not None and first.elector.is_leader)
    run2 = asyncio.ensure_future(second.run())
    try:
        await _until(lambda: second.readiness() == (True, "standing by"))
        await store.create(WORKFLOWS, WF, namespace="default")
        await wait_completed(store, "hello", "default", timeout=60)
        assert second.engine.reconciler.applier.pods_created == 0
        assert first.engine.reconciler.applier.pods_created == 2
        assert second.metrics.exposition().count(b"argo_workflows_is_leader 0.0") == 1
        first.stop()
        assert await run1 == 0
        lease = await store.get(LEASES, "workflow-controller", namespace="default")
        assert lease["spec"]["holderIdentity"] in ("", "two")
        await _until(lambda: second.elector.is_leader)
        wf2 = {**WF, "metadata": {"name": "again", "namespace": "default"}}
        await store.create(WORKFLOWS, wf2, namespace="default")
        await _until(lambda: second.engine.reconciler.applier.pods_created == 2)
        pods = (await store.list(PODS, namespace="default")).items
        names = [p["metadata"]["name"] for p in pods]
        assert len(names) == len(set(names)) == 4
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(run1, run2)


def msgspec_replace(options: Options, **changes) -> Options:
    return msgspec.structs.replace(options, **changes)


async def test_lost_leadership_exits_1():
    """When another identity takes the Lease, the leader stops its workers and run() returns 1."""
    store = EmbeddedApi()
    proc = ControllerProcess(Options(**{**FAST, "lease_duration": 3.0, "renew_deadline": 2.0}, identity="me"),
                             api=store, clock=RealClock())
    run = asyncio.ensure_future(proc.run())
    await _until(lambda: proc.elector is not None and proc.elector.is_leader)
    lease = await store.get(LEASES, "workflow-controller", namespace="default")
    lease["spec"]["holderIdentity"] = "thief"
    await store.update(LEASES, lease, namespace="default")
    assert await asyncio.wait_for(run, 60) == 1


async def test_configmap_settings_are_hot_reloaded_into_the_reconciler():
    store = EmbeddedApi()
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "workflow-controller-configmap", "namespace": "default"},
          "data": {"executor": "image: first:1\n", "persistence": "archive: true\n",
                   "resourceRateLimit": "limit: 5\nburst: 2\n", "initialDelay": "30s"}}
    await store.create(base.CONFIG_MAPS, cm, namespace="default")
    proc = ControllerProcess(Options(**FAST, leader_elect=False), api=store, clock=RealClock())
    run = asyncio.ensure_future(proc.run())
    try:
        await _until(lambda: proc.readiness() == (True, "ready"))
        assert proc.engine.reconciler.settings.executor_image == "first:1"
        assert proc.pod_limiter.limit == (5.0, 2) and proc.engine.queue.initial_delay == 30.0
        live = await store.get(base.CONFIG_MAPS, "workflow-controller-configmap", namespace="default")
        live["data"]["executor"] = "image: second:2\n"
        del live["data"]["resourceRateLimit"]
        await store.update(base.CONFIG_MAPS, live, namespace="default")
        await _until(lambda: proc.engine.reconciler.settings.executor_image == "second:2")
        assert proc.pod_limiter.limit is None
        text = proc.metrics.exposition().decode()
        assert 'tiphys_config_unsupported_keys{key="persistence",reason="unsupported"} 1.0' in text
        assert "argo_workflows_is_leader 1.0" in text  # no election: this replica is the leader
    finally:
        proc.stop()
        assert await run == 0


async def test_running_workflow_shows_in_gauges_and_status_size():
    """Without a kubelet the pods stay Pending: the workflow counts as Running, its pods as Pending,
    and the held status has a size."""
    proc = ControllerProcess(Options(**FAST), api=EmbeddedApi(), clock=RealClock())
    run = asyncio.ensure_future(proc.run())
    try:
        await _until(lambda: proc.elector is not None and proc.elector.is_leader)
        await proc.api.create(WORKFLOWS, WF, namespace="default")
        await _until(lambda: proc.engine.reconciler.applier.pods_created == 2)
        await _until(lambda: b'argo_workflows_gauge{phase="Running"} 1.0' in proc.metrics.exposition())
        samples = exposed(proc.metrics.exposition().decode())
    finally:
        proc.stop()
        assert await run == 0
    assert ('{phase="Pending"}', 2.0) in samples["argo_workflows_pods_gauge"]
    assert ('{phase="Pending",namespace="default"}', 2.0) in samples["argo_workflows_pods_total_count"]
    sizes = dict(samples["tiphys_status_bytes"])
    assert sizes['{stat="sum"}'] >= sizes['{stat="max"}'] > 100
    assert samples["argo_workflows_workers_busy_count"] == [('{worker_type="workflow"}', 0.0)]
