"""Contract: list with selectors, watch from a resourceVersion, bookmarks, timeouts, 410."""
import pytest

from tiphys.controller.api import (PODS, WORKFLOWS, BadRequest, EventType, Gone, ServerTimeout,
                                   resource_version)


def wf(name: str, ns: str, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": {}}


def pod(name: str, ns: str, node: str | None = None) -> dict:
    spec = {"containers": [{"name": "main", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


async def take(stream, n: int) -> list:
    events = []
    async for event in stream:
        events.append(event)
        if len(events) == n:
            break
    return events


def names(items) -> list[str]:
    return [item["metadata"]["name"] for item in items]


async def test_list_sorted_with_resource_version(api, ns):
    """list returns objects sorted by name and the store's resourceVersion."""
    for name in ("c", "a", "b"):
        last = await api.create(WORKFLOWS, wf(name, ns), namespace=ns)
    result = await api.list(WORKFLOWS, namespace=ns)
    assert names(result.items) == ["a", "b", "c"]
    assert int(result.resource_version) >= int(last["metadata"]["resourceVersion"])


@pytest.mark.parametrize("selector, expected", [
    pytest.param("app=x", ["one", "two"], id="equals"),
    pytest.param("app==x,tier=web", ["one"], id="double-equals-and"),
    pytest.param("app!=x", ["three", "four"], id="not-equals-includes-missing"),
    pytest.param("tier in (web,db)", ["one", "three"], id="in"),
    pytest.param("tier notin (web)", ["two", "three", "four"], id="notin"),
    pytest.param("tier", ["one", "three"], id="exists"),
    pytest.param("!tier", ["two", "four"], id="not-exists"),
    pytest.param("", ["one", "two", "three", "four"], id="empty"),
])
async def test_label_selectors(api, ns, selector, expected):
    """Equality- and set-based label selectors, including negations matching unlabelled objects."""
    await api.create(WORKFLOWS, wf("one", ns, {"app": "x", "tier": "web"}), namespace=ns)
    await api.create(WORKFLOWS, wf("two", ns, {"app": "x"}), namespace=ns)
    await api.create(WORKFLOWS, wf("three", ns, {"app": "y", "tier": "db"}), namespace=ns)
    await api.create(WORKFLOWS, wf("four", ns), namespace=ns)
    result = await api.list(WORKFLOWS, namespace=ns, label_selector=selector)
    assert sorted(names(result.items)) == sorted(expected)


async def test_field_selectors(api, ns):
    """metadata.name on any resource; spec.nodeName and status.phase on pods (missing = "")."""
    await api.create(PODS, pod("p1", ns, node="n1"), namespace=ns)
    await api.create(PODS, pod("p2", ns), namespace=ns)
    await api.patch(PODS, "p2", {"status": {"phase": "Running"}}, namespace=ns, subresource="status")
    assert names((await api.list(PODS, namespace=ns, field_selector="metadata.name=p2")).items) == ["p2"]
    assert names((await api.list(PODS, namespace=ns, field_selector="spec.nodeName=n1")).items) == ["p1"]
    assert names((await api.list(PODS, namespace=ns, field_selector="spec.nodeName=")).items) == ["p2"]
    assert names((await api.list(PODS, namespace=ns, field_selector="status.phase!=Running")).items) == ["p1"]
    both = await api.list(PODS, namespace=ns, field_selector="status.phase=Pending,spec.nodeName=n1")
    assert names(both.items) == ["p1"]


async def test_unsupported_field_selector_is_bad_request(api, ns):
    """Custom resources only select on metadata fields; other paths are BadRequest."""
    with pytest.raises(BadRequest):
        await api.list(WORKFLOWS, namespace=ns, field_selector="status.phase=Running")


async def test_malformed_label_selector_is_bad_request(api, ns):
    with pytest.raises(BadRequest):
        await api.list(WORKFLOWS, namespace=ns, label_selector="a in b")


async def test_list_across_namespaces(api, ns):
    """namespace=None lists every namespace; a namespace filters."""
    await api.create(WORKFLOWS, wf("here", ns), namespace=ns)
    all_items = await api.list(WORKFLOWS)
    assert "here" in names(all_items.items)
    assert names((await api.list(WORKFLOWS, namespace=ns + "-other")).items) == []


async def test_watch_from_list_resource_version_sees_only_later_changes(api, ns):
    """Watching from a list's resourceVersion delivers exactly the later writes, in order."""
    await api.create(WORKFLOWS, wf("before", ns), namespace=ns)
    listed = await api.list(WORKFLOWS, namespace=ns)
    created = await api.create(WORKFLOWS, wf("after", ns), namespace=ns)
    modified = await api.patch(WORKFLOWS, "before", {"spec": {"x": 1}}, namespace=ns)
    await api.delete(WORKFLOWS, "after", namespace=ns)
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=listed.resource_version) as stream:
        events = await take(stream, 3)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        (EventType.ADDED, "after"), (EventType.MODIFIED, "before"), (EventType.DELETED, "after")]
    assert events[0].object == created and events[1].object == modified
    rvs = [int(e.resource_version) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert events[2].object["metadata"]["uid"] == created["metadata"]["uid"]


async def test_deleted_event_carries_last_state(api, ns):
    """DELETED carries the object's final state, stamped with the deletion's resourceVersion."""
    obj = await api.create(WORKFLOWS, wf("gone", ns, {"k": "v"}), namespace=ns)
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=obj["metadata"]["resourceVersion"]) as stream:
        await api.delete(WORKFLOWS, "gone", namespace=ns)
        [event] = await take(stream, 1)
    assert event.type is EventType.DELETED
    assert event.object["metadata"]["labels"] == {"k": "v"}
    assert int(event.resource_version) > int(obj["metadata"]["resourceVersion"])


async def test_watch_without_resource_version_starts_with_current_state(api, ns):
    """resource_version None (or "0") first replays existing objects as ADDED, then live events."""
    await api.create(WORKFLOWS, wf("a", ns), namespace=ns)
    await api.create(WORKFLOWS, wf("b", ns), namespace=ns)
    async with api.watch(WORKFLOWS, namespace=ns) as stream:
        first = await take(stream, 2)
        await api.create(WORKFLOWS, wf("c", ns), namespace=ns)
        [live] = await take(stream, 1)
    assert sorted((e.type, e.object["metadata"]["name"]) for e in first) == [
        (EventType.ADDED, "a"), (EventType.ADDED, "b")]
    assert (live.type, live.object["metadata"]["name"]) == (EventType.ADDED, "c")


async def test_watch_label_selector_moves(api, ns):
    """An object leaving a watch's selector arrives as DELETED carrying its last matching state
    (stamped with the event's resourceVersion), one entering as ADDED."""
    obj = await api.create(WORKFLOWS, wf("mover", ns, {"keep": "yes"}), namespace=ns)
    rv = obj["metadata"]["resourceVersion"]
    await api.patch(WORKFLOWS, "mover", {"metadata": {"labels": {"keep": "no"}}}, namespace=ns)
    await api.patch(WORKFLOWS, "mover", {"metadata": {"labels": {"other": "x"}}}, namespace=ns)
    await api.patch(WORKFLOWS, "mover", {"metadata": {"labels": {"keep": "yes"}}}, namespace=ns)
    await api.patch(WORKFLOWS, "mover", {"spec": {"v": 2}}, namespace=ns)
    async with api.watch(WORKFLOWS, namespace=ns, label_selector="keep=yes", resource_version=rv) as stream:
        events = await take(stream, 3)
    assert [e.type for e in events] == [EventType.DELETED, EventType.ADDED, EventType.MODIFIED]
    assert events[0].object["metadata"]["labels"]["keep"] == "yes"
    assert int(events[0].resource_version) > int(rv)


async def test_watch_field_selector(api, ns):
    """A pod watch on spec.nodeName sees only that node's pods."""
    start = (await api.list(PODS, namespace=ns)).resource_version
    await api.create(PODS, pod("on-n1", ns, node="n1"), namespace=ns)
    await api.create(PODS, pod("on-n2", ns, node="n2"), namespace=ns)
    async with api.watch(PODS, namespace=ns, field_selector="spec.nodeName=n2", resource_version=start) as stream:
        [event] = await take(stream, 1)
    assert event.object["metadata"]["name"] == "on-n2"


async def test_watch_is_namespaced(api, ns):
    """A namespaced watch ignores other namespaces."""
    start = (await api.list(WORKFLOWS)).resource_version
    await api.create(WORKFLOWS, wf("elsewhere", ns + "-b"), namespace=ns + "-b")
    await api.create(WORKFLOWS, wf("here", ns), namespace=ns)
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=start) as stream:
        [event] = await take(stream, 1)
    assert event.object["metadata"]["name"] == "here"


# The short watches below must carry one event made after they open: on a real server the create
# and its delivery race the server's timer, so the timeout leaves a loaded machine room (1 s did not).
SHORT_WATCH = 3


async def test_watch_timeout_ends_cleanly(api, ns, backend):
    """After `timeout` seconds the stream ends without error (no bookmark unless asked for)."""
    start = (await api.list(WORKFLOWS, namespace=ns)).resource_version
    seen = []
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=start, timeout=SHORT_WATCH) as stream:
        await api.create(WORKFLOWS, wf("one", ns), namespace=ns)
        seen.append(await stream.__anext__())
        await backend.advance(SHORT_WATCH + 0.5)
        seen.extend([event async for event in stream])
    assert [e.type for e in seen] == [EventType.ADDED]


