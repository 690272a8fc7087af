"""resourceRateLimit: pod creates wait for a token; other calls pass; the limit can change live."""
from __future__ import annotations

import asyncio

import pytest

from tiphys.controller.api import CONFIG_MAPS, PODS, EmbeddedApi
from tiphys.controller.podlimit import PodCreateLimiter


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


async def test_pod_creates_wait_for_tokens(clock, settle):
    waits: list[float] = []
    api = PodCreateLimiter(EmbeddedApi(clock=clock), clock=clock, on_wait=waits.append)
    api.configure(2.0, 1)  # two per second, one at once
    tasks = [asyncio.ensure_future(api.create(PODS, _pod(f"p{i}"), namespace="default")) for i in range(3)]
    await settle()
    assert [t.done() for t in tasks] == [True, False, False]
    # a ConfigMap create is not throttled even while pods wait
    await api.create(CONFIG_MAPS, {"metadata": {"name": "c", "namespace": "default"}}, namespace="default")
    clock.advance(0.5)
    await settle()
    assert [t.done() for t in tasks] == [True, True, False]
    clock.advance(0.5)
    await settle()
    assert all(t.done() for t in tasks) and waits == [0.0, 0.5, 1.0]


async def test_limit_off_and_reconfigured(clock, settle):
    api = PodCreateLimiter(EmbeddedApi(clock=clock), clock=clock)
    assert api.limit is None
    for i in range(5):  # no limit: never waits
        await api.create(PODS, _pod(f"free{i}"), namespace="default")
    api.configure(1.0, 2)
    assert api.limit == (1.0, 2)
    api.configure(None)
    await api.create(PODS, _pod("after"), namespace="default")
    with pytest.raises(ValueError, match="burst"):
        api.configure(1.0, 0)
