"""Informer: list+watch into an indexed cache, ordered handlers, bookmarks, relist on 410, backoff."""
import asyncio
import random

import msgspec
import pytest

from tiphys.controller.api import PODS, WORKFLOWS, EmbeddedApi, InternalError, object_key
from tiphys.controller.informer import Backoff, FuncHandler, Informer, strip_managed_fields
from tiphys.controller.workqueue import WorkQueue


class Recorder:
    """An EventHandler that records what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_add(self, obj) -> None:
        self.events.append(("add", object_key(obj)))

    def on_update(self, old, new) -> None:
        self.events.append(("update", object_key(new), old["metadata"]["resourceVersion"],
                            new["metadata"]["resourceVersion"]))

    def on_delete(self, obj, *, final_state_unknown: bool) -> None:
        self.events.append(("delete", object_key(obj), final_state_unknown, obj.get("spec")))


def wf(name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": spec}


def pod(name: str, workflow: str, owner_uid: str) -> dict:
    return {"metadata": {"name": name, "labels": {"workflows.argoproj.io/workflow": workflow},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                              "name": workflow, "uid": owner_uid}]},
            "spec": {"containers": []}}


async def start(informer: Informer) -> asyncio.Task:
    task = asyncio.ensure_future(informer.run())
    await asyncio.wait_for(informer.wait_synced(), 5)
    return task


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_initial_list_fills_cache_and_indexes(clock):
    """After sync the cache holds every object, by key and by the default indexes."""
    api = EmbeddedApi(clock=clock)
    owner = await api.create(WORKFLOWS, wf("w1"), namespace="a")
    await api.create(PODS, pod("p1", "w1", owner["metadata"]["uid"]), namespace="a")
    await api.create(PODS, pod("p2", "w1", owner["metadata"]["uid"]), namespace="b")
    informer = Informer(api, PODS, clock=clock)
    recorder = Recorder()
    informer.add_handler(recorder)
    assert not informer.has_synced()
    task = await start(informer)
    assert informer.has_synced()
    assert sorted(informer.store.keys()) == ["a/p1", "b/p2"]
    assert [o["metadata"]["name"] for o in informer.store.by_index("namespace", "a")] == ["p1"]
    assert len(informer.store.by_index("workflow", "w1")) == 2
    assert informer.store.index_keys("owner", owner["metadata"]["uid"]) == ["a/p1", "b/p2"]
    assert sorted(recorder.events) == [("add", "a/p1"), ("add", "b/p2")]
    await stop(task)


async def test_events_are_delivered_in_order_and_indexes_follow(clock, settle):
    """add, update, delete reach handlers in order; delete carries the last state; indexes update."""
    api = EmbeddedApi(clock=clock)
    informer = Informer(api, WORKFLOWS, clock=clock, namespace="ns")
    recorder = Recorder()
    informer.add_handler(recorder)
    task = await start(informer)
    created = await api.create(WORKFLOWS, wf("w", v=1), namespace="ns")
    updated = await api.patch(WORKFLOWS, "w", {"spec": {"v": 2}}, namespace="ns")
    await api.create(WORKFLOWS, wf("elsewhere"), namespace="other")
    await api.delete(WORKFLOWS, "w", namespace="ns")
    await settle()
    assert recorder.events == [
        ("add", "ns/w"),
        ("update", "ns/w", created["metadata"]["resourceVersion"], updated["metadata"]["resourceVersion"]),
        ("delete", "ns/w", False, {"v": 2}),
    ]
    assert "ns/w" not in informer.store and informer.store.by_index("namespace", "ns") == []
    assert informer.relists == 1
    await stop(task)


async def test_bookmarks_move_the_resource_version(clock, settle):
    """A BOOKMARK advances the resume point without notifying handlers."""
    api = EmbeddedApi(clock=clock, bookmark_interval=60)
    informer = Informer(api, WORKFLOWS, clock=clock, namespace="mine")
    recorder = Recorder()
    informer.add_handler(recorder)
    task = await start(informer)
    for i in range(3):
        await api.create(WORKFLOWS, wf(f"x{i}"), namespace="theirs")
    await settle()
    assert informer.last_resource_version != api.resource_version
    clock.advance(60)
    await settle()
    assert informer.last_resource_version == api.resource_version and recorder.events == []
    await stop(task)


async def test_watch_timeout_rewatches_without_relist(clock, settle):
    """A watch ending at its timeout is resumed from the last RV: no relist, nothing missed."""
    api = EmbeddedApi(clock=clock, bookmark_interval=0)
    informer = Informer(api, WORKFLOWS, clock=clock, watch_timeout=(10, 10))
    recorder = Recorder()
    informer.add_handler(recorder)
    task = await start(informer)
    await api.create(WORKFLOWS, wf("before"), namespace="ns")
    await settle()
    clock.advance(10)
    await api.create(WORKFLOWS, wf("between"), namespace="ns")  # lands while no watch is open
    await settle()
    clock.advance(10)
    await settle()
    await api.create(WORKFLOWS, wf("after"), namespace="ns")
    await settle()
    assert [e[1] for e in recorder.events] == ["ns/before", "ns/between", "ns/after"]
    assert informer.relists == 1
    await stop(task)


async def test_gone_relists_deleting_vanished_keys_first(clock, settle):
    """When its resume point is compacted away the informer relists after a backoff: handlers see
    deletions (final state unknown) for vanished keys first, then updates and adds."""
    api = EmbeddedApi(clock=clock, watch_buffer=1)
    informer = Informer(api, WORKFLOWS, clock=clock, rng=random.Random(1))
    recorder = Recorder()
    informer.add_handler(recorder)
    await api.create(WORKFLOWS, wf("stays", v=1), namespace="ns")
    await api.create(WORKFLOWS, wf("vanishes", v=1), namespace="ns")
    task = await start(informer)
    recorder.events.clear()
    # Overflow the informer's watch (buffer 1), then compact, so its re-watch gets 410.
    await api.create(WORKFLOWS, wf("seen"), namespace="ns")
    await api.patch(WORKFLOWS, "stays", {"spec": {"v": 2}}, namespace="ns")
    await api.delete(WORKFLOWS, "vanishes", namespace="ns")
    await api.create(WORKFLOWS, wf("new"), namespace="ns")
    api.compact()
    await settle()
    assert [e[:2] for e in recorder.events] == [("add", "ns/seen")]
    assert informer.relists == 1
    clock.advance(30)  # past any first backoff (0.8-1.6 s)
    await settle()
    assert informer.relists == 2
    relist = recorder.events[1:]
    assert relist[0] == ("delete", "ns/vanishes", True, {"v": 1})
    assert sorted(e[:2] for e in relist[1:]) == [("add", "ns/new"), ("update", "ns/seen"), ("update", "ns/stays")]
    assert sorted(informer.store.keys()) == ["ns/new", "ns/seen", "ns/stays"]
    assert informer.store.get("ns/stays")["spec"] == {"v": 2}
    await stop(task)


class FlakyApi(EmbeddedApi):
    """Fails the first `failures` lists with a 500, like an apiserver that is starting."""

    def __init__(self, failures: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.failures, self.list_times = failures, []

    async def list(self, resource, /, **kwargs):
        self.list_times.append(self._clock.now())
        if self.failures:
            self.failures -= 1
            raise InternalError("etcd is not ready")
        return await super().list(resource, **kwargs)


async def test_failing_list_backs_off(clock, settle):
    """Failed lists are retried after jittered, doubling waits taken from the injected clock."""
    api = FlakyApi(3, clock=clock)
    informer = Informer(api, WORKFLOWS, clock=clock, rng=random.Random(7))
    task = asyncio.ensure_future(informer.run())
    await settle()
    for _ in range(4):
        clock.advance(10)
        await settle()
    assert informer.has_synced() and len(api.list_times) == 4
    gaps = [b - a for a, b in zip(api.list_times, api.list_times[1:])]
    assert 0.8 <= gaps[0] <= 10 and all(gap > 0 for gap in gaps)
    await stop(task)


def test_backoff_sequence(clock):
    """800 ms doubling to 30 s, each wait in [d, 2d) with jitter 1.0; resets after 2 quiet minutes."""
    backoff = Backoff(clock=clock, rng=random.Random(3))
    waits = [backoff.next() for _ in range(8)]
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    assert all(b <= w < 2 * b for w, b in zip(waits, bases))
    clock.advance(121)
    assert 0.8 <= backoff.next() < 1.6
    assert Backoff(clock=clock, jitter=0).next() == 0.8


class FrozenWorkflow(msgspec.Struct, frozen=True):
    name: str
    namespace: str
    phase: str = ""


def to_struct(raw: dict) -> FrozenWorkflow:
    meta = raw["metadata"]
    return FrozenWorkflow(meta["name"], meta["namespace"], (raw.get("status") or {}).get("phase", ""))


async def test_transform_to_frozen_structs_keeps_raw_indexes(clock, settle):
    """A transform decodes into frozen Structs; indexers still see the raw object."""
    api = EmbeddedApi(clock=clock)
    await api.create(WORKFLOWS, {"metadata": {"name": "w", "labels": {"workflows.argoproj.io/workflow": "w"}},
                                 "spec": {}, "status": {"phase": "Running"}}, namespace="ns")
    informer: Informer[FrozenWorkflow] = Informer(api, WORKFLOWS, clock=clock, transform=to_struct)
    task = await start(informer)
    cached = informer.store.get("ns/w")
    assert cached == FrozenWorkflow("w", "ns", "Running")
    with pytest.raises(AttributeError):
        cached.phase = "x"
    assert informer.store.by_index("workflow", "w") == [cached]
    await stop(task)


def test_strip_managed_fields():
    obj = {"metadata": {"name": "x", "managedFields": [{"manager": "kubectl"}]}}
    assert strip_managed_fields(obj) == {"metadata": {"name": "x"}}


async def test_late_handler_gets_synthetic_adds(clock):
    api = EmbeddedApi(clock=clock)
    await api.create(WORKFLOWS, wf("w"), namespace="ns")
    informer = Informer(api, WORKFLOWS, clock=clock)
    task = await start(informer)
    recorder = Recorder()
    informer.add_handler(recorder)
    assert recorder.events == [("add", "ns/w")]
    await stop(task)


async def test_handlers_map_pod_events_to_workflow_keys(clock, settle):
    """The intended use: pod events enqueue their workflow's key, deduplicated by the queue."""
    api = EmbeddedApi(clock=clock)
    queue: WorkQueue[str] = WorkQueue()

    def enqueue(obj, *_):
        meta = obj["metadata"]
        queue.add(f"{meta['namespace']}/{meta['labels']['workflows.argoproj.io/workflow']}")

    informer = Informer(api, PODS, clock=clock, label_selector="workflows.argoproj.io/workflow")
    informer.add_handler(FuncHandler(add=enqueue, update=lambda old, new: enqueue(new), delete=enqueue))
    task = await start(informer)
    owner = await api.create(WORKFLOWS, wf("w"), namespace="ns")
    for i in range(3):
        await api.create(PODS, pod(f"w-{i}", "w", owner["metadata"]["uid"]), namespace="ns")
    await api.create(PODS, {"metadata": {"name": "unrelated"}, "spec": {}}, namespace="ns")
    await settle()
    assert len(queue) == 1 and queue.get_nowait() == "ns/w"
    await stop(task)


