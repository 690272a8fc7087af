"""The executor's agent: one HTTP request as Argo's agent makes it (`perform_http`, against a local
aiohttp server), and the task-set loop (`run_agent`) over a scripted `TaskSetApi`."""
from __future__ import annotations

import asyncio
import base64
import socket
from typing import Any

import pytest

from tests.controller.nodeagent.test_http_agent import serve
from tiphys.executor.agent import AgentError, AgentSettings, run_agent, secret_value
from tiphys.executor.httptask import HttpTaskError, canonical_header, perform_http


async def _no_secret(name: str, key: str) -> str:
    raise HttpTaskError(f"secret {name!r} is not readable here")


def run(http: dict, secret: Any = _no_secret) -> tuple[dict, list]:
    async def go() -> tuple[dict, list]:
        async with serve() as srv:
            http2 = {k: (v.replace("URL", srv.url) if isinstance(v, str) else v) for k, v in http.items()}
            return await perform_http(http2, secret=secret), srv.calls
    return asyncio.run(go())


def test_get_by_default_and_result_is_the_body():
    result, calls = run({"url": "URL/status/200"})
    assert result == {"phase": "Succeeded", "outputs": {"result": "status 200"}}
    assert calls == [("GET", "/status/200")]


@pytest.mark.parametrize("code, phase", [(204, "Succeeded"), (304, "Succeeded"), (399, "Succeeded"),
                                         (400, "Failed"), (404, "Failed"), (503, "Failed")])
def test_without_a_condition_400_and_above_fail(code, phase):
    result, _ = run({"url": f"URL/status/{code}"})
    assert result["phase"] == phase
    if phase == "Failed":
        assert result["message"] == f"received non-2XX response code: {code}"


def test_condition_sees_request_and_response():
    cond = ('request.method == "POST" && request.body == "b" && request.headers["X-Colour"][0] == "red" && '
            'response.statusCode == 200 && response.headers["Content-Type"][0] startsWith "application/json"')
    result, _ = run({"url": "URL/echo", "method": "post", "body": "b", "successCondition": cond,
                     "headers": [{"name": "x-colour", "value": "red"}]})
    assert result["phase"] == "Succeeded", result


def test_condition_may_accept_an_error_status():
    result, _ = run({"url": "URL/status/500", "successCondition": "response.statusCode == 500"})
    assert result == {"phase": "Succeeded", "outputs": {"result": "status 500"}}


@pytest.mark.parametrize("cond, message", [
    ("response.statusCode", "unable to cast expression result '200' to bool"),
    ("response.nope.deeper == 1", "unable to evaluate expression 'response.nope.deeper == 1': "),
    ("response.statusCode ==", "unable to evaluate expression 'response.statusCode ==': "),
])
def test_condition_errors_fail_the_node_naming_the_expression(cond, message):
    result, _ = run({"url": "URL/status/200", "successCondition": cond})
    assert result["phase"] == "Failed" and result["message"].startswith(message), result


def test_unreachable_host_fails_with_go_url_error_shape():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = asyncio.run(perform_http({"url": f"http://127.0.0.1:{port}/x", "method": "DELETE"}, secret=_no_secret))
    assert result["phase"] == "Failed"
    assert result["message"].startswith(f'Delete "http://127.0.0.1:{port}/x": ')


