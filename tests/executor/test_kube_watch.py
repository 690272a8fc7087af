"""The in-cluster client's watch and subresources against a scripted HTTP server: events parsed
as the chunked body arrives, reconnects from the last resourceVersion (bookmarks included) after a
clean end or a broken stream, the backoff rule, 410 Gone in both forms, typed refusals, and the
paths of `snapshot`, `patch(subresource=)` and `update(subresource=)`. The real apiserver's side
is in test_kube_watch_incluster.py."""
from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tiphys.executor.kube import BUILTIN, InClusterClient, KubeError, KubeGone, PatchKind, WatchStream
from tiphys.executor.kube.watch import LineSplitter

TS = BUILTIN.for_manifest("argoproj.io/v1alpha1", "WorkflowTaskSet")


def ev(kind: str, rv: int, name: str = "wf", **extra: Any) -> bytes:
    obj = {"kind": "WorkflowTaskSet", "metadata": {"name": name, "resourceVersion": str(rv)}, **extra}
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def status_event(code: int, reason: str) -> bytes:
    return json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": code, "reason": reason,
                                                   "message": f"injected {reason}"}}).encode() + b"\n"


class Scripted:
    """Each request takes the next script: bytes are written as one chunk, `"abort"` cuts the
    connection, `asyncio.Event`s are waited for, `("status", code, body)` answers at once;
    a script that runs out ends the stream cleanly, `"hold"` keeps it open."""

    def __init__(self, *scripts: list[Any]) -> None:
        self.scripts = deque(scripts)
        self.requests: list[tuple[str, str, dict[str, str], str, bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path, dict(request.query),
                              request.headers.get("Content-Type", ""), body))
        script = self.scripts.popleft()
        if script and isinstance(script[0], tuple) and script[0][0] == "status":
            _, code, doc = script[0]
            return web.json_response(doc, status=code)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for step in script:
            if isinstance(step, bytes):
                await resp.write(step)
            elif isinstance(step, asyncio.Event):
                await step.wait()
            elif step == "abort":
                assert request.transport is not None
                request.transport.abort()
                return resp
            elif step == "hold":
                await asyncio.sleep(3600)
        await resp.write_eof()
        return resp


@asynccontextmanager
async def serving(*scripts: list[Any]) -> AsyncIterator[tuple[Scripted, InClusterClient, list[float]]]:
    srv = Scripted(*scripts)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.url = f"http://127.0.0.1:{port}"
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = InClusterClient(srv.url, token=lambda: "t0k", ssl_context=False, sleep=sleep)
    try:
        yield srv, client, sleeps
    finally:
        await client.close()
        await runner.cleanup()


async def take(stream: WatchStream, n: int) -> list[tuple[str, str]]:
    out = []
    async for event in stream:
        out.append((event.type.value, event.resource_version))
        if len(out) == n:
            break
    return out


def test_events_are_parsed_as_the_chunks_arrive():
    """A line split across chunks, several lines in one chunk, a 300 KiB line; the first event
    reaches the caller while the server still holds the rest back."""
    big = "x" * 300_000
    first, second = ev("ADDED", 5), ev("MODIFIED", 6)

    async def go() -> tuple[list, list, str]:
        release = asyncio.Event()
        async with serving([first + second[:10], release, second[10:] + ev("MODIFIED", 7, spec={"big": big}),
                            "hold"]) as (srv, client, _):
            async with client.watch(TS, namespace="ns", field_selector="metadata.name=wf",
                                    resource_version="3", timeout_seconds=60) as stream:
                head = await take(stream, 1)
                release.set()
                events = []
                async for event in stream:
                    events.append(event)
                    if len(events) == 2:
                        break
            return head, [(e.type.value, e.resource_version) for e in events], events[1].object["spec"]["big"]

    head, rest, payload = asyncio.run(go())
    assert head == [("ADDED", "5")]
    assert rest == [("MODIFIED", "6"), ("MODIFIED", "7")]
    assert payload == big


def test_the_watch_request_and_a_reconnect_from_the_last_version_after_a_clean_end():
    """The query (watch, bookmarks, timeoutSeconds, selector, rv); the server ends the request:
    the next one starts from the last event's version, which a BOOKMARK moved. A request that
    ended within a second of its start waits a backoff first."""

    async def go() -> tuple[list, list, list, int]:
        async with serving([ev("ADDED", 5), ev("BOOKMARK", 9)], [ev("MODIFIED", 10), "hold"]) as (srv, client, sleeps):
            async with client.watch(TS, namespace="ns", field_selector="metadata.name=wf", label_selector="a=b",
                                    resource_version="3", timeout_seconds=60) as stream:
                events = await take(stream, 3)
                return events, [r[2] for r in srv.requests], sleeps, stream.requests

    events, queries, sleeps, count = asyncio.run(go())
    assert events == [("ADDED", "5"), ("BOOKMARK", "9"), ("MODIFIED", "10")]
    assert queries[0] == {"watch": "1", "timeoutSeconds": "60", "allowWatchBookmarks": "true",
                          "fieldSelector": "metadata.name=wf", "labelSelector": "a=b", "resourceVersion": "3"}
    assert queries[1]["resourceVersion"] == "9"
    assert count == 2 and sleeps == [0.2]


