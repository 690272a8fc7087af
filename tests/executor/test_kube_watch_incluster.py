"""The in-cluster client's `snapshot`, `watch` and `subresource=` against a real kube-apiserver with
Argo's CRDs: a field-selected watch from a list's version, the server's timeoutSeconds renewals
and bookmarks, a too-old version (410), the status subresource under the agent's Role, and --
through the cluster tests' FaultProxy -- streams cut mid-line and injected 410s in both forms."""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.cluster._faults import FaultProxy
from tests.executor._deployed_rbac import grant_deployed_role
from tiphys.executor.kube import BUILTIN, InClusterClient, KubeError, KubeGone, PatchKind, WatchEventType

pytestmark = pytest.mark.cluster
TS = BUILTIN.for_manifest("argoproj.io/v1alpha1", "WorkflowTaskSet")


def task_set(name: str, **tasks: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskSet", "metadata": {"name": name},
            "spec": {"tasks": tasks}}


@asynccontextmanager
async def client_for(cluster, *, token: str | None = None, server: str | None = None) -> AsyncIterator[InClusterClient]:
    context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    async with InClusterClient(server or cluster.server, token=lambda: token or cluster.admin_token,
                               ssl_context=context) as client:
        yield client


async def label(client: InClusterClient, ns: str, name: str, value: str) -> None:
    await client.patch(TS, name, {"metadata": {"labels": {"step": value}}}, namespace=ns, patch_kind=PatchKind.MERGE)


def test_a_field_selected_watch_from_a_snapshot_sees_only_its_object(cluster, cluster_namespace):
    ns = cluster_namespace

    async def go() -> tuple[list, list]:
        async with client_for(cluster) as client:
            for name in ("a", "b"):
                await client.create(TS, task_set(name), namespace=ns)
            snap = await client.snapshot(TS, namespace=ns, field_selector="metadata.name=a")
            seen: list[tuple[str, str, str]] = []
            async with client.watch(TS, namespace=ns, field_selector="metadata.name=a",
                                    resource_version=snap.resource_version, timeout_seconds=60) as stream:
                await label(client, ns, "b", "1")
                await label(client, ns, "a", "2")
                await client.delete(TS, "a", namespace=ns)
                async with asyncio.timeout(30):
                    async for event in stream:
                        if event.type is not WatchEventType.BOOKMARK:
                            meta = event.object["metadata"]
                            seen.append((event.type.value, meta["name"], (meta.get("labels") or {}).get("step", "")))
                        if event.type is WatchEventType.DELETED:
                            break
            return [o["metadata"]["name"] for o in snap.items], seen

    names, seen = asyncio.run(go())
    assert names == ["a"]
    assert seen == [("MODIFIED", "a", "2"), ("DELETED", "a", "2")]


def test_the_server_ends_each_request_at_timeout_seconds_and_bookmarks_keep_the_version_fresh(
        cluster, cluster_namespace):
    """timeoutSeconds=3: the apiserver sends a BOOKMARK shortly before each end (its version
    moved by writes to another object), the stream renews the request from there, and a change
    made after two renewals still arrives -- once."""
    ns = cluster_namespace

    async def go() -> tuple[list, int, str]:
        async with client_for(cluster) as client:
            for name in ("a", "b"):
                await client.create(TS, task_set(name), namespace=ns)
            snap = await client.snapshot(TS, namespace=ns, field_selector="metadata.name=a")
            events: list[tuple[str, str]] = []

            async def writes() -> None:
                for i in range(7):
                    await asyncio.sleep(1)
                    await label(client, ns, "b", str(i))
                await label(client, ns, "a", "late")

            async with client.watch(TS, namespace=ns, field_selector="metadata.name=a",
                                    resource_version=snap.resource_version, timeout_seconds=3) as stream:
                writer = asyncio.ensure_future(writes())
                async with asyncio.timeout(40):
                    async for event in stream:
                        events.append((event.type.value, event.resource_version))
                        if event.type is WatchEventType.MODIFIED:
                            break
                await writer
                return events, stream.requests, snap.resource_version

    events, requests, start = asyncio.run(go())
    assert requests >= 3, f"the 3 s requests were not renewed: {requests} request(s), events {events}"
    bookmarks = [int(rv) for kind, rv in events if kind == "BOOKMARK"]
    assert bookmarks and bookmarks[0] > int(start) and bookmarks == sorted(bookmarks), events
    assert [kind for kind, _ in events if kind != "BOOKMARK"] == ["MODIFIED"]


def test_a_too_old_version_is_gone(cluster, cluster_namespace):
    """The watch cache no longer holds version 1: 410 `too old resource version`, typed."""
    async def go() -> KubeError:
        async with client_for(cluster) as client:
            with pytest.raises(KubeGone) as info:
                async with client.watch(TS, namespace=cluster_namespace, resource_version="1") as stream:
                    await stream.__anext__()
            return info.value

    err = asyncio.run(go())
    assert err.status == 410 and "too old resource version" in err.message


