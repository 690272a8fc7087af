"""The users' metrics (`metrics.prometheus[]`): kept in memory, served beside the controller's own.

The planner decides (core/plan/metrics.py) and hands `RecordMetric` actions to the applier, which
passes them here with the workflow's uid. This module only keeps them:

- a series is one name plus its label set; a family (one name) keeps the type, help and buckets
  of its first sample. A sample that disagrees (another type, help or buckets) is refused, as
  Argo refuses to change a metric's type or help; it is logged and counted in
  `tiphys_custom_metric_errors_total`;
- names are exported as `argo_workflows_<name>` (reference §5.17), counters without an added
  `_total`, histograms with `_bucket{le=...}`, `_sum` and `_count`. A user name that would
  collide with one of the controller's own families is refused;
- a gauge applies `Set` (default), `Add` or `Sub`; a counter adds; a histogram observes;
- a real-time gauge of something still running reads `now - running_since` at each scrape; its
  completion sets the final value, after which it no longer moves;
- every emission carries a key (`<node id>/<index>`); one already applied for that workflow uid
  is ignored, so a plan replayed after a failed status write does not count a node twice;
- `metricsConfig.metricsTTL` (a Go duration; Argo's default 0 = never): a series not updated for
  that long is dropped at scrape time, a running real-time gauge excepted (it is live);
- when a workflow is deleted, its real-time gauges go (Argo stops real-time metrics of a deleted
  workflow) and its applied keys are forgotten; other series stay for the TTL, or the process'
  life without one.

Everything lives in this process's memory: a restarted controller starts from zero, as Argo's
does; nodes completed before the restart are not emitted again (core/plan/metrics.py).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from tiphys.core.plan.metrics import RecordMetric

__all__ = ["CustomMetrics", "RESERVED"]

_log = logging.getLogger("tiphys.metrics")
PREFIX = "argo_workflows_"
# the controller's own families (controller/metrics.py), after the prefix: a user metric may not shadow them
RESERVED = frozenset({
    "version", "is_leader", "gauge", "count", "workflow_condition", "total_count", "pods_gauge", "pods_total_count",
    "pod_pending_count", "pod_missing", "pod_restarts_total", "operation_duration_seconds", "error_count",
    "k8s_request_total", "k8s_request_duration", "client_rate_limiter_latency", "resource_rate_limiter_latency",
    "queue_adds_count", "queue_depth_gauge", "queue_depth_count", "queue_duration", "queue_latency",
    "queue_longest_running", "queue_retries", "queue_unfinished_work", "workers_busy_count", "locks_held",
    "locks_pending", "locks_taken_total", "workflowtemplate_runtime", "workflowtemplate_triggered_total",
    "cronworkflows_triggered_total", "cronworkflows_concurrencypolicy_triggered", "deprecated_feature",
    "log_messages"})


@dataclass
class _Family:
    kind: str
    help: str
    buckets: tuple[float, ...] = ()


@dataclass
class _Series:
    value: float = 0.0
    running_since: float | None = None  # a real-time gauge still ticking
    realtime_owner: str = ""  # uid of the workflow whose real-time gauge this is
    bucket_counts: list[int] = field(default_factory=list)
    count: int = 0
    updated: float = 0.0


class CustomMetrics:
    """The store. `record(uid, action)` from the applier; `collect(now)` at scrape time."""

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._families: dict[str, _Family] = {}
        self._series: dict[str, dict[tuple[tuple[str, str], ...], _Series]] = {}
        self._applied: dict[str, set[str]] = {}  # workflow uid -> emission keys applied
        self.ttl: float | None = None  # seconds; None or 0: kept for the process' life
        self.refused = 0

    def record(self, uid: str, action: RecordMetric, /) -> bool:
        """Apply one emission; False when it was refused or already applied."""
        applied = self._applied.setdefault(uid, set())
        if action.key and action.key in applied:
            return False  # already applied for this workflow (a replayed plan)
        family = self._family(action)
        if family is None:
            return False
        if action.key and action.running_since is None:
            applied.add(action.key)
        labels = tuple(sorted(action.labels))
        series = self._series.setdefault(action.name, {}).get(labels)
        if series is None:
            series = self._series[action.name][labels] = _Series(bucket_counts=[0] * len(family.buckets))
        series.updated = self._wall()
        if action.running_since is not None:
            series.running_since, series.realtime_owner = action.running_since, uid
            return True
        if family.kind == "counter":
            series.value += action.value
        elif family.kind == "histogram":
            series.value += action.value  # the sum
            series.count += 1
            for i, bound in enumerate(family.buckets):  # the first bucket that holds it; summed at scrape
                if action.value <= bound:
                    series.bucket_counts[i] += 1
                    break
        else:
            was_running = series.running_since is not None
            series.running_since = None
            if action.operation == "Add" and not was_running:
                series.value += action.value
            elif action.operation == "Sub" and not was_running:
                series.value -= action.value
            else:
                series.value = action.value
        return True

    def _family(self, action: RecordMetric) -> _Family | None:
        if action.name in RESERVED:
            return self._refuse(action, "the name is one of the controller's own metrics")
        family = self._families.get(action.name)
        if family is None:
            family = self._families[action.name] = _Family(action.kind, action.help, action.buckets)
            return family
        if family.kind != action.kind:
            return self._refuse(action, f"it is a {family.kind}, it cannot be changed to a {action.kind}")
        if family.help != action.help:
            return self._refuse(action, f"its help is already {family.help!r}, it cannot be changed")
        if family.kind == "histogram" and family.buckets != action.buckets:
            return self._refuse(action, f"its buckets are already {list(family.buckets)}, they cannot be changed")
        return family

    def _refuse(self, action: RecordMetric, why: str) -> None:
        self.refused += 1
        _log.warning("custom metric %r refused: %s", action.name, why)
        return None

    def forget_workflow(self, uid: str, /) -> None:
        """A deleted workflow: its real-time gauges go, and the keys it applied are forgotten."""
        self._applied.pop(uid, None)
        for name in list(self._series):
            by_labels = self._series[name]
            for labels in [k for k, s in by_labels.items() if s.realtime_owner == uid]:
                del by_labels[labels]
            if not by_labels:
                del self._series[name]
                del self._families[name]

    def _expire(self, now: float) -> None:
        if not self.ttl:
            return
        for name in list(self._series):
            by_labels = self._series[name]
            for labels in [k for k, s in by_labels.items()
                           if s.running_since is None and now - s.updated > self.ttl]:
                del by_labels[labels]
            if not by_labels:
                del self._series[name]
                del self._families[name]

    def collect(self, now: float | None = None) -> Iterator[Metric]:
        now = self._wall() if now is None else now
        self._expire(now)
        for name in sorted(self._series):
            family = self._families[name]
            full = PREFIX + name
            metric = Metric(full, family.help, family.kind)
            for labels, s in sorted(self._series[name].items()):
                base = dict(labels)
                if family.kind == "histogram":
                    for bound, n in zip(family.buckets, _cumulative(s.bucket_counts)):
                        metric.add_sample(full + "_bucket", {**base, "le": floatToGoString(bound)}, float(n))
                    metric.add_sample(full + "_bucket", {**base, "le": "+Inf"}, float(s.count))
                    metric.add_sample(full + "_sum", base, s.value)
                    metric.add_sample(full + "_count", base, float(s.count))
                elif s.running_since is not None:
                    metric.add_sample(full, base, max(0.0, now - s.running_since))
                else:
                    metric.add_sample(full, base, s.value)
            yield metric
        yield _single("tiphys_custom_metric_errors_total", "Custom metric samples refused (type, help or "
                      "buckets changed, or a reserved name)", "counter", float(self.refused))

    def series_count(self) -> int:
        return sum(len(v) for v in self._series.values())


def _cumulative(counts: list[int]) -> Iterator[int]:
    total = 0
    for n in counts:
        total += n
        yield total


def _single(name: str, doc: str, kind: str, value: float) -> Metric:
    metric = Metric(name, doc, kind)
    metric.add_sample(name, {}, value if not math.isnan(value) else 0.0)
    return metric