async def test_bookmarks_carry_only_a_resource_version(api, ns, backend):
    """With allow_bookmarks the stream still ends cleanly at its timeout; any BOOKMARK (when the
    server sends one is its choice) carries only kind, apiVersion and a resourceVersion no older
    than the events before it."""
    start = (await api.list(WORKFLOWS, namespace=ns)).resource_version
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=start, allow_bookmarks=True,
                         timeout=SHORT_WATCH) as stream:
        created = await api.create(WORKFLOWS, wf("bm", ns), namespace=ns)
        first = await stream.__anext__()
        await api.create(WORKFLOWS, wf("other", ns + "-x"), namespace=ns + "-x")
        await backend.advance(SHORT_WATCH + 0.5)
        rest = [event async for event in stream]
    assert first.type is EventType.ADDED
    assert all(e.type is EventType.BOOKMARK for e in rest)
    for bookmark in rest:
        assert int(resource_version(bookmark.object)) >= int(created["metadata"]["resourceVersion"])
        assert set(bookmark.object) == {"kind", "apiVersion", "metadata"} and bookmark.object["kind"] == "Workflow"


async def test_watch_from_compacted_resource_version_is_gone(api, ns, backend):
    """After compaction, a watch from an older resourceVersion raises Gone (410) on iteration."""
    old = await api.create(WORKFLOWS, wf("v1", ns), namespace=ns)
    await api.patch(WORKFLOWS, "v1", {"spec": {"n": 1}}, namespace=ns)
    await api.patch(WORKFLOWS, "v1", {"spec": {"n": 2}}, namespace=ns)
    backend.compact()
    stream = api.watch(WORKFLOWS, namespace=ns, resource_version=old["metadata"]["resourceVersion"])
    with pytest.raises(Gone) as info:
        await stream.__anext__()
    await stream.aclose()
    assert info.value.status == 410
    listed = await api.list(WORKFLOWS, namespace=ns)
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=listed.resource_version) as fresh:
        await api.patch(WORKFLOWS, "v1", {"spec": {"n": 3}}, namespace=ns)
        [event] = await take(fresh, 1)
    assert event.object["spec"] == {"n": 3}


async def test_list_at_future_resource_version_times_out(api, ns):
    """A list asking for data fresher than the server has is rejected with ServerTimeout (504).
    (A watch from such a version blocks on a real server; the embedded store fails it fast.)"""
    current = int((await api.list(WORKFLOWS, namespace=ns)).resource_version)
    with pytest.raises(ServerTimeout) as info:
        await api.list(WORKFLOWS, namespace=ns, resource_version=str(current + 1000))
    assert info.value.status == 504
