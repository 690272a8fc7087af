"""The controller process on the real kube-apiserver: /readyz, and a /metrics page that carries every
name the Grafana dashboard queries, with the k8s request counts of a workflow's run."""
from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from tests.controller.process._scrape import dashboard_metric_names, exposed
from tiphys.controller.api import WORKFLOWS
from tiphys.controller.api.http import HttpApi, load_config
from tiphys.controller.clock import RealClock
from tiphys.controller.local import wait_completed
from tiphys.controller.main import ControllerProcess, Options

from ._control_plane import ControlPlane
from .test_leader import WF, BindingSimKubelet

pytestmark = pytest.mark.cluster


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


def test_metrics_and_readiness_against_the_apiserver(cluster: ControlPlane, cluster_namespace: str) -> None:
    ns = cluster_namespace
    wanted = dashboard_metric_names()
    options = Options(kubeconfig=str(cluster.kubeconfig), namespace=ns, lease_namespace=ns,
                      configmap=f"{ns}/workflow-controller-configmap", health_port=0, metrics_port=0,
                      # a Lease a stall on a loaded machine cannot take away mid-test (is_leader is asserted)
                      bind_address="127.0.0.1", lease_duration=15.0, renew_deadline=10.0, retry_period=1.0,
                      workflow_workers=4, status_interval=0.2)

    async def main() -> str:
        clock = RealClock()
        proc = ControllerProcess(options, api=HttpApi(load_config(kubeconfig=cluster.kubeconfig)), clock=clock)
        run = asyncio.ensure_future(proc.run())
        test_api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        kubelet = BindingSimKubelet(test_api, cluster.rest(), clock=clock, namespace=ns)
        try:
            for _ in range(1200):  # a wait, not a speed limit
                if proc.health.port and (await _get(proc.health.port, "/readyz")) == (200, "leading\n"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"never ready: {proc.readiness()}")
            await kubelet.start()
            await test_api.create(WORKFLOWS, WF, namespace=ns)
            done = await wait_completed(test_api, "handover", ns, timeout=120)
            assert done["status"]["phase"] == "Succeeded"
            status, text = await _get(proc.metrics_server.port, "/metrics")
            assert status == 200
            return text
        finally:
            proc.stop()
            assert await run == 0
            await kubelet.stop()
            await test_api.close()

    text = asyncio.run(asyncio.wait_for(main(), 400))
    samples = exposed(text)
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for name in wanted:
        assert name in samples or name in families or re.sub(r"_(sum|count)$", "", name) in families, name
    assert ('{status="Succeeded"}', 1.0) in samples["argo_workflows_count"]
    requests = {labels: v for labels, v in samples["argo_workflows_k8s_request_total"]}
    assert requests['{kind="Pod",verb="Create",status_code="201"}'] == 3.0
    assert requests['{kind="Workflow",verb="Update",status_code="200"}'] >= 1
    assert any('kind="Lease"' in labels for labels in requests)
    assert samples["argo_workflows_is_leader"] == [("", 1.0)]
