"""Fixtures for the CLI's end-to-end tests against the real test kube-apiserver.

``tiphys`` runs ``python -m tiphys.cli ARGS --kubeconfig <admin> -n <ns>`` as a subprocess
and returns the CompletedProcess (text). ``live`` is a namespace (one per test module)
where a controller runs in this process, on a background event loop: the `Engine` over
`HttpApi`, plus the simulated kubelet that binds pods through ``pods/binding`` (the test
cluster has no kubelet) to ``fake_kubelet_node``, a Node whose kubelet is a local HTTPS
server answering log requests (from ``kubelet_logs[(pod, container)]``, else one line
naming the pod). Pods whose template's command mentions ``fail`` exit 1; ``flaky`` ones
exit 1 while ``live.flaky`` is true. ``static_ns`` has no controller: tests put
workflow objects with hand-written status there.
"""
from __future__ import annotations

import asyncio
import http.server
import os
import secrets
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.cluster._pki import make_pki
from tests.cluster.test_leader import BindingSimKubelet
from tiphys.controller.api.http import HttpApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.simkubelet import SimOutcome

REPO = Path(__file__).resolve().parents[3]


class LiveController:
    def __init__(self, cluster, namespace: str, node_name: str) -> None:
        self.cluster, self.namespace, self.node_name = cluster, namespace, node_name
        self.flaky = True
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cli-test-controller", daemon=True)

    def behaviour(self, pod: dict, template: dict) -> SimOutcome:
        container = template.get("container") or template.get("script") or {}
        words = " ".join([*(container.get("command") or []), *(container.get("args") or [])])
        if "fail" in words or ("flaky" in words and self.flaky):
            return SimOutcome(exit_code=1, message="failed on purpose")
        return SimOutcome()

    async def _start(self) -> None:
        clock = RealClock()
        self.api = HttpApi.from_kubeconfig(self.cluster.kubeconfig)
        self.engine = Engine(self.api, clock=clock, namespace=self.namespace, workers=4, status_interval=0.1)
        await self.engine.start()
        self.kubelet = BindingSimKubelet(self.api, self.cluster.rest(), clock=clock, namespace=self.namespace,
                                         behaviour=self.behaviour, node_name=self.node_name)
        await self.kubelet.start()

    async def _stop(self) -> None:
        await self.kubelet.stop()
        await self.engine.stop()
        await self.api.close()

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="module")
def live(cluster, fake_kubelet_node) -> Iterator[LiveController]:
    controller = LiveController(cluster, cluster.create_namespace("cli-live"), fake_kubelet_node)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        cluster.delete_namespace(controller.namespace)


class FakeKubelet(http.server.BaseHTTPRequestHandler):
    """Serves `/containerLogs/{ns}/{pod}/{container}` as a kubelet does, from `logs`."""

    logs: dict[tuple[str, str], str] = {}
    generic = True

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        parts = url.path.split("/")
        if len(parts) != 5 or parts[1] != "containerLogs":
            self.send_error(404)
            return
        text = self.logs.get((parts[3], parts[4]))
        if text is None and self.generic:  # pods of the live controller: one line naming them
            text = f"log of {parts[3]}/{parts[4]}\n"
        if text is None:
            self.send_error(404, "no such container")
            return
        lines = text.splitlines(keepends=True)
        tail = parse_qs(url.query).get("tailLines")
        if tail:
            lines = lines[-int(tail[0]):]
        body = "".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def fake_kubelet_node(cluster, tmp_path_factory) -> Iterator[str]:
    """A Node whose kubelet endpoint is a local HTTPS server, so `pods/<name>/log` works end to end:
    the apiserver proxies to it (it does not verify kubelet certificates without
    --kubelet-certificate-authority, which the test cluster does not set)."""
    pki = make_pki(tmp_path_factory.mktemp("kubelet-pki"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeKubelet)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.serving_cert, pki.serving_key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rest = cluster.rest()
    name = f"fake-kubelet-{secrets.token_hex(3)}"
    status = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
              "daemonEndpoints": {"kubeletEndpoint": {"Port": server.server_address[1]}}}
    created = rest.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                          "status": status})
    rest.request("PUT", f"/api/v1/nodes/{name}/status", body={**created, "status": status})
    try:
        yield name
    finally:
        server.shutdown()
        rest.delete(f"/api/v1/nodes/{name}")


@pytest.fixture
def kubelet_logs() -> Iterator[dict[tuple[str, str], str]]:
    """What the fake kubelet answers for (pod, container); emptied after the test."""
    yield FakeKubelet.logs
    FakeKubelet.logs.clear()


@pytest.fixture
def static_ns(cluster_namespace: str) -> str:
    return cluster_namespace


@pytest.fixture(scope="session")
def tiphys(cluster) -> Callable[..., subprocess.CompletedProcess]:
    # timeout: a guard against a hung CLI, not a speed limit (`wait` calls last as long as workflows)
    def run(*args: str, ns: str | None = None, input: str | None = None, timeout: float = 180,
            kubeconfig: str | None = None) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "tiphys.cli", *args, "--kubeconfig", kubeconfig or str(cluster.kubeconfig)]
        if ns is not None:
            argv += ["-n", ns]
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("KUBECONFIG", None)
        return subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout, cwd=REPO,
                              env=env)

    return run