async def test_resync_replays_cache_as_updates(clock, settle):
    """resync_period replays every cached object as update(obj, obj) without listing again."""
    api = EmbeddedApi(clock=clock, bookmark_interval=0)
    await api.create(WORKFLOWS, wf("w"), namespace="ns")
    informer = Informer(api, WORKFLOWS, clock=clock, resync_period=1200, watch_timeout=(3600, 3600))
    recorder = Recorder()
    informer.add_handler(recorder)
    task = await start(informer)
    clock.advance(1199)
    await settle()
    assert recorder.events == [("add", "ns/w")]
    clock.advance(1)
    await settle()
    rv = api.resource_version
    assert recorder.events[1:] == [("update", "ns/w", rv, rv)] and informer.relists == 1
    await stop(task)
    with pytest.raises(ValueError):
        Informer(api, WORKFLOWS, clock=clock, resync_period=0.5)


async def test_failing_handler_does_not_stop_the_informer(clock, settle):
    """A handler that raises is logged and counted; other handlers and later events still run."""
    api = EmbeddedApi(clock=clock)
    informer = Informer(api, WORKFLOWS, clock=clock)

    def explode(obj):
        raise RuntimeError("handler bug")

    recorder = Recorder()
    informer.add_handler(FuncHandler(add=explode))
    informer.add_handler(recorder)
    task = await start(informer)
    await api.create(WORKFLOWS, wf("one"), namespace="ns")
    await api.create(WORKFLOWS, wf("two"), namespace="ns")
    await settle()
    assert [e[1] for e in recorder.events] == ["ns/one", "ns/two"]
    assert informer.handler_errors == 2 and not task.done()
    await stop(task)
