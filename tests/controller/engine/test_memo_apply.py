"""The applier's cache writes: 409-safe (another writer's key survives), idempotent, and a hit's
refresh never overwrites a newer entry."""
from __future__ import annotations

import json

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.apply import Applier
from tiphys.controller.clock import FakeClock
from tiphys.core.plan.actions import SaveMemo

NS = "default"
WF = {"metadata": {"name": "wf", "namespace": NS, "uid": "u"}}


def _entry(node: str, created: str = "2027-01-01T00:00:00Z", hit: str | None = None) -> dict:
    return {"nodeID": node, "outputs": {"exitCode": "0"}, "creationTimestamp": created,
            "lastHitTimestamp": hit or created}


class RacingApi(EmbeddedApi):
    """Before each of our first `races` ConfigMap updates, another writer sets its own key."""

    def __init__(self, races: int) -> None:
        super().__init__(clock=FakeClock())
        self.races = races
        self.updates = 0

    async def update(self, resource, body, /, **kw):
        if resource == base.CONFIG_MAPS and self.races:
            self.races -= 1
            live = await self.get(base.CONFIG_MAPS, body["metadata"]["name"], namespace=NS)
            other = {**live, "data": {**(live.get("data") or {}), f"other-{self.races}": "x"}}
            await super().update(base.CONFIG_MAPS, other, namespace=NS)
        self.updates += 1
        return await super().update(resource, body, **kw)


async def _data(api) -> dict:
    return (await api.get(base.CONFIG_MAPS, "cache", namespace=NS)).get("data") or {}


async def test_a_conflict_rereads_and_keeps_the_other_writers_keys():
    api = RacingApi(races=2)
    await api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cache", "namespace": NS, "labels": {"workflows.argoproj.io/configmap-type": "Cache"}}},
        namespace=NS)
    applied = await Applier(api).apply(WF, [SaveMemo("cache", "k", _entry("n1"))])
    assert not applied.failed
    data = await _data(api)
    assert set(data) == {"k", "other-1", "other-0"} and json.loads(data["k"])["nodeID"] == "n1"


async def test_conflicts_without_end_fail_the_action_for_a_later_retry():
    api = RacingApi(races=99)
    await api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cache", "namespace": NS}}, namespace=NS)
    action = SaveMemo("cache", "k", _entry("n1"))
    applied = await Applier(api).apply(WF, [action])
    assert applied.failed == [action]


async def test_a_missing_configmap_is_created_labelled_and_a_repeat_writes_nothing():
    api = RacingApi(races=0)
    applier = Applier(api)
    action = SaveMemo("cache", "k", _entry("n1"))
    await applier.apply(WF, [action])
    cm = await api.get(base.CONFIG_MAPS, "cache", namespace=NS)
    assert cm["metadata"]["labels"] == {"workflows.argoproj.io/configmap-type": "Cache"}
    rv = cm["metadata"]["resourceVersion"]
    await applier.apply(WF, [action])  # issued again after a crash: already so
    assert (await api.get(base.CONFIG_MAPS, "cache", namespace=NS))["metadata"]["resourceVersion"] == rv


async def test_a_refresh_moves_last_hit_only_while_the_entry_is_the_one_hit():
    api = RacingApi(races=0)
    applier = Applier(api)
    await applier.apply(WF, [SaveMemo("cache", "k", _entry("n1"))])
    await applier.apply(WF, [SaveMemo("cache", "k", _entry("n1", hit="2027-01-02T00:00:00Z"), refresh=True)])
    assert json.loads((await _data(api))["k"]) == _entry("n1", hit="2027-01-02T00:00:00Z")
    await applier.apply(WF, [SaveMemo("cache", "k", _entry("n2", created="2027-01-03T00:00:00Z"))])
    stale = SaveMemo("cache", "k", _entry("n1", hit="2027-01-04T00:00:00Z"), refresh=True)
    applied = await applier.apply(WF, [stale])
    assert not applied.failed and json.loads((await _data(api))["k"])["nodeID"] == "n2"
    await applier.apply(WF, [SaveMemo("cache", "gone", _entry("n1"), refresh=True)])
    assert "gone" not in await _data(api)


async def test_a_configmap_labelled_for_another_use_is_never_written():
    api = RacingApi(races=0)
    await api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cache", "namespace": NS, "labels": {"workflows.argoproj.io/configmap-type": "Parameter"}},
        "data": {"a": "b"}}, namespace=NS)
    applied = await Applier(api).apply(WF, [SaveMemo("cache", "k", _entry("n1"))])
    assert not applied.failed and await _data(api) == {"a": "b"}
