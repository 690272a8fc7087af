"""Embedded API cost per event: one write (merge patch of a Workflow's status) delivered to its
watchers and consumed, in memory and on SQLite, with 1 and 10 watchers; plus a bare create and
a work-queue add/get/done cycle for scale. Each round runs `EVENTS` writes on one event loop;
divide the reported time by `EVENTS` for µs per event (the `extra_info` column does it).
"""
from __future__ import annotations

import asyncio

import pytest

from tiphys.controller.api import WORKFLOWS, EmbeddedApi
from tiphys.controller.workqueue import WorkQueue

EVENTS = 1000
STATUS = {"phase": "Running", "nodes": {f"n{i}": {"phase": "Succeeded", "name": f"wf.step{i}"} for i in range(5)}}


async def _writes_and_deliveries(api: EmbeddedApi, watchers: int) -> None:
    await api.create(WORKFLOWS, {"metadata": {"name": "wf"}, "spec": {"entrypoint": "main"}}, namespace="ns")
    rv = api.resource_version
    streams = [api.watch(WORKFLOWS, namespace="ns", resource_version=rv) for _ in range(watchers)]

    async def drain(stream) -> None:
        for _ in range(EVENTS):
            await stream.__anext__()
        await stream.aclose()

    consumers = [asyncio.ensure_future(drain(s)) for s in streams]
    for i in range(EVENTS):
        await api.patch(WORKFLOWS, "wf", {"status": dict(STATUS, progress=f"{i}/{EVENTS}")}, namespace="ns")
        if i % 50 == 0:
            await asyncio.sleep(0)  # let consumers keep up, as a real loop would
    await asyncio.gather(*consumers)
    await api.delete(WORKFLOWS, "wf", namespace="ns")


@pytest.mark.parametrize("watchers", [1, 10])
@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_write_and_watch_delivery(benchmark, tmp_path, storage, watchers):
    loop = asyncio.new_event_loop()
    api = EmbeddedApi(path=tmp_path / "bench.db" if storage == "sqlite" else None, watch_buffer=EVENTS * 2)
    benchmark.extra_info["events_per_round"] = EVENTS
    benchmark.pedantic(lambda: loop.run_until_complete(_writes_and_deliveries(api, watchers)),
                       rounds=5, iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["us_per_event"] = round(benchmark.stats.stats.mean / EVENTS * 1e6, 2)
    loop.run_until_complete(api.close())
    loop.close()


def test_create(benchmark):
    loop = asyncio.new_event_loop()
    api = EmbeddedApi()
    counter = iter(range(10**9))

    async def creates() -> None:
        for _ in range(EVENTS):
            await api.create(WORKFLOWS, {"metadata": {"name": f"w{next(counter)}"}, "spec": {}}, namespace="ns")

    benchmark.pedantic(lambda: loop.run_until_complete(creates()), rounds=5, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["us_per_event"] = round(benchmark.stats.stats.mean / EVENTS * 1e6, 2)
    loop.close()


def test_workqueue_cycle(benchmark):
    loop = asyncio.new_event_loop()
    queue: WorkQueue[str] = WorkQueue()
    keys = [f"ns/wf-{i}" for i in range(EVENTS)]

    async def cycle() -> None:
        for key in keys:
            queue.add(key)
        for _ in keys:
            queue.done(await queue.get())

    benchmark.pedantic(lambda: loop.run_until_complete(cycle()), rounds=10, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["us_per_event"] = round(benchmark.stats.stats.mean / EVENTS * 1e6, 2)
    loop.close()
