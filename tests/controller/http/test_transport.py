"""HttpApi's transport against a scripted server: retries, auth, throttling, paths, paging."""
from __future__ import annotations

import json

import pytest

from tiphys.controller.api import (CLUSTER_WORKFLOW_TEMPLATES, CONFIG_MAPS, PODS, WORKFLOWS, ApiError,
                                   BadRequest, Conflict, Forbidden, InternalError, PatchType, Preconditions,
                                   Propagation, ServerTimeout, TooManyRequests)
from tiphys.controller.api._http_config import static_token
from tiphys.controller.api.http import HttpApi, HttpConfig

from ._fake_server import FakeServer, InstantClock, Reply, status_body

WF = "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows"
CM = "/api/v1/namespaces/ns/configmaps"


def make_api(server: FakeServer, clock: InstantClock, **options) -> HttpApi:
    options.setdefault("token", static_token("tok"))
    return HttpApi(HttpConfig(server=server.url, **options), clock=clock)


async def test_request_headers_and_paths():
    """Bearer token, identity encoding, JSON accept; group/version/namespace/plural/name in the URL."""
    async with FakeServer() as server:
        server.script("GET", f"{WF}/w1", Reply(body={"metadata": {"name": "w1"}}))
        server.script("GET", "/apis/argoproj.io/v1alpha1/clusterworkflowtemplates/c",
                      Reply(body={"metadata": {"name": "c"}}))
        api = make_api(server, InstantClock())
        try:
            assert (await api.get(WORKFLOWS, "w1", namespace="ns"))["metadata"]["name"] == "w1"
            await api.get(CLUSTER_WORKFLOW_TEMPLATES, "c")
        finally:
            await api.close()
    [seen] = server.requests("GET", f"{WF}/w1")
    assert seen.headers["Authorization"] == "Bearer tok"
    assert seen.headers["Accept-Encoding"] == "identity"
    assert seen.headers["Accept"] == "application/json"


async def test_scope_is_checked_before_the_network():
    """Namespaced single-object calls need a namespace; cluster-scoped ones refuse one."""
    async with FakeServer() as server:
        api = make_api(server, InstantClock())
        try:
            with pytest.raises(BadRequest, match="namespaced"):
                await api.get(WORKFLOWS, "w")
            with pytest.raises(BadRequest, match="cluster-scoped"):
                await api.get(CLUSTER_WORKFLOW_TEMPLATES, "c", namespace="ns")
            with pytest.raises(BadRequest, match="metadata.name is required"):
                await api.update(WORKFLOWS, {"metadata": {}}, namespace="ns")
        finally:
            await api.close()
    assert server.seen == []


async def test_429_is_retried_after_retry_after():
    """429 twice with Retry-After: 2, then success: two 2-second waits, three requests."""
    busy = Reply(429, status_body(429, "TooManyRequests", "slow down", retryAfterSeconds=2),
                 headers={"Retry-After": "2"})
    async with FakeServer() as server:
        server.script("POST", WF, busy, busy, Reply(201, {"metadata": {"name": "w"}}))
        clock = InstantClock()
        api = make_api(server, clock)
        try:
            created = await api.create(WORKFLOWS, {"metadata": {"name": "w"}}, namespace="ns")
        finally:
            await api.close()
    assert created["metadata"]["name"] == "w"
    assert len(server.requests("POST", WF)) == 3
    assert clock.sleeps == [2.0, 2.0]


async def test_retries_are_bounded_and_raise_the_typed_error():
    """After max_retries the last answer's typed error is raised, with its retry_after."""
    busy = Reply(429, status_body(429, "TooManyRequests", "slow down"), headers={"Retry-After": "1"})
    async with FakeServer() as server:
        server.script("GET", f"{CM}/x", busy)
        api = make_api(server, InstantClock(), max_retries=2)
        try:
            with pytest.raises(TooManyRequests) as info:
                await api.get(CONFIG_MAPS, "x", namespace="ns")
        finally:
            await api.close()
    assert info.value.retry_after == 1.0
    assert len(server.requests("GET", f"{CM}/x")) == 3


async def test_5xx_write_without_retry_after_is_not_retried():
    """A create that got a bare 500 may have happened: it is not repeated."""
    async with FakeServer() as server:
        server.script("POST", CM, Reply(500, status_body(500, "InternalError", "etcd hiccup")))
        clock = InstantClock()
        api = make_api(server, clock)
        try:
            with pytest.raises(InternalError, match="etcd hiccup"):
                await api.create(CONFIG_MAPS, {"metadata": {"name": "c"}}, namespace="ns")
        finally:
            await api.close()
    assert len(server.requests("POST", CM)) == 1 and clock.sleeps == []


