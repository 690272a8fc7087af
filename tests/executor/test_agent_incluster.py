"""`argoexec agent main` as in a real pod: the entry point as a process, the in-cluster client with
the token of a user holding only deploy/'s `tiphys-agent` Role, against a real kube-apiserver with
Argo's CRDs; the HTTP request goes to a local aiohttp server."""
from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.controller.nodeagent.test_http_agent import serve
from tests.executor._deployed_rbac import grant_deployed_role

pytestmark = pytest.mark.cluster
TS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtasksets"


def test_agent_process_with_the_agent_role_only(cluster, cluster_namespace, tmp_path: Path):
    """The agent reads the task set (get/watch rights only), runs its task, patches the result into
    `status.nodes` through the status subresource (the only write its Role allows), and exits 0
    once the task set is labelled completed."""
    ns, rest, user = cluster_namespace, cluster.rest(), cluster.unprivileged
    grant_deployed_role(rest, ns, user, "tiphys-agent")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(user.token)
    (account / "ca.crt").write_bytes(Path(cluster.ca_cert).read_bytes())
    url = urlsplit(cluster.server)
    env = {**os.environ, "KUBERNETES_SERVICE_HOST": url.hostname, "KUBERNETES_SERVICE_PORT": str(url.port or 443),
           "TIPHYS_SERVICE_ACCOUNT_DIR": str(account), "ARGO_WORKFLOW_NAME": "wf", "ARGO_NAMESPACE": ns,
           "ARGO_AGENT_PATCH_RATE": "100ms"}

    async def go() -> tuple[int, str, list, dict]:
        async with serve() as srv:
            rest.post(TS.format(ns=ns), {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskSet",
                                         "metadata": {"name": "wf", "labels": {"workflows.argoproj.io/completed": "false"}},
                                         "spec": {"tasks": {"wf-1": {"name": "call", "http": {"url": f"{srv.url}/status/201"}}}}})
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tiphys.executor", "agent", "main",
                                                        "--loglevel", "info", env=env,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while True:
                ts = await asyncio.to_thread(rest.get, TS.format(ns=ns) + "/wf")
                if (ts.get("status") or {}).get("nodes"):
                    break
                assert time.monotonic() < deadline and proc.returncode is None, "no result was written"
                await asyncio.sleep(0.1)
            await asyncio.to_thread(lambda: rest.request(
                "PATCH", TS.format(ns=ns) + "/wf", content_type="application/merge-patch+json",
                body={"metadata": {"labels": {"workflows.argoproj.io/completed": "true"}}}))
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out.decode(), list(srv.calls), ts

    code, out, calls, ts = asyncio.run(go())
    assert code == 0, out
    assert calls == [("GET", "/status/201")]
    assert ts["status"]["nodes"] == {"wf-1": {"phase": "Succeeded", "outputs": {"result": "status 201"}}}
    assert "the workflow is completed; stopping" in out
