"""Embedded-store behaviour beyond the shared contract: bounded buffers, history, bookmarks, SQLite."""
import asyncio
import sqlite3

import pytest

from tiphys.controller.api import (CLUSTER_WORKFLOW_TEMPLATES, WORKFLOWS, BadRequest, EmbeddedApi, EventType,
                                   Gone, Invalid)


def wf(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {}}


async def test_slow_watcher_is_shed_without_blocking_writers(clock):
    """A watcher that falls `watch_buffer` events behind stops receiving and ends cleanly after
    draining; writers never wait; a re-watch from its last RV gets the rest from history."""
    api = EmbeddedApi(clock=clock, watch_buffer=3, history_size=100)
    start = api.resource_version
    stream = api.watch(WORKFLOWS, namespace="ns", resource_version=start)
    for i in range(10):
        await api.create(WORKFLOWS, wf(f"w{i}"), namespace="ns")
    delivered = [event async for event in stream]
    assert [e.object["metadata"]["name"] for e in delivered] == ["w0", "w1", "w2"]
    last = delivered[-1].resource_version
    async with api.watch(WORKFLOWS, namespace="ns", resource_version=last) as again:
        rest = [await again.__anext__() for _ in range(7)]
    assert [e.object["metadata"]["name"] for e in rest] == [f"w{i}" for i in range(3, 10)]


async def test_bounded_history_expires_old_resource_versions(clock):
    """Only the last `history_size` events per resource are kept; older RVs are Gone."""
    api = EmbeddedApi(clock=clock, history_size=4)
    first = await api.create(WORKFLOWS, wf("a"), namespace="ns")
    for i in range(5):
        await api.patch(WORKFLOWS, "a", {"spec": {"i": i}}, namespace="ns")
    stream = api.watch(WORKFLOWS, namespace="ns", resource_version=first["metadata"]["resourceVersion"])
    with pytest.raises(Gone):
        await stream.__anext__()
    ok = api.watch(WORKFLOWS, namespace="ns", resource_version=str(int(api.resource_version) - 4))
    assert [(await ok.__anext__()).object["spec"]["i"] for _ in range(4)] == [1, 2, 3, 4]
    await ok.aclose()


async def test_history_is_per_resource(clock):
    """Writes to one resource do not expire another resource's history."""
    api = EmbeddedApi(clock=clock, history_size=2)
    rv = api.resource_version
    await api.create(WORKFLOWS, wf("w"), namespace="ns")
    for i in range(5):
        await api.create(CLUSTER_WORKFLOW_TEMPLATES, wf(f"c{i}"))
    async with api.watch(WORKFLOWS, resource_version=rv) as stream:
        assert (await stream.__anext__()).object["metadata"]["name"] == "w"


async def test_periodic_bookmarks(clock, settle):
    """With allow_bookmarks an idle watch gets a BOOKMARK every `bookmark_interval` seconds,
    carrying the store's current RV (writes to other namespaces move it)."""
    api = EmbeddedApi(clock=clock, bookmark_interval=60)
    stream = api.watch(WORKFLOWS, namespace="mine", resource_version=api.resource_version, allow_bookmarks=True)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    await api.create(WORKFLOWS, wf("x"), namespace="theirs")
    clock.advance(59)
    await settle()
    assert not pending.done()
    clock.advance(1)
    await settle()
    bookmark = pending.result()
    assert bookmark.type is EventType.BOOKMARK and bookmark.resource_version == api.resource_version
    await api.create(WORKFLOWS, wf("y"), namespace="theirs")
    clock.advance(60)
    assert (await stream.__anext__()).resource_version == api.resource_version
    await stream.aclose()
    assert clock.pending() == 0


async def test_closed_stream_unregisters(clock):
    """Closing (or abandoning) a stream stops the store from buffering for it."""
    api = EmbeddedApi(clock=clock)
    stream = api.watch(WORKFLOWS)
    assert len(api._watchers[WORKFLOWS.key]) == 1
    await stream.aclose()
    assert not api._watchers[WORKFLOWS.key]
    api.watch(WORKFLOWS)  # dropped at once: the finaliser unregisters it
    assert not api._watchers[WORKFLOWS.key]


async def test_close_ends_open_watches(clock):
    api = EmbeddedApi(clock=clock)
    stream = api.watch(WORKFLOWS, resource_version=api.resource_version)
    await api.close()
    assert [event async for event in stream] == []