async def test_5xx_read_is_retried_with_backoff():
    """A read that got 503 (no Retry-After) is retried with growing backoff."""
    unavailable = Reply(503, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable", "message": "x"})
    async with FakeServer() as server:
        server.script("GET", f"{CM}/c", unavailable, unavailable, Reply(body={"metadata": {"name": "c"}}))
        clock = InstantClock()
        api = make_api(server, clock)
        try:
            await api.get(CONFIG_MAPS, "c", namespace="ns")
        finally:
            await api.close()
    assert clock.sleeps == [0.1, 0.2]


async def test_too_large_resource_version_is_not_retried():
    """504 ResourceVersionTooLarge goes straight to the caller, who relists from ''."""
    too_large = Reply(504, status_body(504, "Timeout", "Too large resource version",
                                       causes=[{"reason": "ResourceVersionTooLarge", "message": "x"}],
                                       retryAfterSeconds=1), headers={"Retry-After": "1"})
    async with FakeServer() as server:
        server.script("GET", CM, too_large)
        api = make_api(server, InstantClock())
        try:
            with pytest.raises(ServerTimeout) as info:
                await api.list(CONFIG_MAPS, namespace="ns")
        finally:
            await api.close()
    assert [c.reason for c in info.value.causes] == ["ResourceVersionTooLarge"]
    assert len(server.requests("GET", CM)) == 1


async def test_401_reloads_credentials_once():
    """A 401 asks the provider for a fresh token and retries once with it."""
    calls = []

    def provider(refresh: bool) -> str:
        calls.append(refresh)
        return "new" if refresh else "old"

    async with FakeServer() as server:
        server.script("GET", f"{CM}/c", Reply(401, status_body(401, "Unauthorized", "expired")),
                      Reply(body={"metadata": {"name": "c"}}))
        api = make_api(server, InstantClock(), token=provider)
        try:
            await api.get(CONFIG_MAPS, "c", namespace="ns")
        finally:
            await api.close()
    assert calls == [False, True]
    assert [s.headers["Authorization"] for s in server.requests("GET", f"{CM}/c")] == [
        "Bearer old", "Bearer new"]


async def test_non_status_error_body_still_maps_by_code():
    """A proxy's HTML 403 maps to Forbidden and keeps a readable message."""
    async with FakeServer() as server:
        server.script("GET", f"{CM}/c", Reply(403, "<html>denied</html>"))
        api = make_api(server, InstantClock())
        try:
            with pytest.raises(Forbidden, match="HTTP 403"):
                await api.get(CONFIG_MAPS, "c", namespace="ns")
        finally:
            await api.close()


async def test_connection_refused_is_a_typed_error():
    """Nobody listening: after read retries, an ApiError with status 503."""
    async with FakeServer() as server:
        url = server.url
    api = HttpApi(HttpConfig(server=url, max_retries=1), clock=InstantClock())
    try:
        with pytest.raises(ApiError) as info:
            await api.get(CONFIG_MAPS, "c", namespace="ns")
    finally:
        await api.close()
    assert info.value.status == 503 and info.value.reason == "ServiceUnavailable"


async def test_token_bucket_throttles_requests():
    """qps=2, burst=1: the 2nd and 3rd request wait 0.5 s each on the injected clock."""
    async with FakeServer() as server:
        server.script("GET", f"{CM}/c", Reply(body={"metadata": {"name": "c"}}))
        clock = InstantClock()
        api = make_api(server, clock, qps=2.0, burst=1)
        try:
            for _ in range(3):
                await api.get(CONFIG_MAPS, "c", namespace="ns")
        finally:
            await api.close()
    assert clock.sleeps == [0.5, 0.5]


async def test_list_follows_continue_and_normalises_items():
    """Pages are joined, the first page's RV kept, items sorted and given kind/apiVersion."""
    page1 = {"kind": "ConfigMapList", "metadata": {"resourceVersion": "42", "continue": "tok2"},
             "items": [{"metadata": {"name": "b", "namespace": "ns"}}]}
    page2 = {"kind": "ConfigMapList", "metadata": {"resourceVersion": "42"},
             "items": [{"metadata": {"name": "a", "namespace": "ns"}}]}
    async with FakeServer() as server:
        server.script("GET", CM, Reply(body=page1), Reply(body=page2))
        api = make_api(server, InstantClock())
        try:
            result = await api.list(CONFIG_MAPS, namespace="ns", label_selector="app=x",
                                    field_selector="metadata.name!=z", resource_version="40")
        finally:
            await api.close()
    assert result.resource_version == "42"
    assert [i["metadata"]["name"] for i in result.items] == ["a", "b"]
    assert all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in result.items)
    first, second = server.requests("GET", CM)
    assert first.query == {"labelSelector": "app=x", "fieldSelector": "metadata.name!=z", "limit": "500",
                           "resourceVersion": "40"}
    # The continue token pins the snapshot; the server refuses a resourceVersion beside it.
    assert second.query["continue"] == "tok2" and "resourceVersion" not in second.query


