"""The node agent against a real kube-apiserver through `HttpApi`: bind (Binding objects, since a
real server refuses spec.nodeName patches), run, write status, and finish graceful deletions."""
from __future__ import annotations

import asyncio
import time

import pytest

from tiphys.controller.api import NODES, PODS, NotFound
from tiphys.controller.clock import RealClock
from tiphys.controller.nodeagent import NodeAgent

pytestmark = pytest.mark.cluster


def _pod(name: str, script: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox",
                                                               "command": ["sh", "-c", script]}], **spec}}


async def _until(api, name: str, ns: str, predicate, timeout: float = 60.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            obj = await api.get(PODS, name, namespace=ns)
        except NotFound:
            obj = None
        if predicate(obj):
            return obj
        assert time.monotonic() < deadline, f"pod {name}: condition never met, last {obj and obj.get('status')}"
        await asyncio.sleep(0.05)


def test_agent_runs_binds_and_deletes_on_a_real_apiserver(cluster, cluster_namespace, tmp_path):
    from tiphys.controller.api.http import HttpApi

    ns = cluster_namespace
    node = f"agent-{ns}"[:63]

    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        agent = NodeAgent(api, clock=RealClock(), node_name=node, namespace=ns, root_dir=tmp_path)
        await agent.start()
        try:
            await api.create(PODS, _pod("unbound", "echo bound by a Binding; exit 3"), namespace=ns)
            await api.create(PODS, _pod("prebound", "echo $HOSTNAME", nodeName=node), namespace=ns)
            await api.create(PODS, _pod("long", "sleep 300"), namespace=ns)
            done = lambda p: p is not None and p["status"].get("phase") in ("Succeeded", "Failed")  # noqa: E731
            unbound = await _until(api, "unbound", ns, done)
            prebound = await _until(api, "prebound", ns, done)
            await _until(api, "long", ns, lambda p: p is not None and p["status"].get("phase") == "Running")
            marked = await api.delete(PODS, "long", namespace=ns)
            gone = await _until(api, "long", ns, lambda p: p is None, timeout=30)
            registered = await api.get(NODES, node)
            await api.delete(NODES, node)
            return unbound, prebound, marked, gone, registered
        finally:
            await agent.stop()
            await api.close()

    unbound, prebound, marked, gone, registered = asyncio.run(asyncio.wait_for(main(), 120))
    assert unbound["spec"]["nodeName"] == node and unbound["status"]["phase"] == "Failed"
    term = unbound["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert {c["type"]: c["status"] for c in unbound["status"]["conditions"]}["PodScheduled"] == "True"
    assert prebound["status"]["phase"] == "Succeeded" and prebound["status"]["podIP"] == "127.0.0.1"
    assert (tmp_path / "logs" / ns / "prebound" / "main.log").read_text() == "prebound\n"
    assert "deletionTimestamp" in marked["metadata"] and gone is None
    assert registered["status"]["conditions"][0]["type"] == "Ready"
