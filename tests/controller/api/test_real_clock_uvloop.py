"""The embedded API, queue and informer on uvloop with the real clock (a few milliseconds of real
time: the only tests here that wait on the wall clock, to show the real clock path works)."""
import asyncio

import pytest

from tiphys.controller.api import WORKFLOWS, EmbeddedApi, EventType
from tiphys.controller.clock import RealClock
from tiphys.controller.informer import Informer
from tiphys.controller.workqueue import RateLimitingQueue

uvloop = pytest.importorskip("uvloop")


def test_stack_on_uvloop_with_real_clock():
    async def scenario() -> None:
        clock = RealClock()
        api = EmbeddedApi(clock=clock)
        queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
        informer = Informer(api, WORKFLOWS, clock=clock)

        class Enqueue:
            def on_add(self, obj):
                queue.add(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")

            def on_update(self, old, new):
                self.on_add(new)

            def on_delete(self, obj, *, final_state_unknown):
                self.on_add(obj)

        informer.add_handler(Enqueue())
        task = asyncio.ensure_future(informer.run())
        await informer.wait_synced()
        await api.create(WORKFLOWS, {"metadata": {"name": "w"}, "spec": {}}, namespace="ns")
        assert await asyncio.wait_for(queue.get(), 30) == "ns/w"
        queue.done("ns/w")
        queue.add_after("ns/later", 0.01)
        assert await asyncio.wait_for(queue.get(), 30) == "ns/later"
        async with api.watch(WORKFLOWS, resource_version=api.resource_version, allow_bookmarks=True,
                             timeout=0.01) as stream:
            events = [event async for event in stream]
        assert [e.type for e in events] == [EventType.BOOKMARK]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(scenario(), 90))  # waits for outcomes, not speed limits
