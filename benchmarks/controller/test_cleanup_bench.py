"""The end of a 5,000-step fan-out on the embedded API: what the task-result clean-up costs.

The controller runs over `Timeline` (benchmarks/controller/_cleanup.py); the simulated kubelet
talks to the store directly. Two runs in the same session: the clean-up as one DeleteCollection
(tiphys now, Argo's deleteTaskResults), and the baseline of a LIST plus one DELETE per task result
(tiphys before). Figures: API calls after the completed status write, and the wall time from the
controller seeing the last pod done to the last task result deleted. Informative; never fails on
speed (the call counts are asserted: they are the point).
"""
from __future__ import annotations

import asyncio
import time

import pytest

from benchmarks.controller._cleanup import PerObjectDeletes, Timeline
from benchmarks.controller.test_engine_bench import fan_in
from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.local import wait_completed
from tiphys.controller.simkubelet import SimKubelet

NS = "default"


async def _run(n: int, per_object: bool) -> Timeline:
    clock = RealClock()
    store = EmbeddedApi(clock=clock, history_size=200_000, watch_buffer=200_000)
    timeline = Timeline(store)
    api = PerObjectDeletes(timeline) if per_object else timeline
    kubelet = SimKubelet(store, clock=clock, workers=8)
    engine = Engine(api, clock=clock, workers=8)
    await kubelet.start()
    await engine.start()
    try:
        wf = fan_in(n)
        await store.create(base.WORKFLOWS, {**wf, "metadata": {**wf["metadata"], "namespace": NS}}, namespace=NS)
        await wait_completed(store, wf["metadata"]["name"], NS, timeout=900)
        deadline = time.monotonic() + 300
        while (await store.list(base.WORKFLOW_TASK_RESULTS, namespace=NS)).items:
            assert time.monotonic() < deadline, "task results never cleaned up"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the completed workflow's later reconciles, if they call anything
    finally:
        await engine.stop()
        await kubelet.stop()
        await store.close()
    return timeline


@pytest.mark.parametrize("per_object", [pytest.param(True, id="baseline-one-delete-each"),
                                        pytest.param(False, id="deletecollection")])
def test_fan_out_cleanup(per_object, record) -> None:
    n = 5_000
    timeline = asyncio.run(_run(n, per_object))
    label = "LIST + one DELETE each (before)" if per_object else "one DeleteCollection"
    after = timeline.after_completion()
    done = timeline.cleaned_up()
    record(f"clean-up {n} fan-out, embedded, {label}: API calls after the completed status",
           f"{sum(after.values())} ({dict(after)})")
    record(f"clean-up {n} fan-out, embedded, {label}: last pod seen -> task results gone",
           f"{(done - timeline.last_pod_seen) * 1e3:.0f} ms (of which after the completed status write: "
           f"{(done - timeline.completed_written) * 1e3:.0f} ms)")
    if per_object:
        assert after["delete workflowtaskresults"] == n + 2
    else:
        assert sum(after.values()) == 1 and after["deletecollection workflowtaskresults"] == 1