@pytest.mark.parametrize("http, message", [
    ({}, "http.url is required"),
    ({"url": "URL/echo", "bodyFrom": {"bytes": "!!not base64"}}, "http.bodyFrom.bytes is not base64"),
    ({"url": "URL/echo", "headers": [{"value": "x"}]}, "http.headers[0]: a header needs a name"),
    ({"url": "URL/echo", "headers": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
     "http.headers[0] (A): secret 's' is not readable here"),
])
def test_bad_templates_fail_naming_the_field(http, message):
    result, calls = run(http)
    assert result["phase"] == "Failed" and result["message"].startswith(message), result
    assert calls == []


def test_canonical_header_names():
    assert [canonical_header(h) for h in ("content-type", "X-COLOUR", "etag", "x-b3-traceid", "")] == \
        ["Content-Type", "X-Colour", "Etag", "X-B3-Traceid", ""]


def test_secret_value_reads_data_or_string_data():
    obj = {"data": {"a": base64.b64encode(b"one").decode()}, "stringData": {"b": "two"}}
    assert secret_value(obj, "s", "a") == "one" and secret_value(obj, "s", "b") == "two"
    with pytest.raises(HttpTaskError, match="secret 's' has no key 'c'"):
        secret_value(obj, "s", "c")


def test_settings_from_env():
    s = AgentSettings.from_env({"ARGO_WORKFLOW_NAME": "wf", "ARGO_NAMESPACE": "ns", "ARGO_AGENT_PATCH_RATE": "250ms",
                                "ARGO_AGENT_TASK_WORKERS": "3"})
    assert (s.workflow_name, s.namespace, s.patch_rate, s.workers) == ("wf", "ns", 0.25, 3)
    assert AgentSettings.from_env({"ARGO_WORKFLOW_NAME": "wf"}).patch_rate == 10.0  # Argo's default
    with pytest.raises(AgentError, match="ARGO_WORKFLOW_NAME"):
        AgentSettings.from_env({})
    with pytest.raises(AgentError, match="ARGO_AGENT_PATCH_RATE"):
        AgentSettings.from_env({"ARGO_WORKFLOW_NAME": "wf", "ARGO_AGENT_PATCH_RATE": "soon"})


class Scripted:
    """A TaskSetApi whose task set the test changes; `changed` waits for the next change."""

    def __init__(self) -> None:
        self.obj: dict | None = None
        self.rv = 0
        self.patches: list[dict] = []
        self.event = asyncio.Event()

    def set(self, obj: dict | None) -> None:
        self.rv += 1
        self.obj = None if obj is None else {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(self.rv)}}
        self.event.set()

    async def get(self) -> dict | None:
        return self.obj

    async def patch_status(self, nodes: dict) -> None:
        self.patches.append(nodes)

    async def secret(self, name: str, key: str) -> str:
        return "v"

    async def changed(self, rv: str) -> dict | None:
        if self.obj is None or rv == str(self.rv):
            self.event.clear()
            await self.event.wait()
        return self.obj if self.rv % 2 else None  # the object with some changes, a re-read with others


def test_agent_runs_each_task_once_and_stops_when_completed():
    async def go() -> tuple[list, list]:
        async with serve() as srv:
            api = Scripted()
            settings = AgentSettings(workflow_name="wf", patch_rate=0.0)
            agent = asyncio.ensure_future(run_agent(api, settings, log=lambda line: None))
            await asyncio.sleep(0.05)  # no task set yet: the agent waits for it
            tasks = {"n1": {"http": {"url": f"{srv.url}/status/200"}}}
            api.set({"spec": {"tasks": tasks}})
            while not api.patches:
                await asyncio.sleep(0.01)
            # seen again (the controller puts it again, another task arrives): n1 is not re-run
            api.set({"spec": {"tasks": {**tasks, "n2": {"http": {"url": f"{srv.url}/status/500"}},
                                        "n3": {"plugin": {"x": {}}}}}})
            while sum(len(p) for p in api.patches) < 3:
                await asyncio.sleep(0.01)
            api.set({"metadata": {"labels": {"workflows.argoproj.io/completed": "true"}}, "spec": {"tasks": tasks}})
            assert await asyncio.wait_for(agent, 5) == 0
            return api.patches, srv.calls

    patches, calls = asyncio.run(go())
    merged = {k: v for p in patches for k, v in p.items()}
    assert merged["n1"] == {"phase": "Succeeded", "outputs": {"result": "status 200"}}
    assert merged["n2"]["phase"] == "Failed"
    assert merged["n3"]["phase"] == "Error" and "tiphys runs http only" in merged["n3"]["message"]
    assert sorted(calls) == [("GET", "/status/200"), ("GET", "/status/500")]


def test_agent_batches_results_within_the_patch_rate_and_stops_when_the_task_set_is_gone():
    async def go() -> list:
        async with serve() as srv:
            api = Scripted()
            settings = AgentSettings(workflow_name="wf", patch_rate=1.0)
            agent = asyncio.ensure_future(run_agent(api, settings, log=lambda line: None))
            api.set({"spec": {"tasks": {"a": {"http": {"url": f"{srv.url}/status/200"}}}}})
            while not api.patches:
                await asyncio.sleep(0.01)
            api.set({"spec": {"tasks": {f"b{i}": {"http": {"url": f"{srv.url}/status/201"}} for i in range(4)}}})
            while sum(len(p) for p in api.patches) < 5:
                await asyncio.sleep(0.01)
            api.set(None)  # deleted after it was seen: the workflow is gone
            assert await asyncio.wait_for(agent, 5) == 0
            return api.patches

    patches = asyncio.run(go())
    assert [sorted(p) for p in patches] == [["a"], ["b0", "b1", "b2", "b3"]], "the first alone, the burst batched"