@pytest.mark.parametrize("call", [
    pytest.param(lambda api: api.get(WORKFLOWS, "x"), id="namespace-required"),
    pytest.param(lambda api: api.get(CLUSTER_WORKFLOW_TEMPLATES, "x", namespace="ns"), id="cluster-scoped"),
    pytest.param(lambda api: api.create(WORKFLOWS, ["not", "a", "dict"], namespace="ns"), id="body-not-object"),
    pytest.param(lambda api: api.create(WORKFLOWS, {"metadata": {"name": "x"}, "spec": {1: object()}},
                                        namespace="ns"), id="not-json"),
    pytest.param(lambda api: api.create(WORKFLOWS, {"kind": "Pod", "metadata": {"name": "x"}}, namespace="ns"),
                 id="wrong-kind"),
    pytest.param(lambda api: api.create(WORKFLOWS, {"metadata": {"name": "x", "labels": {"a": 1}}},
                                        namespace="ns"), id="non-string-label"),
])
async def test_bad_requests(clock, call):
    """Misuse is a typed BadRequest/Invalid naming the problem, never a KeyError or TypeError."""
    api = EmbeddedApi(clock=clock)
    with pytest.raises((BadRequest, Invalid)):
        await call(api)


async def test_sqlite_write_through(clock, tmp_path):
    """Every acknowledged write is already in the file (one row per live object plus the counter)."""
    path = tmp_path / "s.db"
    api = EmbeddedApi(clock=clock, path=path)
    await api.create(WORKFLOWS, wf("a"), namespace="ns")
    await api.create(WORKFLOWS, wf("b"), namespace="ns")
    await api.delete(WORKFLOWS, "b", namespace="ns")
    await api.close()  # the store holds the file exclusively while it runs
    peek = sqlite3.connect(path)
    rows = peek.execute("SELECT resource, namespace, name, rv FROM objects").fetchall()
    counter = peek.execute("SELECT value FROM meta WHERE key = 'resourceVersion'").fetchone()[0]
    peek.close()
    assert rows == [("argoproj.io/workflows", "ns", "a", 1)] and counter == 3


async def test_sqlite_file_is_exclusive(clock, tmp_path):
    """A second store on a file that a running store holds fails with StoreLocked."""
    from tiphys.controller.api.sqlite import StoreLocked
    path = tmp_path / "s.db"
    first = EmbeddedApi(clock=clock, path=path)
    await first.create(WORKFLOWS, wf("a"), namespace="ns")
    with pytest.raises(StoreLocked) as info:
        EmbeddedApi(clock=clock, path=path)
    assert str(path) in str(info.value.args[0])
    await first.close()
    second = EmbeddedApi(clock=clock, path=path)
    assert (await second.get(WORKFLOWS, "a", namespace="ns"))["metadata"]["name"] == "a"
    await second.close()


async def test_sqlite_failed_write_changes_nothing(clock, tmp_path):
    """If persistence fails, the write is not applied in memory nor announced."""
    api = EmbeddedApi(clock=clock, path=tmp_path / "s.db")
    await api.create(WORKFLOWS, wf("a"), namespace="ns")
    rv = api.resource_version
    stream = api.watch(WORKFLOWS, resource_version=rv)
    api._persistence._conn.close()  # simulate a broken database
    with pytest.raises(sqlite3.ProgrammingError):
        await api.patch(WORKFLOWS, "a", {"spec": {"x": 1}}, namespace="ns")
    assert api.resource_version == rv
    assert (await api.get(WORKFLOWS, "a", namespace="ns"))["spec"] == {}
    assert not stream._watcher.queue
    await stream.aclose()


async def test_bookmark_before_timeout_end(clock, settle):
    """The embedded store ends a bookmarking watch with a BOOKMARK at the current RV, so a
    resuming client skips writes it could not see (another namespace's)."""
    api = EmbeddedApi(clock=clock, bookmark_interval=600)
    stream = api.watch(WORKFLOWS, namespace="mine", resource_version=api.resource_version,
                       allow_bookmarks=True, timeout=5)
    await api.create(WORKFLOWS, wf("other"), namespace="theirs")
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    clock.advance(5)
    await settle()
    assert pending.result().type is EventType.BOOKMARK
    assert pending.result().resource_version == api.resource_version
    assert [event async for event in stream] == []
    assert clock.pending() == 0


async def test_finalizer_removal_delete_event_carries_stored_state(clock):
    """Removing the last finalizer deletes; the DELETED event carries the last stored state."""
    api = EmbeddedApi(clock=clock)
    await api.create(WORKFLOWS, {"metadata": {"name": "f", "finalizers": ["x/y"]}, "spec": {}}, namespace="ns")
    marked = await api.delete(WORKFLOWS, "f", namespace="ns")
    async with api.watch(WORKFLOWS, resource_version=marked["metadata"]["resourceVersion"]) as stream:
        final = await api.patch(WORKFLOWS, "f", {"metadata": {"finalizers": None}}, namespace="ns")
        event = await stream.__anext__()
    assert "finalizers" not in final["metadata"]
    assert event.type is EventType.DELETED and event.object["metadata"]["finalizers"] == ["x/y"]
    assert event.resource_version == api.resource_version
