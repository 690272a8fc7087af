"""The Namespace `workflows.argoproj.io/parallelism-limit` label into the throttler: set, changed,
removed, bad values kept out, and a controller without RBAC to list Namespaces still starting."""
from __future__ import annotations

import logging

from tiphys.controller.api import EmbeddedApi, base
from tiphys.controller.api.errors import Forbidden
from tiphys.controller.clock import FakeClock
from tiphys.controller.throttle import NamespaceLimits, Throttler
from tiphys.core.plan.admission import LIMIT_LABEL


def _ns(name: str, limit: str | None) -> dict:
    labels = {LIMIT_LABEL: limit} if limit is not None else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


async def _relabel(api: EmbeddedApi, name: str, limit: str | None) -> None:
    live = await api.get(base.NAMESPACES, name)
    labels = {k: v for k, v in (live["metadata"].get("labels") or {}).items() if k != LIMIT_LABEL}
    if limit is not None:
        labels[LIMIT_LABEL] = limit
    await api.update(base.NAMESPACES, {**live, "metadata": {**live["metadata"], "labels": labels}})


async def test_label_sets_changes_and_removal_resets_the_limit(settle, caplog):
    clock = FakeClock()
    api = EmbeddedApi(clock=clock)
    await api.create(base.NAMESPACES, _ns("team", "2"))
    await api.create(base.NAMESPACES, _ns("other", None))  # unlabelled: not even listed
    throttler = Throttler(enqueue=lambda key: None, namespace_parallelism=5)
    limits = NamespaceLimits(api, throttler, clock=clock)
    try:
        assert await limits.start() is True
        assert throttler.table.limit_of("team") == 2 and throttler.table.limit_of("other") == 5
        await _relabel(api, "team", "7")
        await settle(40)
        assert throttler.table.limit_of("team") == 7
        with caplog.at_level(logging.ERROR, logger="tiphys.throttle"):
            await _relabel(api, "team", "lots")
            await settle(40)
            await _relabel(api, "team", "-1")
            await settle(40)
        assert throttler.table.limit_of("team") == 7  # bad values are logged; the last good one stays
        assert "is not an integer" in caplog.text and "is negative" in caplog.text
        await _relabel(api, "team", None)
        await settle(40)
        assert throttler.table.limit_of("team") == 5  # back to namespaceParallelism
    finally:
        await limits.stop()


async def test_a_raised_label_enqueues_the_waiters_it_lets_in(settle):
    clock = FakeClock()
    api = EmbeddedApi(clock=clock)
    await api.create(base.NAMESPACES, _ns("team", "1"))
    woken: list[str] = []
    throttler = Throttler(enqueue=woken.append)
    limits = NamespaceLimits(api, throttler, clock=clock)
    try:
        await limits.start()
        for i in range(3):
            wf = {"metadata": {"name": f"w{i}", "namespace": "team", "creationTimestamp": f"2026-01-01T00:00:0{i}Z"}}
            assert throttler.admit(wf) is (i == 0)
        await _relabel(api, "team", "3")
        await settle(40)
        assert woken == ["team/w1", "team/w2"]
    finally:
        await limits.stop()


class _NoNamespaces(EmbeddedApi):
    async def list(self, resource, /, **kw):
        if resource is base.NAMESPACES:
            raise Forbidden('namespaces is forbidden: User "system:serviceaccount:argo:x" cannot list resource')
        return await super().list(resource, **kw)


async def test_without_rbac_for_namespaces_start_returns_and_configmap_limits_hold(caplog):
    clock = FakeClock()
    throttler = Throttler(enqueue=lambda key: None, parallelism=1)
    limits = NamespaceLimits(_NoNamespaces(clock=clock), throttler, clock=clock)
    with caplog.at_level(logging.WARNING, logger="tiphys.throttle"):
        assert await limits.start() is False
    assert "cannot list Namespaces" in caplog.text
    assert throttler.admit({"metadata": {"name": "a", "namespace": "x"}})
    assert not throttler.admit({"metadata": {"name": "b", "namespace": "x"}})
    await limits.stop()