def _self_signed(tmp_path) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1 (skipped without the `cryptography` package)."""
    import datetime
    import ipaddress
    pytest.importorskip("cryptography", reason="cryptography makes the test's self-signed certificate")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tiphys-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_insecure_skip_verify_accepts_a_self_signed_server(tmp_path):
    import ssl
    from aiohttp import web
    cert, key = _self_signed(tmp_path)

    async def go() -> tuple[dict, dict]:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="over tls")
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
        try:
            strict = await perform_http({"url": url}, secret=_no_secret)
            insecure = await perform_http({"url": url, "insecureSkipVerify": True}, secret=_no_secret)
        finally:
            await runner.cleanup()
        return strict, insecure

    strict, insecure = asyncio.run(go())
    assert strict["phase"] == "Failed" and "certificate" in strict["message"].lower(), strict
    assert insecure == {"phase": "Succeeded", "outputs": {"result": "over tls"}}


class FakeStream:
    """A scripted `WatchStream`: its events, then its error (if any), then silence."""

    def __init__(self, *events: Any, error: Exception | None = None) -> None:
        self.events, self.error, self.closed = list(events), error, False

    def __aiter__(self) -> "FakeStream":
        return self

    async def __anext__(self) -> Any:
        if self.events:
            return self.events.pop(0)
        if self.error is not None:
            raise self.error
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


class FakeClient:
    """A scripted `KubeClient` for `KubeTaskSetApi`: snapshots and watches in turn, calls recorded."""

    def __init__(self, snapshots: list, streams: list) -> None:
        self.snapshots, self.streams, self.calls = snapshots, streams, []

    async def snapshot(self, kind, /, *, namespace, label_selector=None, field_selector=None):
        self.calls.append(("list", kind.plural, namespace, field_selector))
        item = self.snapshots.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def watch(self, kind, /, *, namespace, resource_version=None, field_selector=None, timeout_seconds=300, **kw):
        self.calls.append(("watch", kind.plural, resource_version, field_selector, timeout_seconds))
        return self.streams.pop(0)

    async def patch(self, kind, name, patch, /, *, namespace, patch_kind, subresource=None):
        self.calls.append(("patch", kind.plural, name, subresource, str(patch_kind), patch))


def test_kube_task_set_api_lists_once_then_follows_one_watch_and_backs_off_before_listing_again():
    from tiphys.executor.agent import KubeTaskSetApi
    from tiphys.executor.kube import KubeError, KubeGone, Snapshot, WatchEvent, WatchEventType

    def ts(rv: str, name: str = "wf") -> dict:
        return {"metadata": {"name": name, "resourceVersion": rv}, "spec": {"tasks": {}}}

    first = FakeStream(WatchEvent(WatchEventType.BOOKMARK, {"metadata": {"resourceVersion": "11"}}),
                       WatchEvent(WatchEventType.MODIFIED, ts("12")),
                       error=KubeGone("too old resource version", status=410, reason="Expired"))
    throttled = KubeError("slow down", status=429, reason="TooManyRequests")
    throttled.retry_after = 3.0
    refused = FakeStream(error=throttled)
    deleted = FakeStream(WatchEvent(WatchEventType.DELETED, ts("25")))
    client = FakeClient([KubeError("unavailable", status=503), Snapshot([ts("9", "other"), ts("9")], "10"),
                         Snapshot([], "20"), KubeError("forbidden", status=403, reason="Forbidden")],
                        [first, refused, deleted])
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> list:
        api = KubeTaskSetApi(client, AgentSettings(workflow_name="wf", namespace="ns"), watch_seconds=120,
                             sleep=sleep, log=lambda line: None)
        got = [await api.get()]                 # a 503, then the list (another object filtered out)
        got.append(await api.changed("9"))      # bookmark skipped, the modification returned
        got.append(await api.changed("12"))     # 410: None after a backoff; the watch is closed
        got.append(await api.get())             # listed again: not there any more
        got.append(await api.changed("20"))     # the watch is refused (429): None after its Retry-After
        got.append(await api.changed("20"))     # a new watch from the same list: deleted, no wait
        await api.patch_status({"n": {"phase": "Succeeded"}})
        with pytest.raises(KubeError, match="forbidden"):
            await api.get()                     # not transient: the agent's end
        return got

    got = asyncio.run(go())
    assert [None if g is None else g["metadata"]["resourceVersion"] for g in got] == ["9", "12", None, None, None, None]
    assert sleeps == [0.5, 0.5, 3.0]
    assert first.closed and refused.closed
    assert client.calls == [
        ("list", "workflowtasksets", "ns", "metadata.name=wf"), ("list", "workflowtasksets", "ns", "metadata.name=wf"),
        ("watch", "workflowtasksets", "10", "metadata.name=wf", 120),
        ("list", "workflowtasksets", "ns", "metadata.name=wf"),
        ("watch", "workflowtasksets", "20", "metadata.name=wf", 120),
        ("watch", "workflowtasksets", "20", "metadata.name=wf", 120),
        ("patch", "workflowtasksets", "wf", "status", "merge", {"status": {"nodes": {"n": {"phase": "Succeeded"}}}}),
        ("list", "workflowtasksets", "ns", "metadata.name=wf")]
