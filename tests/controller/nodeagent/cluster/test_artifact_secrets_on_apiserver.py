"""Artifact credentials through a real kube-apiserver: the controller (`Engine` over `HttpApi`)
builds pods whose Secret volumes the real server validates and stores, and the node agent, playing
the kubelet, mounts them -- the only way the executor gets the S3 keys. A Secret name with a dot
(no valid volume name, as Argo would use it) gets a derived volume name the server accepts."""
from __future__ import annotations

import asyncio
import base64
import copy

import pytest

from tiphys.controller.api import PODS, SECRETS, WORKFLOWS
from tiphys.controller.clock import RealClock
from tiphys.controller.local import wait_completed
from tiphys.controller.nodeagent import NodeAgent
from tiphys.core.plan import _podvolumes

from ..test_artifact_secrets import _bucket, nodes_of, s3_workflow

pytestmark = pytest.mark.cluster
pytest.importorskip("tiphys.controller.engine", reason="the controller engine is not there yet")
from tiphys.controller.engine import Engine  # noqa: E402

SECRET = "s3.creds"  # a valid Secret name, not a valid volume name


def _run(cluster, ns: str, tmp_path, server, name: str, bucket: str) -> tuple[dict, list[dict]]:
    from tiphys.controller.api.http import HttpApi

    async def main() -> tuple[dict, list[dict]]:
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        agent = NodeAgent(api, clock=RealClock(), node_name=f"agent-{ns}"[:63], namespace=ns, root_dir=tmp_path)
        engine = Engine(api, clock=RealClock(), namespace=ns, workers=2)
        await agent.start()
        await engine.start()
        try:
            await api.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET}, "data": {
                "accesskey": base64.b64encode(server.access_key.encode()).decode(),
                "secretkey": base64.b64encode(server.secret_key.encode()).decode()}}, namespace=ns)
            await api.create(WORKFLOWS, s3_workflow(name, server, bucket, secret=SECRET, namespace=ns), namespace=ns)
            final = await wait_completed(api, name, ns, timeout=180)
            pods = list((await api.list(PODS, namespace=ns)).items)
            return final, pods
        finally:
            await engine.stop()
            await agent.stop()
            await api.close()

    return asyncio.run(asyncio.wait_for(main(), 240))


def _logs(tmp_path, ns: str, node: dict):
    suffix = "-" + node["id"].rsplit("-", 1)[1]
    (found,) = [p for p in (tmp_path / "logs" / ns).iterdir() if p.name.endswith(suffix)]
    return found


def test_s3_artifacts_with_a_secret_through_the_real_apiserver(cluster, cluster_namespace, s3_server, tmp_path):
    """Output stored by `wait`, input loaded by `init`, the bucket listed by a data pod's main: all
    with the keys of Secret `s3.creds`, mounted from the pod spec the server stored."""
    ns = cluster_namespace
    final, pods = _run(cluster, ns, tmp_path, s3_server, "s3-secrets", _bucket(s3_server))
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    (consume,) = nodes_of(final, "consume")
    assert (_logs(tmp_path, ns, consume) / "main.log").read_text() == "through the secret volume\n"
    (listing,) = nodes_of(final, "list")
    assert listing["outputs"]["result"] == '["run/msg.tgz"]'
    # what the server holds: one Secret volume, mounted read-only in init and wait (main of data)
    assert len(pods) == 3
    for pod in pods:
        (vol,) = [v for v in pod["spec"]["volumes"] if "secret" in v]
        assert vol["secret"]["secretName"] == SECRET and vol["name"].startswith("secret-s3-creds-")
        mounted = {c["name"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]
                   for m in c.get("volumeMounts") or () if m["name"] == vol["name"]
                   and m["mountPath"] == f"/argo/secret/{SECRET}" and m.get("readOnly")}
        data_pod = any("data" in (c.get("command") or ()) for c in pod["spec"]["containers"])
        assert mounted == ({"init", "main"} if data_pod else {"init", "wait"}), pod["metadata"]["name"]


def test_without_the_secret_volumes_the_workflow_fails_naming_the_secret(cluster, cluster_namespace, s3_server,
                                                                          tmp_path, monkeypatch):
    """The same workflow with the pod builder's Secret volumes switched off: the Secret is in the
    namespace, yet `wait` cannot store the output and says which Secret is not mounted."""
    monkeypatch.setattr(_podvolumes, "add_secret_volumes", lambda *a, **kw: None)
    ns = cluster_namespace
    final, _ = _run(cluster, ns, tmp_path, s3_server, "s3-no-volume", _bucket(s3_server))
    assert final["status"]["phase"] in ("Failed", "Error")
    (produce,) = nodes_of(final, "produce")
    assert produce["phase"] in ("Failed", "Error") and produce["message"] == "wait: Error (exit code 1)"
    assert f"secret {SECRET}/accesskey is not mounted under /argo/secret" in \
        (_logs(tmp_path, ns, produce) / "wait.log").read_text()
    assert not nodes_of(final, "consume")


def test_the_server_refuses_argos_volume_name_for_a_dotted_secret_and_takes_ours(cluster, cluster_namespace):
    """Why the derived name: a volume named after Secret `s3.creds`, as Argo names it, is refused
    (a volume name is a DNS label); the pod tiphys builds for the same artifact is stored."""
    from tiphys.controller.api.errors import Invalid
    from tiphys.controller.api.http import HttpApi
    from tiphys.core.plan.meta import PodSettings, WorkflowMeta
    from tiphys.core.plan.podspec import build_pod

    ns = cluster_namespace
    art = {"name": "in", "path": "/in", "s3": {"endpoint": "s3:9000", "bucket": "b", "key": "k",
                                              "accessKeySecret": {"name": SECRET, "key": "accesskey"}}}
    pod = build_pod({"name": "t", "container": {"image": "busybox", "command": ["true"]},
                     "inputs": {"artifacts": [art]}},
                    meta=WorkflowMeta(name="wf", namespace=ns, uid="u-1"), spec={}, node_id="wf-1", node_name="wf",
                    pod_name="wf-1", settings=PodSettings())
    pod["metadata"].pop("ownerReferences")  # no such Workflow here: only the spec is on trial
    argo_named = copy.deepcopy(pod)
    argo_named["metadata"]["name"] = "wf-argo-named"
    ours = next(v["name"] for v in pod["spec"]["volumes"] if "secret" in v)
    argo_named["spec"]["volumes"] = [{**v, "name": SECRET} if v["name"] == ours else v for v in pod["spec"]["volumes"]]
    for c in argo_named["spec"]["initContainers"] + argo_named["spec"]["containers"]:
        c["volumeMounts"] = [{**m, "name": SECRET} if m["name"] == ours else m for m in c.get("volumeMounts") or ()]
    for body in (pod, argo_named):
        body["spec"]["nodeName"] = "nowhere"  # no agent runs here: nothing starts them

    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        try:
            with pytest.raises(Invalid) as refused:
                await api.create(PODS, argo_named, namespace=ns)
            stored = await api.create(PODS, pod, namespace=ns)
            return refused.value, stored
        finally:
            await api.close()

    refused, stored = asyncio.run(asyncio.wait_for(main(), 60))
    assert f"spec.volumes[3].name: Invalid value: \"{SECRET}\"" in str(refused), str(refused)
    assert [v["name"] for v in stored["spec"]["volumes"] if "secret" in v] == [ours]
