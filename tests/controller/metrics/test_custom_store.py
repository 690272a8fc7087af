"""The exporter's store of custom metrics (controller/custom_metrics.py), fed RecordMetric actions directly."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tiphys.controller.config import ControllerConfig, MetricsConfig
from tiphys.controller.custom_metrics import CustomMetrics
from tiphys.controller.metrics import ControllerMetrics
from tiphys.core.plan.metrics import RecordMetric


class Wall:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _values(store: CustomMetrics, now: float | None = None) -> dict[tuple, float]:
    out = {}
    for family in store.collect(now):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _rec(name="m", kind="counter", value=1.0, key="", **kw) -> RecordMetric:
    return RecordMetric(name=name, help=kw.pop("help", "h"), kind=kind, value=value, key=key, **kw)


def test_counter_adds_per_label_set():
    store = CustomMetrics()
    store.record("u1", _rec(labels=(("s", "ok"),), key="a/0"))
    store.record("u1", _rec(labels=(("s", "ok"),), key="b/0"))
    store.record("u2", _rec(labels=(("s", "bad"),), key="a/0"))
    v = _values(store)
    assert v[("argo_workflows_m", (("s", "ok"),))] == 2.0 and v[("argo_workflows_m", (("s", "bad"),))] == 1.0


def test_same_emission_key_applies_once_per_workflow():
    """A plan replayed after a failed status write does not count the node twice."""
    store = CustomMetrics()
    assert store.record("u1", _rec(key="n/0")) is True
    assert store.record("u1", _rec(key="n/0")) is False
    assert _values(store)[("argo_workflows_m", ())] == 1.0


@pytest.mark.parametrize("ops,want", [(["Set:5", "Set:2"], 2.0), (["Set:5", "Add:2"], 7.0), (["Add:3", "Sub:1"], 2.0)])
def test_gauge_operations(ops, want):
    store = CustomMetrics()
    for i, op in enumerate(ops):
        name, value = op.split(":")
        store.record("u", _rec(kind="gauge", value=float(value), operation=name, key=f"n{i}/0"))
    assert _values(store)[("argo_workflows_m", ())] == want


def test_histogram_buckets_sum_and_count():
    store = CustomMetrics()
    for i, v in enumerate([0.5, 3.0, 3.0, 20.0]):
        store.record("u", _rec(kind="histogram", value=v, buckets=(1.0, 5.0), key=f"n{i}/0"))
    v = _values(store)
    assert v[("argo_workflows_m_bucket", (("le", "1.0"),))] == 1.0
    assert v[("argo_workflows_m_bucket", (("le", "5.0"),))] == 3.0
    assert v[("argo_workflows_m_bucket", (("le", "+Inf"),))] == 4.0
    assert v[("argo_workflows_m_sum", ())] == 26.5 and v[("argo_workflows_m_count", ())] == 4.0


def test_realtime_gauge_ticks_until_final_value():
    wall = Wall(1000.0)
    store = CustomMetrics(wall=wall)
    store.record("u", _rec(kind="gauge", running_since=990.0, key="n/1"))
    assert _values(store, 1000.0)[("argo_workflows_m", ())] == 10.0
    assert _values(store, 1004.5)[("argo_workflows_m", ())] == 14.5
    store.record("u", _rec(kind="gauge", value=12.0, key="n/1"))
    assert _values(store, 2000.0)[("argo_workflows_m", ())] == 12.0
    store.record("u", _rec(kind="gauge", running_since=990.0, key="n/1"))  # a replayed start: ignored
    assert _values(store, 2000.0)[("argo_workflows_m", ())] == 12.0


@pytest.mark.parametrize("second", [
    _rec(kind="gauge", key="b/0"), _rec(help="other", key="b/0"),
    pytest.param(_rec(name="gauge", key="b/0"), id="reserved-name")])
def test_conflicting_samples_are_refused(second):
    store = CustomMetrics()
    store.record("u", _rec(key="a/0"))
    assert store.record("u", second) is False
    assert store.refused == 1
    assert _values(store)[("tiphys_custom_metric_errors_total", ())] == 1.0


def test_histogram_buckets_cannot_change():
    store = CustomMetrics()
    store.record("u", _rec(kind="histogram", buckets=(1.0,), key="a/0"))
    assert store.record("u", _rec(kind="histogram", buckets=(2.0,), key="b/0")) is False


def test_ttl_drops_stale_series_but_not_running_gauges():
    wall = Wall(1000.0)
    store = CustomMetrics(wall=wall)
    store.ttl = 60.0
    store.record("u", _rec(name="old", key="a/0"))
    store.record("u", _rec(name="live", kind="gauge", running_since=1000.0, key="a/1"))
    wall.t = 1050.0
    store.record("u", _rec(name="fresh", key="b/0"))
    names = {n for n, _ in _values(store, 1070.0)}
    assert names == {"argo_workflows_live", "argo_workflows_fresh", "tiphys_custom_metric_errors_total"}


def test_deleted_workflow_loses_its_realtime_gauges_only():
    store = CustomMetrics()
    store.record("u1", _rec(name="clock", kind="gauge", running_since=5.0, key="n/0"))
    store.record("u1", _rec(name="runs", key="n/1"))
    store.forget_workflow("u1")
    names = {n for n, _ in _values(store, 10.0)}
    assert "argo_workflows_clock" not in names and "argo_workflows_runs" in names
    assert store.record("u1", _rec(name="runs", key="n/1")) is True  # its keys were forgotten too


def test_exposition_text_and_metrics_ttl_from_config():
    """Served as Argo names them (no `_total` added), TTL read from metricsConfig.metricsTTL at scrape."""
    metrics = ControllerMetrics()
    metrics.custom = CustomMetrics(wall=Wall(0.0))
    metrics.custom.record("u", _rec(name="result_counter", labels=(("status", "Failed"),), key="n/0"))
    text = metrics.exposition().decode()
    assert "# TYPE argo_workflows_result_counter counter" in text
    assert 'argo_workflows_result_counter{status="Failed"} 1.0' in text
    metrics.config = SimpleNamespace(current=ControllerConfig(metrics=MetricsConfig(metrics_ttl="1m")), last_error=None)
    metrics.custom._wall = Wall(61.0)
    assert "argo_workflows_result_counter" not in metrics.exposition().decode()
