"""retryStrategy.affinity.nodeAntiAffinity end to end: the simulated kubelet puts each attempt on
a new host, and every retry's pod keeps off the hosts the earlier attempts ran on."""
from __future__ import annotations

from tests.controller.engine.fakecluster import FakeCluster
from tiphys.controller.simkubelet import SimOutcome

HOSTNAME = "kubernetes.io/hostname"


def workflow() -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "anti"},
            "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "retryStrategy": {"limit": 3, "affinity": {"nodeAntiAffinity": {}}},
                 "container": {"image": "busybox", "command": ["sh", "-c", "exit 1"]}}]}}


def _avoided(pod: dict) -> list[str]:
    terms = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    return [v for t in terms for e in t.get("matchExpressions") or ()
            if e["key"] == HOSTNAME and e["operator"] == "NotIn" for v in e["values"]]


async def test_each_retry_keeps_off_the_hosts_of_the_earlier_attempts():
    seen: list[list[str]] = []
    cluster: dict = {}

    def behaviour(pod: dict, template: dict) -> SimOutcome:
        seen.append(_avoided(pod))
        cluster["c"].kubelet.node_name = f"node-{len(seen)}"  # this attempt's host
        return SimOutcome(exit_code=1 if len(seen) < 3 else 0)

    async with FakeCluster(behaviour=behaviour) as c:
        cluster["c"] = c
        await c.submit(workflow())
        await c.until(lambda: c.completed("anti"))
        assert (await c.workflow("anti"))["status"]["phase"] == "Succeeded"
        assert seen == [[], ["node-1"], ["node-1", "node-2"]]
        nodes = await c.nodes("anti")
        assert [nodes[f"anti({k})"].host_node_name for k in range(3)] == ["node-1", "node-2", "node-3"]