async def test_create_adds_type_meta_and_rejects_namespace_mismatch():
    """Bodies get apiVersion/kind (custom resources need them); a namespace clash is refused."""
    async with FakeServer() as server:
        server.script("POST", WF, Reply(201, {"metadata": {"name": "w"}}))
        api = make_api(server, InstantClock())
        try:
            await api.create(WORKFLOWS, {"metadata": {"name": "w"}, "spec": {}}, namespace="ns")
            with pytest.raises(BadRequest, match="does not match"):
                await api.create(WORKFLOWS, {"metadata": {"name": "w", "namespace": "b"}}, namespace="ns")
        finally:
            await api.close()
    [seen] = server.requests("POST", WF)
    assert json.loads(seen.body) == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                     "metadata": {"name": "w"}, "spec": {}}


async def test_patch_and_status_subresource():
    """The patch type is the Content-Type; a subresource is a path suffix."""
    async with FakeServer() as server:
        server.script("PATCH", f"{WF}/w/status", Reply(body={"metadata": {"name": "w"}}))
        api = make_api(server, InstantClock())
        try:
            await api.patch(WORKFLOWS, "w", [{"op": "add", "path": "/status", "value": {}}], namespace="ns",
                            patch_type=PatchType.JSON, subresource="status")
        finally:
            await api.close()
    [seen] = server.requests("PATCH", f"{WF}/w/status")
    assert seen.headers["Content-Type"] == "application/json-patch+json"
    assert json.loads(seen.body) == [{"op": "add", "path": "/status", "value": {}}]


async def test_delete_options_and_status_answer():
    """DeleteOptions carry propagation, grace and preconditions; a Status answer becomes a stub."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Success",
              "details": {"name": "c", "kind": "configmaps", "uid": "u-1"}}
    async with FakeServer() as server:
        server.script("DELETE", f"{CM}/c", Reply(body=status))
        server.script("DELETE", "/api/v1/namespaces/ns/pods/p",
                      Reply(409, status_body(409, "Conflict", "Precondition failed: UID")))
        api = make_api(server, InstantClock())
        try:
            stub = await api.delete(CONFIG_MAPS, "c", namespace="ns", propagation=Propagation.FOREGROUND,
                                    grace_period_seconds=0)
            with pytest.raises(Conflict):
                await api.delete(PODS, "p", namespace="ns", preconditions=Preconditions(uid="u-9"))
        finally:
            await api.close()
    assert stub == {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "uid": "u-1", "namespace": "ns"}}
    [seen] = server.requests("DELETE", f"{CM}/c")
    assert json.loads(seen.body) == {"apiVersion": "v1", "kind": "DeleteOptions",
                                     "propagationPolicy": "Foreground", "gracePeriodSeconds": 0}
    [pod] = server.requests("DELETE", "/api/v1/namespaces/ns/pods/p")
    assert json.loads(pod.body)["preconditions"] == {"uid": "u-9"}


def test_one_loop_per_client():
    """Using an open client from a second event loop is a clear error, not a leaked session."""
    import asyncio

    async def serve_and_get(api_holder: list):
        async with FakeServer() as server:
            server.script("GET", f"{CM}/c", Reply(body={"metadata": {"name": "c"}}))
            api = make_api(server, InstantClock())
            await api.get(CONFIG_MAPS, "c", namespace="ns")
            api_holder.append(api)

    holder: list = []
    asyncio.run(serve_and_get(holder))
    api = holder[0]

    async def again():
        with pytest.raises(RuntimeError, match="one HttpApi per event loop"):
            await api.get(CONFIG_MAPS, "c", namespace="ns")

    asyncio.run(again())
