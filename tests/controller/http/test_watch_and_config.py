"""Watch framing and decoding, the token bucket, and configuration loading."""
from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiphys.controller.api import (CONFIG_MAPS, WORKFLOWS, ApiError, EventType, Forbidden, Gone)
from tiphys.controller.api._http_config import HttpConfig, load_config
from tiphys.controller.api._http_watch import LineSplitter, decode_event
from tiphys.controller.api._ratelimit import TokenBucket
from tiphys.controller.api.http import HttpApi
from tiphys.controller.clock import FakeClock

from ._fake_server import FakeServer, InstantClock, Reply, status_body

WF = "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows"


def event_line(type_: str, obj: dict) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


@given(lines=st.lists(st.binary(min_size=1).map(lambda b: b.replace(b"\n", b"x")), max_size=8),
       cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_splitter_is_independent_of_chunking(lines, cuts):
    """Any chunking of a newline-terminated stream yields the same non-blank lines."""
    stream = b"".join(line + b"\n" for line in lines)
    bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    splitter = LineSplitter()
    out = []
    for a, b in zip(bounds, bounds[1:]):
        out.extend(splitter.feed(stream[a:b]))
    assert out == [line for line in lines if line.strip()]
    assert splitter.flush() == b""


def test_splitter_keeps_a_last_line_without_newline():
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}") == []
    assert splitter.flush() == b'{"b":2}'


def test_decode_event_maps_error_events_to_typed_errors():
    """An ERROR event with a 410 Status raises Gone; unknown types and garbage raise ApiError."""
    assert decode_event(event_line("ADDED", {"metadata": {"name": "a"}})).type is EventType.ADDED
    with pytest.raises(Gone):
        decode_event(event_line("ERROR", status_body(410, "Expired", "too old resource version: 1 (5)")))
    with pytest.raises(ApiError, match="unknown event type"):
        decode_event(event_line("SURPRISE", {}))
    with pytest.raises(ApiError, match="undecodable"):
        decode_event(b"{not json")


async def test_watch_streams_lines_far_beyond_128_kib():
    """A 3 MiB event split over many small chunks arrives whole; then BOOKMARK; then Gone."""
    big = {"metadata": {"name": "big", "resourceVersion": "7"}, "status": {"blob": "x" * (3 << 20)}}
    payload = (event_line("ADDED", big) + event_line("BOOKMARK", {"kind": "Workflow", "apiVersion": "v",
                                                                  "metadata": {"resourceVersion": "9"}})
               + event_line("ERROR", status_body(410, "Expired", "too old")))
    chunks = [payload[i:i + 65_536] for i in range(0, len(payload), 65_536)]
    async with FakeServer() as server:
        server.script("GET", WF, Reply(chunks=chunks))
        api = HttpApi(HttpConfig(server=server.url), clock=InstantClock())
        try:
            stream = api.watch(WORKFLOWS, namespace="ns", resource_version="5", allow_bookmarks=True,
                               timeout=0.2, label_selector="a=b")
            assert server.seen == []  # opening is lazy: errors come from iteration
            first = await stream.__anext__()
            second = await stream.__anext__()
            with pytest.raises(Gone):
                await stream.__anext__()
            with pytest.raises(StopAsyncIteration):  # a failed stream stays closed
                await stream.__anext__()
        finally:
            await api.close()
    assert first.object["status"]["blob"] == big["status"]["blob"]
    assert (second.type, second.resource_version) == (EventType.BOOKMARK, "9")
    [seen] = server.seen
    assert seen.query == {"watch": "1", "resourceVersion": "5", "allowWatchBookmarks": "true",
                          "timeoutSeconds": "1", "labelSelector": "a=b"}


async def test_watch_open_failure_surfaces_from_iteration():
    """A 403 at open time is raised by __anext__, not by watch()."""
    async with FakeServer() as server:
        server.script("GET", "/api/v1/configmaps", Reply(403, status_body(403, "Forbidden", "no")))
        api = HttpApi(HttpConfig(server=server.url), clock=InstantClock())
        try:
            stream = api.watch(CONFIG_MAPS)
            with pytest.raises(Forbidden):
                async for _ in stream:
                    pass
        finally:
            await api.close()


async def test_watch_clean_end_and_trailing_line():
    """A stream closed by the server ends iteration; a last line without newline still counts."""
    async with FakeServer() as server:
        server.script("GET", WF, Reply(chunks=[event_line("ADDED", {"metadata": {"name": "a"}}),
                                               event_line("DELETED", {"metadata": {"name": "a"}})[:-1]]))
        api = HttpApi(HttpConfig(server=server.url), clock=InstantClock())
        try:
            async with api.watch(WORKFLOWS, namespace="ns") as stream:
                types = [e.type async for e in stream]
        finally:
            await api.close()
    assert types == [EventType.ADDED, EventType.DELETED]


def test_token_bucket_refills_up_to_burst_only():
    """Burst is spent at once, then one token per 1/qps; a long idle refills to burst, no more."""
    clock = FakeClock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert [bucket.reserve_nowait() for _ in range(5)] == [0.0, 0.0, 0.0, 0.5, 1.0]
    clock.advance(100.0)
    assert [bucket.reserve_nowait() for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="qps must be > 0"):
        TokenBucket(0.0, 1, clock=clock)


@pytest.mark.parametrize("kwargs, match", [
    pytest.param({"server": "127.0.0.1:6443"}, "not an http", id="scheme"),
    pytest.param({"server": "https://x", "qps": 0.0}, "qps must be", id="qps"),
    pytest.param({"server": "https://x", "max_retries": -1}, "max_retries", id="retries"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HttpConfig(**kwargs)


def test_load_config_from_kubeconfig(tmp_path: Path):
    """Server, CA and bearer token come from the kubeconfig through the kubernetes loader."""
    ca = tmp_path / "ca.crt"
    ca.write_text("placeholder: the loader only passes the path on\n")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_bytes(msgspec.json.encode({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443/",
                                                "certificate-authority": str(ca)}}],
        "users": [{"name": "u", "user": {"token": "s3cret"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    config = load_config(kubeconfig=kubeconfig)
    assert config.server == "https://127.0.0.1:6443"
    assert config.ca_cert == str(ca)
    assert config.token(False) == "s3cret" and config.token(True) == "s3cret"
    assert (config.qps, config.burst) == (20.0, 30)