def test_a_broken_stream_drops_the_partial_line_and_resumes_from_the_last_whole_event():
    half = ev("MODIFIED", 6)[:20]

    async def go() -> tuple[list, list, list]:
        async with serving([ev("ADDED", 5) + half, "abort"], [ev("MODIFIED", 7), "hold"]) as (srv, client, sleeps):
            async with client.watch(TS, namespace="ns", resource_version="3", timeout_seconds=60) as stream:
                return await take(stream, 2), [r[2].get("resourceVersion") for r in srv.requests], sleeps

    events, versions, sleeps = asyncio.run(go())
    assert events == [("ADDED", "5"), ("MODIFIED", "7")]
    assert versions == ["3", "5"]
    assert sleeps == [0.2]


def test_backoff_grows_on_broken_streams_and_resets_after_a_request_that_lived():
    """clock +10 s per reading: every request lives long; only breaks back off (0.2, 0.4, then
    reset by a clean end, 0.2 again)."""
    ticks = iter(range(0, 10_000, 10))

    async def go() -> list[float]:
        async with serving([ev("ADDED", 1)], [ev("MODIFIED", 2), "abort"], [ev("MODIFIED", 3), "abort"],
                           [ev("MODIFIED", 4)], [ev("MODIFIED", 5), "abort"], [ev("MODIFIED", 6), "hold"]) as (
                srv, _, _):
            sleeps: list[float] = []

            async def sleep(seconds: float) -> None:
                sleeps.append(seconds)

            async with aiohttp.ClientSession() as session:
                url = srv.url + "/w"

                async def open_(rv: str | None) -> aiohttp.ClientResponse:
                    return await session.get(url, params={"resourceVersion": rv or ""})

                stream = WatchStream(open_, sleep=sleep, clock=lambda: float(next(ticks)))
                assert [v for _, v in await take(stream, 6)] == ["1", "2", "3", "4", "5", "6"]
                await stream.aclose()
            return sleeps

    assert asyncio.run(go()) == [0.2, 0.4, 0.2]


@pytest.mark.parametrize("script", [
    pytest.param([("status", 410, {"kind": "Status", "code": 410, "reason": "Gone", "message": "too old"})], id="http"),
    pytest.param([status_event(410, "Expired")], id="error-event"),
])
def test_gone_ends_the_stream_for_the_caller_to_relist(script):
    async def go() -> tuple[KubeError, int, list]:
        async with serving(script) as (srv, client, _):
            stream = client.watch(TS, namespace="ns", resource_version="1")
            with pytest.raises(KubeGone) as info:
                await stream.__anext__()
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()  # closed: no reconnect behind the caller's back
            return info.value, len(srv.requests), list(srv.scripts)

    err, requests, left = asyncio.run(go())
    assert err.status == 410 and not err.transient
    assert requests == 1 and left == []


@pytest.mark.parametrize("script, status, reason", [
    pytest.param([("status", 403, {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"})],
                 403, "Forbidden", id="refused-open"),
    pytest.param([status_event(500, "InternalError")], 500, "InternalError", id="error-event"),
    pytest.param([b"{not json\n"], 500, "InternalError", id="undecodable"),
])
def test_other_refusals_are_typed_and_not_gone(script, status, reason):
    async def go() -> KubeError:
        async with serving(script) as (_, client, _):
            with pytest.raises(KubeError) as info:
                await take(client.watch(TS, namespace="ns", resource_version="1"), 1)
            return info.value

    err = asyncio.run(go())
    assert not isinstance(err, KubeGone)
    assert (err.status, err.reason) == (status, reason)


def test_line_splitter_byte_by_byte():
    data = b'{"a":1}\n\n{"b":2}\n{"c"'
    splitter, lines = LineSplitter(), []
    for i in range(len(data)):
        lines += splitter.feed(data[i:i + 1])
    assert lines == [b'{"a":1}', b'{"b":2}']
    assert splitter.flush() == b'{"c"' and splitter.flush() == b""


def test_snapshot_and_subresource_paths():
    listing = {"kind": "WorkflowTaskSetList", "metadata": {"resourceVersion": "77"},
               "items": [{"metadata": {"name": "wf"}}]}

    async def go() -> tuple[Any, list]:
        async with serving([("status", 200, listing)], [("status", 200, {})], [("status", 200, {})]) as (
                srv, client, _):
            snap = await client.snapshot(TS, namespace="ns", field_selector="metadata.name=wf")
            await client.patch(TS, "wf", {"status": {"nodes": {}}}, namespace="ns", patch_kind=PatchKind.MERGE,
                               subresource="status")
            await client.update(TS, {"metadata": {"name": "wf"}, "status": {}}, namespace="ns", subresource="status")
            return snap, srv.requests

    snap, requests = asyncio.run(go())
    assert (snap.items, snap.resource_version) == ([{"metadata": {"name": "wf"}}], "77")
    base = "/apis/argoproj.io/v1alpha1/namespaces/ns/workflowtasksets"
    assert [(m, p, q, c) for m, p, q, c, _ in requests] == [
        ("GET", base, {"fieldSelector": "metadata.name=wf"}, ""),
        ("PATCH", base + "/wf/status", {}, "application/merge-patch+json"),
        ("PUT", base + "/wf/status", {}, "application/json")]
    with pytest.raises(ValueError, match="subresource 'status' needs an object name"):
        InClusterClient._path(TS, "ns", None, "status")
