"""Leader election on the embedded API with a fake clock: client-go's Lease semantics."""
from __future__ import annotations

import asyncio
import random
import re

import pytest

from tiphys.controller.api import LEASES, EmbeddedApi
from tiphys.controller.api.base import Api
from tiphys.controller.api.errors import InternalError
from tiphys.controller.clock import FakeClock
from tiphys.controller.leader import LeaderElectionConfig, LeaderElector, format_micro_time

MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
NS = "argo"


class Breakable(Api):
    """Delegates to `inner` until `broken` is set; then every call fails like a lost network."""

    def __init__(self, inner: Api) -> None:
        self.inner, self.broken = inner, False

    def _check(self) -> None:
        if self.broken:
            raise InternalError("connection refused")

    async def get(self, *a, **k):
        self._check()
        return await self.inner.get(*a, **k)

    async def list(self, *a, **k):
        self._check()
        return await self.inner.list(*a, **k)

    def watch(self, *a, **k):
        return self.inner.watch(*a, **k)

    async def create(self, *a, **k):
        self._check()
        return await self.inner.create(*a, **k)

    async def update(self, *a, **k):
        self._check()
        return await self.inner.update(*a, **k)

    async def patch(self, *a, **k):
        self._check()
        return await self.inner.patch(*a, **k)

    async def delete(self, *a, **k):
        self._check()
        return await self.inner.delete(*a, **k)

    async def delete_collection(self, *a, **k):
        self._check()
        return await self.inner.delete_collection(*a, **k)


def _elector(api: Api, clock: FakeClock, identity: str, seed: int) -> LeaderElector:
    config = LeaderElectionConfig(lease_name="workflow-controller", namespace=NS, identity=identity,
                                  lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)
    return LeaderElector(api, config, clock=clock, rng=random.Random(seed))


async def _run_for(clock: FakeClock, settle, seconds: float, *, step: float = 0.25) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await settle()


async def _campaign(elector: LeaderElector) -> None:
    """acquire, then hold; returns when leadership is lost."""
    await elector.acquire()
    await elector.hold()


async def _lease(api: Api) -> dict:
    return (await api.get(LEASES, "workflow-controller", namespace=NS))["spec"]


async def test_two_candidates_one_leader(clock, settle):
    """Both campaign at once; exactly one leads, and the Lease names it with client-go's fields."""
    api = EmbeddedApi(clock=clock)
    a, b = _elector(api, clock, "a", 1), _elector(api, clock, "b", 2)
    tasks = [asyncio.ensure_future(_campaign(e)) for e in (a, b)]
    await settle()
    assert [a.is_leader, b.is_leader].count(True) == 1
    leader = a if a.is_leader else b
    spec = await _lease(api)
    assert spec["holderIdentity"] == leader.config.identity
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert MICRO.match(spec["acquireTime"]) and spec["acquireTime"] == spec["renewTime"]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_leader_renews_and_standby_waits(clock, settle):
    """Over a minute of renewals the leader keeps the Lease; renewTime moves, acquireTime does not."""
    api = EmbeddedApi(clock=clock)
    a = _elector(api, clock, "a", 1)
    ta = asyncio.ensure_future(_campaign(a))
    await settle()
    first = await _lease(api)
    b = _elector(api, clock, "b", 2)
    tb = asyncio.ensure_future(_campaign(b))
    await _run_for(clock, settle, 60)
    spec = await _lease(api)
    assert a.is_leader and not b.is_leader
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == first["acquireTime"]
    assert spec["renewTime"] > first["renewTime"]
    assert b.holder == "a"
    for t in (ta, tb):
        t.cancel()
    await asyncio.gather(ta, tb, return_exceptions=True)