def test_the_status_subresource_under_the_agent_role(cluster, cluster_namespace):
    """The agent's Role patches `workflowtasksets/status` only: through `subresource="status"` the
    patch lands; the same patch of the object itself is refused (403). An update through the
    subresource writes the status and leaves the spec as it was."""
    ns, user = cluster_namespace, cluster.unprivileged
    grant_deployed_role(cluster.rest(), ns, user, "tiphys-agent")

    async def go() -> tuple[dict, KubeError, dict]:
        async with client_for(cluster) as admin, client_for(cluster, token=user.token) as agent:
            await admin.create(TS, task_set("wf", n={"name": "x"}), namespace=ns)
            patch = {"status": {"nodes": {"n": {"phase": "Succeeded"}}}}
            await agent.patch(TS, "wf", patch, namespace=ns, patch_kind=PatchKind.MERGE, subresource="status")
            with pytest.raises(KubeError) as refused:
                await agent.patch(TS, "wf", patch, namespace=ns, patch_kind=PatchKind.MERGE)
            after_patch = await admin.get(TS, "wf", namespace=ns)
            body = {**after_patch, "spec": {"tasks": {}}, "status": {"nodes": {"n": {"phase": "Failed"}}}}
            updated = await admin.update(TS, body, namespace=ns, subresource="status")
            return after_patch, refused.value, updated

    after_patch, refused, updated = asyncio.run(go())
    assert after_patch["status"] == {"nodes": {"n": {"phase": "Succeeded"}}}
    assert refused.status == 403 and not refused.transient
    assert updated["status"] == {"nodes": {"n": {"phase": "Failed"}}}
    assert updated["spec"] == {"tasks": {"n": {"name": "x"}}}, "the status subresource ignores the spec"


@asynccontextmanager
async def proxy_for(cluster, **faults: Any) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(cluster, **faults)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def test_streams_cut_mid_line_lose_and_repeat_nothing(cluster, cluster_namespace):
    """Every watch response is cut after one or two events, half-way into the next line: the
    stream resumes from its last whole event, and the eight changes arrive once each, in order."""
    ns = cluster_namespace

    async def go() -> tuple[list, int, dict]:
        async with proxy_for(cluster, cut_watch_events=(1, 2)) as proxy, client_for(cluster) as admin, \
                client_for(cluster, server=proxy.url) as client:
            await admin.create(TS, task_set("a"), namespace=ns)
            snap = await client.snapshot(TS, namespace=ns, field_selector="metadata.name=a")
            steps: list[str] = []

            async def writes() -> None:
                for i in range(8):
                    await label(admin, ns, "a", str(i))
                    await asyncio.sleep(0.1)

            async with client.watch(TS, namespace=ns, field_selector="metadata.name=a",
                                    resource_version=snap.resource_version, timeout_seconds=60) as stream:
                writer = asyncio.ensure_future(writes())
                async with asyncio.timeout(60):
                    async for event in stream:
                        if event.type is WatchEventType.MODIFIED:
                            steps.append(event.object["metadata"]["labels"]["step"])
                        if steps[-1:] == ["7"]:
                            break
                await writer
                return steps, stream.requests, dict(proxy.stats)

    steps, requests, stats = asyncio.run(go())
    assert steps == [str(i) for i in range(8)]
    assert stats["watch_cut"] >= 3 and requests == stats["watch_cut"] + 1, stats


def test_injected_gone_in_both_forms(cluster, cluster_namespace):
    """FaultProxy expires the first two watches from a version: an HTTP 410, then a 200 whose
    first event is an ERROR Status 410; both are `KubeGone`, and the third watch works."""
    ns = cluster_namespace

    async def go() -> tuple[list, dict, str]:
        async with proxy_for(cluster, expire={"workflowtasksets": 2}) as proxy, \
                client_for(cluster, server=proxy.url) as client:
            await client.create(TS, task_set("a"), namespace=ns)
            gone = []
            for _ in range(2):
                snap = await client.snapshot(TS, namespace=ns)
                with pytest.raises(KubeGone) as info:
                    async with client.watch(TS, namespace=ns, resource_version=snap.resource_version) as stream:
                        await stream.__anext__()
                gone.append(info.value.reason)
            snap = await client.snapshot(TS, namespace=ns)
            async with client.watch(TS, namespace=ns, resource_version=snap.resource_version) as stream:
                await label(client, ns, "a", "x")
                async with asyncio.timeout(30):
                    event = await stream.__anext__()
            return gone, dict(proxy.stats), event.type.value

    gone, stats, kind = asyncio.run(go())
    assert gone == ["Gone", "Expired"]
    assert (stats["410_http"], stats["410_event"]) == (1, 1)
    assert kind == "MODIFIED"
