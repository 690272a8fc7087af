"""`wait` as in a real pod: outputs reach a WorkflowTaskResult through a real kube-apiserver.

The pod is the one the controller builds (`core.plan.podspec.build_pod`): the wait container's
environment is taken from it, downward-API fields filled in as the kubelet fills them. The
service-account mount is played by a directory holding a real token minted (TokenRequest) for
deploy/'s `tiphys-workflow` ServiceAccount, bound to deploy/'s executor Role and nothing else.
Main runs to completion through the real wrapper; `wait` runs as its own process.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.podspec import build_pod
from tiphys.executor import ExecutorPaths, WaitSettings, run_wait
from tiphys.executor.artifacts import ArtifactRepository, LocalDriver, RawDriver
from tiphys.executor.kube import InClusterClient, api_sink

from tests.cluster._rest import HttpStatusError
from tests.conftest import REPO

from .conftest import Emissary

pytestmark = pytest.mark.cluster

RBAC = "/apis/rbac.authorization.k8s.io/v1"
COMPLETED = "workflows.argoproj.io/report-outputs-completed"
NODE_ID = "wf-1234"


def _results(ns: str) -> str:
    return f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtaskresults"


def _can(rest, verb: str, ns: str) -> bool:
    review = rest.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": "argoproj.io", "resource": "workflowtaskresults",
                                        "namespace": ns}}})
    return bool(review["status"]["allowed"])


@pytest.fixture
def executor_token(cluster, cluster_namespace) -> str:
    """deploy/'s ServiceAccount, executor Role and binding in the namespace; a token minted for it."""
    ns, rest = cluster_namespace, cluster.rest()
    docs = [d for d in yaml.safe_load_all((REPO / "deploy" / "base" / "workflow-rbac.yaml").read_text()) if d]
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    role = next(d for d in docs if d["kind"] == "Role" and any(
        "workflowtaskresults" in r["resources"] for r in d["rules"]))
    binding = next(d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == role["metadata"]["name"])
    binding["subjects"] = [{**s, "namespace": ns} for s in binding["subjects"]]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": ns}]
    rest.post(f"/api/v1/namespaces/{ns}/serviceaccounts", account)
    rest.post(f"{RBAC}/namespaces/{ns}/roles", role)
    rest.post(f"{RBAC}/namespaces/{ns}/rolebindings", binding)
    token = rest.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{account['metadata']['name']}/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}})["status"]["token"]
    user = cluster.rest(token=token)
    deadline = time.monotonic() + 60  # RBAC reads bindings through an informer: wait for the grant
    while not _can(user, "create", ns):
        assert time.monotonic() < deadline, "the executor Role's grant never reached the authorizer"
        time.sleep(0.1)
    # the Role alone: it may create and patch task results, not replace them, and nothing else
    assert _can(user, "patch", ns) and not _can(user, "update", ns) and not _can(user, "delete", ns)
    return token


@pytest.fixture
def account_dir(cluster, tmp_path: Path, executor_token: str) -> Path:
    """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
    d = tmp_path / "serviceaccount"
    d.mkdir()
    (d / "token").write_text(executor_token)
    (d / "ca.crt").write_bytes(Path(cluster.ca_cert).read_bytes())
    return d


def _workflow(cluster, ns: str) -> str:
    """The Workflow owning the task result (the garbage collector would remove an orphan)."""
    wf = cluster.rest().post(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"},
        "spec": {"entrypoint": "main"}})
    return wf["metadata"]["uid"]


def _template(out: Path) -> dict[str, Any]:
    return {"name": "gen", "container": {"image": "python:3", "command": ["sh", "-c", "true"]},
            "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": str(out / "p.txt")}}]}}


def _pod_env(template: dict, *, ns: str, uid: str) -> dict[str, str]:
    """The wait container's environment in the pod the controller builds, as the kubelet fills it."""
    pod = build_pod(template, meta=WorkflowMeta(name="wf", namespace=ns, uid=uid),
                    spec={"serviceAccountName": "tiphys-workflow"}, node_id=NODE_ID, node_name="wf.gen",
                    pod_name="wf-gen-1234", settings=PodSettings(), include_script_output=True)
    assert pod["spec"]["serviceAccountName"] == "tiphys-workflow"
    assert pod["spec"].get("automountServiceAccountToken") is not False  # the token reaches `wait`
    wait = next(c for c in pod["spec"]["containers"] if c["name"] == "wait")
    fields = {"metadata.name": pod["metadata"]["name"], "metadata.uid": "pod-uid", "metadata.namespace": ns}
    return {e["name"]: e["value"] if "value" in e else fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            for e in wait["env"]}


