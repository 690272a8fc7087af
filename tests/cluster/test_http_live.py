"""HttpApi against the real kube-apiserver: what only a real server can show.

The contract suite (tests/contract/test_http_contract.py) covers the `Api` semantics; these
tests cover the client itself: configuration from the generated kubeconfigs, RBAC errors,
event lines far beyond aiohttp's 128 KiB readline limit, 410 from the watch cache, paging
over 500 objects, and the bookmark the watch cache sends ahead of a watch's timeout.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from tiphys.controller.api import CONFIG_MAPS, NAMESPACES, WORKFLOWS, EventType, Forbidden, Gone
from tiphys.controller.api.http import HttpApi, HttpConfig

from ._control_plane import ControlPlane

pytestmark = pytest.mark.cluster


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def workflow(name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"entrypoint": "main", **spec}}


def test_kubeconfig_admin_and_rbac_denial(cluster: ControlPlane, cluster_namespace: str) -> None:
    """The admin kubeconfig reads; the unprivileged one gets a typed Forbidden naming the user."""
    async def main():
        admin = HttpApi.from_kubeconfig(cluster.kubeconfig)
        user = HttpApi.from_kubeconfig(cluster.unprivileged_kubeconfig)
        try:
            ns = await admin.get(NAMESPACES, cluster_namespace)
            assert ns["metadata"]["name"] == cluster_namespace
            with pytest.raises(Forbidden) as info:
                await user.list(WORKFLOWS, namespace=cluster_namespace)
            return info.value
        finally:
            await admin.close()
            await user.close()

    error = run(main())
    assert error.status == 403 and "tiphys-unprivileged" in error.message


def test_watch_carries_a_megabyte_event(cluster: ControlPlane, cluster_namespace: str) -> None:
    """A 1.4 MiB Workflow (near etcd's 1.5 MiB request limit) is one watch line, decoded intact."""
    blob = "x" * (700 << 10)

    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        try:
            start = (await api.list(WORKFLOWS, namespace=cluster_namespace)).resource_version
            async with api.watch(WORKFLOWS, namespace=cluster_namespace, resource_version=start) as stream:
                await api.create(WORKFLOWS, workflow("big", note=blob), namespace=cluster_namespace)
                await api.patch(WORKFLOWS, "big", {"spec": {"more": blob}}, namespace=cluster_namespace)
                return [await stream.__anext__(), await stream.__anext__()]
        finally:
            await api.close()

    added, modified = run(main())
    assert (added.type, modified.type) == (EventType.ADDED, EventType.MODIFIED)
    assert modified.object["spec"]["note"] == blob and modified.object["spec"]["more"] == blob


def test_watch_from_an_expired_resource_version_is_gone(cluster: ControlPlane, cluster_namespace: str) -> None:
    """RV 1 is older than the watch cache's window: Gone (410) from iteration."""
    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        try:
            stream = api.watch(WORKFLOWS, namespace=cluster_namespace, resource_version="1")
            with pytest.raises(Gone) as info:
                await stream.__anext__()
            return info.value
        finally:
            await api.close()

    assert run(main()).status == 410


def test_list_pages_over_500_objects(cluster: ControlPlane, cluster_namespace: str) -> None:
    """520 ConfigMaps come back through two pages, sorted, as one snapshot to watch from."""
    names = [f"cm-{i:04d}" for i in range(520)]

    async def main():
        # A generous bucket: this test is about paging, not throttling.
        config = HttpConfig(server=cluster.server, ca_cert=str(cluster.ca_cert),
                            token=lambda refresh: cluster.admin_token, qps=2000.0, burst=2000)
        api = HttpApi(config)
        try:
            for i in range(0, len(names), 40):
                await asyncio.gather(*(api.create(CONFIG_MAPS, {"metadata": {"name": n}},
                                                  namespace=cluster_namespace) for n in names[i:i + 40]))
            listed = await api.list(CONFIG_MAPS, namespace=cluster_namespace)
            async with api.watch(CONFIG_MAPS, namespace=cluster_namespace,
                                 resource_version=listed.resource_version) as stream:
                await api.patch(CONFIG_MAPS, names[0], {"data": {"k": "v"}}, namespace=cluster_namespace)
                event = await stream.__anext__()
            return listed, event
        finally:
            await api.close()

    listed, event = run(main())
    got = [i["metadata"]["name"] for i in listed.items if i["metadata"]["name"].startswith("cm-")]
    assert got == names
    assert all(i["kind"] == "ConfigMap" for i in listed.items)
    # The first change after the snapshot, nothing older replayed.
    assert (event.type, event.object["metadata"]["name"]) == (EventType.MODIFIED, names[0])


def test_bookmark_ahead_of_timeout(cluster: ControlPlane, cluster_namespace: str) -> None:
    """With bookmarks on and a 4 s timeout, the watch cache sends a BOOKMARK (due at deadline
    - 2 s) at or past the last event's RV, then ends the stream cleanly.

    The bookmark rides the cacher's once-a-second dispatch timer and is skipped when its
    bucket is missed under load, so allow up to six watches to show one: the more the machine is
    loaded, the more buckets are missed, and a watch without one costs only its 4 s.
    """
    async def one_watch(api: HttpApi, name: str):
        start = (await api.list(WORKFLOWS, namespace=cluster_namespace)).resource_version
        t0 = time.monotonic()
        async with api.watch(WORKFLOWS, namespace=cluster_namespace, resource_version=start,
                             allow_bookmarks=True, timeout=4) as stream:
            created = await api.create(WORKFLOWS, workflow(name), namespace=cluster_namespace)
            events = [e async for e in stream]
        return created, events, time.monotonic() - t0

    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        try:
            runs = []
            for attempt in range(6):
                runs.append(await one_watch(api, f"bm-{attempt}"))
                if any(e.type is EventType.BOOKMARK for e in runs[-1][1]):
                    break
            return runs
        finally:
            await api.close()

    runs = run(main())
    for created, events, elapsed in runs:
        assert events[0].type is EventType.ADDED
        assert events[0].object["metadata"]["uid"] == created["metadata"]["uid"]
        # ended by the server's 4 s timeout, cleanly (an unended stream would hang until run()'s 60 s;
        # the upper bound leaves a loaded machine's create and list room)
        assert 3.0 <= elapsed < 30.0
    created, events, _ = runs[-1]
    bookmarks = [e for e in events if e.type is EventType.BOOKMARK]
    assert bookmarks, f"no bookmark in {len(runs)} watches: {[[e.type for e in r[1]] for r in runs]}"
    assert int(bookmarks[-1].resource_version) >= int(created["metadata"]["resourceVersion"])
    assert set(bookmarks[-1].object) == {"kind", "apiVersion", "metadata"}


def test_informer_over_http_survives_watch_timeouts(cluster: ControlPlane, cluster_namespace: str) -> None:
    """The controller's Informer on HttpApi: lists, watches, and keeps following changes across
    server-side watch timeouts (2-3 s here), in order, with deletes carrying the last state."""
    from tiphys.controller.clock import RealClock
    from tiphys.controller.informer import FuncHandler, Informer

    async def wait_for(check, what: str) -> None:
        deadline = time.monotonic() + 20
        while not check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    async def main():
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        seen: list[tuple[str, str]] = []
        try:
            for name in ("a", "b"):
                await api.create(WORKFLOWS, workflow(name), namespace=cluster_namespace)
            informer = Informer(api, WORKFLOWS, clock=RealClock(), namespace=cluster_namespace,
                                watch_timeout=(2.0, 3.0))
            informer.add_handler(FuncHandler(
                add=lambda o: seen.append(("add", o["metadata"]["name"])),
                update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                delete=lambda o, final_state_unknown=False: seen.append(("delete", o["metadata"]["name"]))))
            task = asyncio.ensure_future(informer.run())
            try:
                await asyncio.wait_for(informer.wait_synced(), 20)
                # the first list is at resourceVersion "0" (the watch cache, maybe a moment stale, as
                # client-go's); the watch that follows brings what it missed
                await wait_for(lambda: sorted(informer.store.keys()) == [
                    f"{cluster_namespace}/a", f"{cluster_namespace}/b"], "store did not list a and b")
                await asyncio.sleep(3.5)  # past the first watch's timeout: now on a re-watch
                await api.create(WORKFLOWS, workflow("c"), namespace=cluster_namespace)
                await api.delete(WORKFLOWS, "a", namespace=cluster_namespace)
                await wait_for(lambda: sorted(informer.store.keys()) == [
                    f"{cluster_namespace}/b", f"{cluster_namespace}/c"], "store did not follow")
                return seen, informer.relists
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await api.close()

    seen, relists = run(main())
    assert sorted(seen[:2]) == [("add", "a"), ("add", "b")]
    assert seen[2:] == [("add", "c"), ("delete", "a")]
    assert relists == 1  # clean timeouts re-watch; they never relist


def test_client_certificate_kubeconfig(cluster: ControlPlane) -> None:
    """A kubeconfig with client-certificate/client-key (kind, kubeadm) authenticates HttpApi by
    TLS; the apiserver maps CN to the user and O to the groups."""
    from tiphys.controller.api import Resource

    reviews = Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
                       namespaced=False)

    async def main():
        api = HttpApi.from_kubeconfig(cluster.cert_kubeconfig)
        try:
            assert api.config.client_cert and api.config.token(False) is None
            return await api.create(reviews, {})
        finally:
            await api.close()

    user = run(main())["status"]["userInfo"]
    assert user["username"] == "cert-admin" and "system:masters" in user["groups"]