async def test_dead_leader_hands_over_after_the_lease_expires(clock, settle):
    """The leader's renewals stop (network gone): it steps down after the renew deadline, and the
    standby takes over only once the Lease has gone unchanged for leaseDurationSeconds."""
    store = EmbeddedApi(clock=clock)
    broken = Breakable(store)
    a, b = _elector(broken, clock, "a", 1), _elector(store, clock, "b", 2)
    ta = asyncio.ensure_future(_campaign(a))
    await settle()
    tb = asyncio.ensure_future(_campaign(b))
    await _run_for(clock, settle, 5)
    last_renew = (await _lease(store))["renewTime"]
    broken.broken = True
    cut = clock.now()
    await _run_for(clock, settle, 11)
    # renewals failed for longer than the renew deadline (10 s): a gave up
    assert ta.done() and not a.is_leader
    # yet b has not taken the Lease: by b's clock it changed less than 15 s ago
    assert not b.is_leader and (await _lease(store))["holderIdentity"] == "a"
    # b last saw a change at most one retry (2 s) before the cut; expiry 15 s after that, plus
    # one jittered retry period (at most 2 s * 2.2) until b's next try
    await _run_for(clock, settle, 15 + 4.5 - 11)
    assert b.is_leader
    spec = await _lease(store)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    # taken over no earlier than 15 s after the leader's last renewal could have been seen
    assert format_micro_time(cut + 13) <= spec["acquireTime"] <= spec["renewTime"]
    assert spec["acquireTime"] > last_renew
    tb.cancel()
    await asyncio.gather(ta, tb, return_exceptions=True)


async def test_standby_does_not_take_over_early(clock, settle):
    """Right before the lease expires by the standby's clock, it still stands by."""
    store = EmbeddedApi(clock=clock)
    broken = Breakable(store)
    a, b = _elector(broken, clock, "a", 1), _elector(store, clock, "b", 2)
    ta = asyncio.ensure_future(_campaign(a))
    await settle()
    tb = asyncio.ensure_future(_campaign(b))
    await settle()  # b reads the Lease right away and starts its 15 s count from now
    broken.broken = True
    await _run_for(clock, settle, 14.5)
    assert not b.is_leader
    await _run_for(clock, settle, 5)
    assert b.is_leader
    tb.cancel()
    await asyncio.gather(ta, tb, return_exceptions=True)


async def test_graceful_release_hands_over_at_the_next_try(clock, settle):
    """Cancelling hold() releases the Lease (holder emptied, 1 s): the standby takes it at once."""
    api = EmbeddedApi(clock=clock)
    a, b = _elector(api, clock, "a", 1), _elector(api, clock, "b", 2)
    ta = asyncio.ensure_future(_campaign(a))
    await settle()
    tb = asyncio.ensure_future(_campaign(b))
    await _run_for(clock, settle, 3)
    ta.cancel()
    await asyncio.gather(ta, return_exceptions=True)
    spec = await _lease(api)
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    assert not a.is_leader
    await _run_for(clock, settle, 4.5)  # one jittered retry period at most
    assert b.is_leader
    spec = await _lease(api)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)


async def test_stolen_lease_makes_the_leader_step_down(clock, settle):
    """Someone else's holder in the Lease: renewals fail until the deadline, then hold() returns."""
    api = EmbeddedApi(clock=clock)
    a = _elector(api, clock, "a", 1)
    ta = asyncio.ensure_future(_campaign(a))
    await settle()
    lease = await api.get(LEASES, "workflow-controller", namespace=NS)
    lease["spec"]["holderIdentity"] = "intruder"
    await api.update(LEASES, lease, namespace=NS)
    await _run_for(clock, settle, 13)
    assert ta.done() and ta.exception() is None and not a.is_leader


def test_config_checks_client_go_timing_rules():
    """lease > renew deadline > 1.2 x retry period, as client-go's NewLeaderElector demands."""
    ok = dict(lease_name="l", namespace="n", identity="i")
    with pytest.raises(ValueError, match="lease_duration"):
        LeaderElectionConfig(**ok, lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElectionConfig(**ok, lease_duration=15, renew_deadline=2, retry_period=2)
    with pytest.raises(ValueError, match="non-empty"):
        LeaderElectionConfig(lease_name="", namespace="n", identity="i")


def test_micro_time_has_six_fraction_digits():
    assert format_micro_time(1_800_000_000.5) == "2027-01-15T08:00:00.500000Z"
    assert format_micro_time(0) == "1970-01-01T00:00:00.000000Z"
