"""Resource-template pods run by the node agent against a real kube-apiserver (`HttpApi`): the
agent plays `argoexec resource` in-process; a strategic merge patch goes to the server as is."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from tiphys.controller.api import CONFIG_MAPS, PODS, WORKFLOW_TASK_RESULTS, WORKFLOWS
from tiphys.controller.clock import RealClock
from tiphys.controller.nodeagent import DEFAULT_EXECUTOR_IMAGE, NodeAgent

pytestmark = pytest.mark.cluster


def _resource_pod(name: str, action: str, template: dict, uid: str, ns: str) -> dict:
    env = {"ARGO_TEMPLATE": json.dumps(template), "ARGO_NODE_ID": f"wf-{name}", "ARGO_WORKFLOW_NAME": "wf",
           "ARGO_WORKFLOW_UID": uid, "ARGO_NAMESPACE": ns}
    main = {"name": "main", "image": DEFAULT_EXECUTOR_IMAGE,
            # as the controller builds it: the executor under Argo's emissary wrapper
            "command": ["/var/run/argo/argoexec", "emissary", "--", "tiphys-executor", "resource", action],
            "env": [{"name": k, "value": v} for k, v in env.items()]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [main]}}


async def _finished(api, name: str, ns: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        pod = await api.get(PODS, name, namespace=ns)
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return pod
        assert time.monotonic() < deadline, f"pod {name} never finished: {pod.get('status')}"
        await asyncio.sleep(0.05)


def test_resource_pods_on_a_real_apiserver(cluster, cluster_namespace, tmp_path):
    from tiphys.controller.api.http import HttpApi

    ns = cluster_namespace

    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        agent = NodeAgent(api, clock=RealClock(), node_name=f"agent-{ns}"[:63], namespace=ns, root_dir=tmp_path,
                          resource_poll_interval=0.1)
        await agent.start()
        try:
            wf = await api.create(WORKFLOWS, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                              "metadata": {"name": "wf"}, "spec": {"entrypoint": "x"}}, namespace=ns)
            uid = wf["metadata"]["uid"]
            await api.create(CONFIG_MAPS, {"metadata": {"name": "cm"}, "data": {"k": "v"}}, namespace=ns)
            patch = {"resource": {"action": "patch", "manifest":
                                  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  annotations: {a: b}\n"},
                     "outputs": {"parameters": [{"name": "k", "valueFrom": {"jsonPath": "{.data.k}"}}]}}
            missing = {"resource": {"action": "get", "flags": ["configmap", "nope"]}}
            await api.create(PODS, _resource_pod("patcher", "patch", patch, uid, ns), namespace=ns)
            await api.create(PODS, _resource_pod("failer", "get", missing, uid, ns), namespace=ns)
            patcher = await _finished(api, "patcher", ns)
            failer = await _finished(api, "failer", ns)
            cm = await api.get(CONFIG_MAPS, "cm", namespace=ns)
            result = await api.get(WORKFLOW_TASK_RESULTS, "wf-patcher", namespace=ns)
            return patcher, failer, cm, result
        finally:
            await agent.stop()
            await api.close()

    patcher, failer, cm, result = asyncio.run(asyncio.wait_for(main(), 120))
    assert patcher["status"]["phase"] == "Succeeded", patcher["status"]
    assert cm["metadata"]["annotations"] == {"a": "b"}
    assert result["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert result["outputs"]["parameters"] == [{"name": "k", "valueFrom": {"jsonPath": "{.data.k}"}, "value": "v"}]
    term = failer["status"]["containerStatuses"][0]["state"]["terminated"]
    assert failer["status"]["phase"] == "Failed" and term["exitCode"] == 64
    assert term["message"] == 'no more retries Error from server (NotFound): configmaps "nope" not found'
    assert 'configmaps "nope" not found' in (tmp_path / "logs" / ns / "failer" / "main.log").read_text()
