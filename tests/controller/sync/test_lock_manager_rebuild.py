"""`LockManager.rebuild` reads status.synchronization of every cached workflow at start-up: a
status not shaped as Argo writes it is skipped with a warning, never an exception that would stop
the controller before its workers start; the readable ones are still restored."""
from __future__ import annotations

import pytest

from tiphys.controller.sync import LockManager


def _wf(name: str, sync: object) -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, "status": {"synchronization": sync}}


GOOD = _wf("good", {"mutex": {"holding": [{"mutex": "ns/Mutex/m", "holder": "good"}]}})


@pytest.mark.parametrize("sync", [
    "garbage",
    ["mutex"],
    {"mutex": "holding"},
    {"mutex": {"holding": "ns/Mutex/m"}},
    {"mutex": {"holding": ["ns/Mutex/m"]}},
    {"mutex": {"holding": [{"mutex": 7, "holder": "x"}]}},
    {"semaphore": {"holding": [{"semaphore": "ns/ConfigMap/c/k", "holders": "x"}]}},
    {"semaphore": {"holding": [{"semaphore": "ns/ConfigMap/c/k", "holders": [1]}]}},
])
def test_malformed_holdings_are_skipped(sync, caplog):
    manager = LockManager(read_configmap=lambda ns, name: None, enqueue=lambda key: None)
    restored = manager.rebuild([_wf("bad", sync), GOOD])
    assert restored == 1
    assert manager.holders_of("ns/good") == ["ns/good"]
    assert manager.holders_of("ns/bad") == []
    assert "ns/bad" in caplog.text


def test_a_status_that_is_not_an_object_holds_nothing():
    manager = LockManager(read_configmap=lambda ns, name: None, enqueue=lambda key: None)
    assert manager.rebuild([{"metadata": {"name": "w", "namespace": "ns"}, "status": "x"}, GOOD]) == 1


def test_semaphore_holders_restored():
    manager = LockManager(read_configmap=lambda ns, name: {"k": "2"}, enqueue=lambda key: None)
    wf = _wf("s", {"semaphore": {"holding": [{"semaphore": "ns/ConfigMap/c/k", "holders": ["s", "s-123"]}]}})
    assert manager.rebuild([wf]) == 2
    assert sorted(manager.holders_of("ns/s")) == ["ns/s", "ns/s/s-123"]
