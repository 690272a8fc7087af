"""Properties of the embedded store over random write sequences:
folding a watch's events gives what a list returns (with and without a label selector), and a
SQLite-backed store reopened from its file lists exactly what it listed before."""
import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.controller.api import WORKFLOWS, ApiError, EmbeddedApi, EventType, PatchType
from tiphys.controller.clock import FakeClock

NAMES = st.sampled_from(["a", "b", "c", "d"])
COLOURS = st.sampled_from(["red", "blue", None])
OPS = st.lists(st.one_of(
    st.tuples(st.just("create"), NAMES, COLOURS, st.booleans()),
    st.tuples(st.just("label"), NAMES, COLOURS, st.none()),
    st.tuples(st.just("spec"), NAMES, st.integers(0, 3), st.none()),
    st.tuples(st.just("delete"), NAMES, st.none(), st.none()),
    st.tuples(st.just("unfinalize"), NAMES, st.none(), st.none()),
), max_size=40)


async def apply(api: EmbeddedApi, ops) -> None:
    for op, name, arg, flag in ops:
        try:
            if op == "create":
                meta = {"name": name, "labels": {"colour": arg} if arg else {}}
                if flag:
                    meta["finalizers"] = ["example.com/hold"]
                await api.create(WORKFLOWS, {"metadata": meta, "spec": {}}, namespace="ns")
            elif op == "label":
                await api.patch(WORKFLOWS, name, {"metadata": {"labels": {"colour": arg}}}, namespace="ns")
            elif op == "spec":
                await api.patch(WORKFLOWS, name, [{"op": "add", "path": "/spec/n", "value": arg}],
                                namespace="ns", patch_type=PatchType.JSON)
            elif op == "delete":
                await api.delete(WORKFLOWS, name, namespace="ns")
            else:
                await api.patch(WORKFLOWS, name, {"metadata": {"finalizers": None}}, namespace="ns")
        except ApiError:
            pass  # NotFound / AlreadyExists are part of the random walk


def fold(events, state=None) -> dict:
    state = dict(state or {})
    for event in events:
        name = event.object["metadata"]["name"]
        if event.type is EventType.DELETED:
            del state[name]
        elif event.type is EventType.ADDED:
            assert name not in state
            state[name] = event.object
        elif event.type is EventType.MODIFIED:
            assert name in state
            state[name] = event.object
    return state


async def drain(stream) -> list:
    events = []
    while stream._watcher.queue:  # everything buffered; no waiting needed
        events.append(await stream.__anext__())
    await stream.aclose()
    return events


@settings(max_examples=150, deadline=None)
@given(OPS, OPS)
def test_watch_fold_equals_list(before, after):
    async def scenario() -> None:
        api = EmbeddedApi(clock=FakeClock())
        await apply(api, before)
        start = (await api.list(WORKFLOWS)).resource_version
        initial = {o["metadata"]["name"]: o for o in (await api.list(WORKFLOWS)).items}
        red_initial = {o["metadata"]["name"]: o for o in
                       (await api.list(WORKFLOWS, label_selector="colour=red")).items}
        everything = api.watch(WORKFLOWS, resource_version=start)
        red = api.watch(WORKFLOWS, label_selector="colour=red", resource_version=start)
        synthetic = api.watch(WORKFLOWS, label_selector="colour=red")  # from the current state
        await apply(api, after)
        listed = {o["metadata"]["name"]: o for o in (await api.list(WORKFLOWS)).items}
        listed_red = {o["metadata"]["name"]: o for o in (await api.list(WORKFLOWS, label_selector="colour=red")).items}
        assert fold(await drain(everything), initial) == listed
        assert fold(await drain(red), red_initial) == listed_red
        assert fold(await drain(synthetic)) == listed_red
    asyncio.run(scenario())


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_sqlite_reopen_is_identical(ops):
    async def scenario(path: Path) -> None:
        api = EmbeddedApi(clock=FakeClock(), path=path)
        await apply(api, ops)
        before = await api.list(WORKFLOWS)
        await api.close()
        again = EmbeddedApi(clock=FakeClock(), path=path)
        assert await again.list(WORKFLOWS) == before
        await again.close()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder) / "store.db"))
