"""`argoexec resource` as in a real pod: the in-cluster client (service-account token + CA,
discovery) against a real kube-apiserver with Argo's CRDs."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tiphys.executor.kube import InClusterClient, api_sink
from tiphys.executor.resource import ResourceSettings, run_resource

pytestmark = pytest.mark.cluster


@pytest.fixture
def pod_env(cluster, tmp_path: Path) -> dict[str, str]:
    """What a pod has: the service host/port variables and a service-account directory."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(cluster.admin_token)
    (account / "ca.crt").write_bytes(Path(cluster.ca_cert).read_bytes())
    url = urlsplit(cluster.server)
    return {"KUBERNETES_SERVICE_HOST": url.hostname, "KUBERNETES_SERVICE_PORT": str(url.port or 443),
            "TIPHYS_SERVICE_ACCOUNT_DIR": str(account)}


def _owner(cluster, ns: str) -> str:
    """The Workflow that owns the task results (else the garbage collector removes them)."""
    wf = cluster.rest().post(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows",
                             {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"},
                              "spec": {"entrypoint": "main"}})
    return wf["metadata"]["uid"]


def _run(template: dict, action: str, env: dict, ns: str, logs: list[str], uid: str):
    settings = ResourceSettings(node_id="wf-1", workflow_name="wf", workflow_uid=uid, namespace=ns,
                                poll_interval=0.2)

    async def go():
        async with InClusterClient.from_env(env, account_dir=Path(env["TIPHYS_SERVICE_ACCOUNT_DIR"])) as client:
            return await run_resource(template, action, client, settings, sink=api_sink(client), log=logs.append)
    return asyncio.run(go())


def test_actions_discovery_and_task_results_on_a_real_apiserver(cluster, cluster_namespace, pod_env):
    """create (generateName) -> strategic patch (real) -> get with a condition -> delete by
    selector; a CRD (Workflow) found by discovery; outputs reach a WorkflowTaskResult."""
    ns, logs = cluster_namespace, []
    rest = cluster.rest()
    uid = _owner(cluster, ns)
    out = _run({"resource": {"action": "create", "manifest":
                             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: made-\n"
                             "  labels: {cleanup: 'yes'}\ndata:\n  k: v\n"},
                "outputs": {"parameters": [{"name": "n", "valueFrom": {"jsonPath": "{.metadata.name}"}}]}},
               "create", pod_env, ns, logs, uid)
    assert out.exit_code == 0, out.message
    name = out.resource.split("/", 1)[1]
    assert name.startswith("made-")
    tr = rest.get(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtaskresults/wf-1")
    assert tr["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert tr["outputs"]["parameters"][0]["value"] == name

    out = _run({"resource": {"action": "patch", "flags": ["configmaps", name],
                             "manifest": "metadata:\n  annotations:\n    foo: bar\n"}}, "patch", pod_env, ns, logs, uid)
    assert out.exit_code == 0, out.message
    assert rest.get(f"/api/v1/namespaces/{ns}/configmaps/{name}")["metadata"]["annotations"] == {"foo": "bar"}

    out = _run({"resource": {"action": "create", "manifest":
                             "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: child\n"
                             "spec:\n  entrypoint: main\n"}}, "create", pod_env, ns, logs, uid)
    assert out.exit_code == 0, out.message
    out = _run({"resource": {"action": "get", "flags": ["wf", "child"], "successCondition": "spec.entrypoint == main"}},
               "get", pod_env, ns, logs, uid)
    assert out.exit_code == 0, out.message
    out = _run({"resource": {"action": "patch", "flags": ["wf", "child"], "manifest": "spec:\n  x: 1\n"}},
               "patch", pod_env, ns, logs, uid)
    assert out.exit_code == 64 and "UnsupportedMediaType" in out.message  # strategic on a CRD, as kubectl

    out = _run({"resource": {"action": "delete", "flags": ["configmap", "-l", "cleanup=yes"]}}, "delete", pod_env, ns, logs, uid)
    assert out.exit_code == 0, out.message
    assert [c["metadata"]["name"] for c in rest.get(f"/api/v1/namespaces/{ns}/configmaps")["items"]
            if c["metadata"]["name"].startswith("made-")] == []
    out = _run({"resource": {"action": "create", "manifest":
                             "apiVersion: route.openshift.io/v1\nkind: Route\nmetadata:\n  name: r\n"}},
               "create", pod_env, ns, logs, uid)
    assert out.exit_code == 64 and 'no matches for kind "Route"' in out.message


def test_entry_point_as_a_process(cluster, cluster_namespace, pod_env, tmp_path):
    """`python -m tiphys.executor resource get`: exit 64 and the message for a missing object,
    the task result written through the API, completed."""
    ns = cluster_namespace
    uid = _owner(cluster, ns)
    template = {"resource": {"action": "get", "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nope\n"}}
    env = {**os.environ, **pod_env, "ARGO_TEMPLATE": json.dumps(template), "ARGO_NODE_ID": "wf-2",
           "ARGO_WORKFLOW_NAME": "wf", "ARGO_WORKFLOW_UID": uid, "ARGO_NAMESPACE": ns,
           "ARGO_VAR_RUN": str(tmp_path / "var-run")}
    env.pop("TIPHYS_TASK_RESULT_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "tiphys.executor", "resource", "get"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 64, proc.stderr
    assert 'Error from server (NotFound): configmaps "nope" not found' in proc.stdout
    tr = cluster.rest().get(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtaskresults/wf-2")
    assert tr["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"


def test_executor_role_plus_the_users_rights_suffice(cluster, cluster_namespace, pod_env):
    """With deploy/'s executor Role (task results: create, get, patch) and a Role the user grants
    on ConfigMaps, a resource template works; without the user's Role the API says Forbidden."""
    import yaml

    from tests.conftest import REPO
    ns, rest = cluster_namespace, cluster.rest()
    uid = _owner(cluster, ns)
    user = cluster.unprivileged
    executor_role = next(d for d in yaml.safe_load_all((REPO / "deploy" / "base" / "workflow-rbac.yaml").read_text())
                         if d and d["kind"] == "Role")
    rest.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", executor_role)
    name = executor_role["metadata"]["name"]
    rest.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "User", "name": user.name, "apiGroup": "rbac.authorization.k8s.io"}]})
    (Path(pod_env["TIPHYS_SERVICE_ACCOUNT_DIR"]) / "token").write_text(user.token)
    template = {"resource": {"action": "create", "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"},
                "outputs": {"parameters": [{"name": "n", "valueFrom": {"jsonPath": "{.metadata.name}"}}]}}
    logs: list[str] = []
    out = _run(template, "create", pod_env, ns, logs, uid)
    assert out.exit_code == 64 and "(Forbidden)" in out.message
    rest.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
        "metadata": {"name": "user-configmaps"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]}]})
    rest.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": "user-configmaps"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "user-configmaps"},
        "subjects": [{"kind": "User", "name": user.name, "apiGroup": "rbac.authorization.k8s.io"}]})
    for _ in range(50):  # RBAC caches: the grant reaches the authorizer within moments
        out = _run(template, "create", pod_env, ns, logs, uid)
        if out.exit_code == 0:
            break
        assert "(Forbidden)" in out.message
        time.sleep(0.1)
    assert out.exit_code == 0, out.message
    tr = rest.get(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtaskresults/wf-1")
    assert tr["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert tr["outputs"]["parameters"][0]["value"] == "c"