def _process_env(template: dict, paths: ExecutorPaths, tmp_path: Path, cluster, account: Path, *,
                 ns: str, uid: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGO_", "TIPHYS_", "KUBERNETES_"))}
    env.update(_pod_env(template, ns=ns, uid=uid))
    url = urlsplit(cluster.server)
    env.update(ARGO_VAR_RUN=paths.var_run, ARGO_STAGING_DIR=paths.staging, ARGO_INPUTS_DIR=paths.inputs,
               ARGO_MAINCTRFS=paths.mainctrfs, ARGO_CONFIG_DIR=paths.config, ARGO_SECRETS_DIR=paths.secrets,
               ARGO_PROGRESS_FILE=str(tmp_path / "progress"), TIPHYS_ARTIFACT_DIR=str(tmp_path / "store"),
               KUBERNETES_SERVICE_HOST=url.hostname or "", KUBERNETES_SERVICE_PORT=str(url.port or 443),
               TIPHYS_SERVICE_ACCOUNT_DIR=str(account))
    return env


def _main(emissary: Emissary, template: dict, out: Path, value: str) -> None:
    """Main's command, through the wrapper: writes the parameter file and prints the result."""
    proc = emissary.run(["sh", "-c", f"mkdir -p {out} && printf '{value}\\n' > {out}/p.txt && echo said-{value}"],
                        template)
    assert proc.returncode == 0, proc.stderr


def _wait(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tiphys.executor", "wait"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_wait_reports_through_the_api_in_two_phases(cluster, cluster_namespace, account_dir, emissary, tmp_path):
    """No relay directory: `wait` creates the task result (`report-outputs-completed=false`, no
    outputs) while main runs, then writes main's outputs with the label `true` -- as the
    ServiceAccount bound to deploy/'s executor Role only, with the env the controller's pod gives."""
    ns, rest = cluster_namespace, cluster.rest()
    uid = _workflow(cluster, ns)
    out = tmp_path / "out"
    template = _template(out)
    wait = _wait(_process_env(template, emissary.paths, tmp_path, cluster, account_dir, ns=ns, uid=uid))
    try:
        deadline = time.monotonic() + 60
        while True:  # main has not run yet: the first phase must be visible in the API
            try:
                first = rest.get(f"{_results(ns)}/{NODE_ID}")
                break
            except HttpStatusError as exc:
                assert exc.status == 404 and wait.poll() is None, (exc, wait.poll())
                assert time.monotonic() < deadline, "wait never created the task result"
                time.sleep(0.05)
        assert first["metadata"]["labels"] == {"workflows.argoproj.io/workflow": "wf", COMPLETED: "false"}
        assert first["metadata"]["ownerReferences"] == [
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf", "uid": uid}]
        assert "outputs" not in first
        _main(emissary, template, out, "v1")
        _, stderr = wait.communicate(timeout=120)
    finally:
        if wait.poll() is None:
            wait.kill()
            wait.wait()
    assert wait.returncode == 0, stderr
    final = rest.get(f"{_results(ns)}/{NODE_ID}")
    assert final["metadata"]["uid"] == first["metadata"]["uid"]
    assert final["metadata"]["labels"][COMPLETED] == "true"
    assert final["outputs"] == {"parameters": [{"name": "p", "valueFrom": {"path": str(out / "p.txt")}, "value": "v1"}],
                                "result": "said-v1"}


def test_an_existing_task_result_is_patched_whole(cluster, cluster_namespace, account_dir, emissary, tmp_path):
    """The create meets 409 AlreadyExists (an earlier run of the node wrote the object): `wait`
    merge-patches it -- the Role has no update -- and the outputs end as this run's only: the
    earlier run's result and artifacts are gone, not merged in."""
    ns, rest = cluster_namespace, cluster.rest()
    uid = _workflow(cluster, ns)
    stale = rest.post(_results(ns), {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskResult",
        "metadata": {"name": NODE_ID, "labels": {"workflows.argoproj.io/workflow": "wf", COMPLETED: "true"},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf",
                                          "uid": uid}]},
        "outputs": {"parameters": [{"name": "p", "value": "old"}], "result": "old-result",
                    "artifacts": [{"name": "old", "s3": {"key": "old.tgz"}}], "exitCode": "3"}})
    out = tmp_path / "out"
    template = _template(out)
    _main(emissary, template, out, "fresh")
    proc = subprocess.run([sys.executable, "-m", "tiphys.executor", "wait"], capture_output=True, text=True,
                          env=_process_env(template, emissary.paths, tmp_path, cluster, account_dir, ns=ns, uid=uid),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    final = rest.get(f"{_results(ns)}/{NODE_ID}")
    assert final["metadata"]["uid"] == stale["metadata"]["uid"]  # patched, not re-created
    assert final["metadata"]["labels"][COMPLETED] == "true"
    assert final["outputs"] == {"parameters": [{"name": "p", "valueFrom": {"path": str(out / "p.txt")},
                                                "value": "fresh"}], "result": "said-fresh"}


class _LosingProxy:
    """Plain HTTP -> the apiserver; the first POST is forwarded, then its connection is cut before
    the answer goes back: the object was created, the client cannot know."""

    def __init__(self, cluster) -> None:
        import ssl
        self.upstream = cluster.server.rstrip("/")
        self.ssl = ssl.create_default_context(cafile=str(cluster.ca_cert))
        self.seen: list[tuple[str, int]] = []
        self.dropped = Counter()

    async def __aenter__(self) -> str:
        import aiohttp
        from aiohttp import web

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read() if request.can_read_body else None
            headers = {k: request.headers[k] for k in ("Authorization", "Content-Type", "Accept") if k in request.headers}
            async with self.session.request(request.method, self.upstream + request.path_qs, data=body,
                                            headers=headers) as up:
                raw = await up.read()
                self.seen.append((request.method, up.status))
                if request.method == "POST" and not self.dropped["POST"]:
                    self.dropped["POST"] += 1
                    assert request.transport is not None
                    request.transport.abort()
                    return web.Response(status=500)  # never reaches the client
                return web.Response(status=up.status, body=raw, content_type="application/json")

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
        await self.session.close()


def test_a_create_whose_answer_was_lost_is_retried(cluster, cluster_namespace, executor_token, emissary, tmp_path):
    """The first create happens but its answer is lost: the report retries, meets 409
    AlreadyExists, and patches; both phases land, as the executor ServiceAccount."""
    ns, rest = cluster_namespace, cluster.rest()
    uid = _workflow(cluster, ns)
    out = tmp_path / "out"
    template = _template(out)
    _main(emissary, template, out, "v2")
    settings = WaitSettings(node_id=NODE_ID, workflow_name="wf", workflow_uid=uid, namespace=ns,
                            include_script_output=True, poll_interval=0.02)
    repo = ArtifactRepository(drivers={"raw": RawDriver()}, default=LocalDriver(tmp_path / "store"))
    proxy = _LosingProxy(cluster)
    sleeps: list[float] = []

    async def sleep(dt: float) -> None:
        sleeps.append(dt)
        await asyncio.sleep(0)

    async def go():
        async with proxy as url, InClusterClient(url, token=lambda: executor_token, ssl_context=False) as client:
            return await run_wait(template, emissary.paths, settings, sink=api_sink(client), repository=repo,
                                  work_dir=tmp_path, sleep=sleep)
    outcome = asyncio.run(go())
    assert outcome.exit_code == 0, outcome.errors
    # lost create (201 upstream), retried create (409), patch of the first phase; then the final write
    assert proxy.seen == [("POST", 201), ("POST", 409), ("PATCH", 200), ("POST", 409), ("PATCH", 200)]
    assert sleeps.count(1.0) == 1  # one back-off, for the lost answer
    final = rest.get(f"{_results(ns)}/{NODE_ID}")
    assert final["metadata"]["labels"][COMPLETED] == "true"
    assert final["outputs"]["parameters"][0]["value"] == "v2" and final["outputs"]["result"] == "said-v2"


def test_a_refusal_ends_wait_with_the_api_message(cluster, cluster_namespace, emissary, tmp_path):
    """A token the API accepts but RBAC does not grant (no Role bound): `wait` exits 1 at once
    naming the refusal, without retrying it."""
    ns, rest = cluster_namespace, cluster.rest()
    uid = _workflow(cluster, ns)
    account = rest.post(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "nobody"}})
    token = rest.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{account['metadata']['name']}/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}})
    d = tmp_path / "sa"
    d.mkdir()
    (d / "token").write_text(token["status"]["token"])
    (d / "ca.crt").write_bytes(Path(cluster.ca_cert).read_bytes())
    out = tmp_path / "out"
    template = _template(out)
    _main(emissary, template, out, "x")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tiphys.executor", "wait"], capture_output=True, text=True,
                          env=_process_env(template, emissary.paths, tmp_path, cluster, d, ns=ns, uid=uid), timeout=120)
    assert proc.returncode == 1
    assert "Error from server (Forbidden)" in proc.stderr and "workflowtaskresults" in proc.stderr
    assert time.monotonic() - started < 30  # 403 is not retried (retries would back off 1+2+4+8 s)
    with pytest.raises(HttpStatusError) as missing:
        rest.get(f"{_results(ns)}/{NODE_ID}")
    assert missing.value.status == 404
