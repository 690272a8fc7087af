"""Prometheus metrics under Argo's names, read from the engine's own state.

Argo's controller exports `argo_workflows_*` (reference §5.17) and its Grafana dashboard
(`../shared/argo/examples/grafana-dashboard.json`) also queries the older names
`argo_workflows_count{status}`, `argo_workflows_queue_depth_count` and `log_messages`; both
generations are exported, fed from the same data. Names are exposed exactly as Argo exposes
them: no `_total` is appended to a counter whose name does not already end in it (Argo's
exporter runs without counter suffixes), which is why `exposition()` writes the text format
itself instead of `prometheus_client.generate_latest`, which would rename such families.

Where the numbers come from:

* **scrape time** (`_Collector`): workflows and pods per phase and workflow conditions from
  the informer stores; queue depth, in-flight work and longest-running key from the work
  queue; the reconciler's plan CPU seconds and status writes, the applier's pods created;
  leadership; unsupported ConfigMap keys; log lines by level; status sizes of the workflows
  held in memory (`tiphys_status_bytes`, `tiphys_status_compression_ratio`).
* **events**: `instrument.InstrumentedQueue` (a `RateLimitingQueue` that counts adds and
  retries and times queue latency and processing), `timed(handler)` around the reconcile
  (operation duration, workers busy, errors), `instrument.CountingApi` around the `Api` (k8s
  requests by kind, verb and status code, with their duration), and informer handlers counting phase transitions of
  workflows and pods (`total_count`, `pods_total_count`, `pod_pending_count`).
* **users' metrics** (`metrics.prometheus[]` of workflows and templates): the planner's
  `RecordMetric` actions, handed over by the applier and kept by `custom_metrics.CustomMetrics`
  (`argo_workflows_<name>`; `metricsConfig.metricsTTL` read at each scrape).
"""
from __future__ import annotations

import asyncio
import math
import platform
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from tiphys.controller.api import base
from tiphys.controller.custom_metrics import CustomMetrics
from tiphys.controller.informer import FuncHandler
from tiphys.controller.instrument import WORKFLOW_QUEUE, CountingApi, InstrumentedQueue
from tiphys.controller.workqueue import RetryableError, TerminalError
from tiphys.core.plan.timeouts import DurationError, parse_duration

__all__ = ["ControllerMetrics", "CountingApi", "InstrumentedQueue", "exposition", "CONTENT_TYPE", "PREFIX",
           "WORKFLOW_QUEUE"]

PREFIX = "argo_workflows_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WORKFLOW_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Error")
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
ERROR_CAUSES = ("OperationPanic", "CronWorkflowSubmissionError", "CronWorkflowSpecError")
_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


# -- the registry -----------------------------------------------------------------------------

def _phase(obj: dict) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def _pending_reason(pod: dict) -> str:
    """Why a Pending pod waits: the failing PodScheduled condition, else a container's waiting reason."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason"):
            return str(cond["reason"])
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in ("PodInitializing", "ContainerCreating"):
            return str(waiting["reason"])
    return ""


class ControllerMetrics:
    """Owns a private `CollectorRegistry`; `bind(...)` the running parts, then scrape `exposition()`."""

    def __init__(self, *, version: str = "0.1.0") -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.version = version
        self.operation_duration = Histogram(PREFIX + "operation_duration_seconds",
                                            "Histogram of durations of one workflow reconcile",
                                            buckets=_BUCKETS, registry=self.registry)
        self.reconcile_seconds = Histogram("tiphys_reconcile_seconds", "Wall-clock seconds of one reconcile",
                                           ["outcome"], buckets=_BUCKETS, registry=self.registry)
        self.queue_latency = Histogram(PREFIX + "queue_latency", "Seconds a key waits in the queue",
                                       ["queue_name"], buckets=_BUCKETS, registry=self.registry)
        self.queue_duration = Histogram(PREFIX + "queue_duration", "Seconds a key is processed",
                                        ["queue_name"], buckets=_BUCKETS, registry=self.registry)
        self.k8s_request_duration = Histogram(PREFIX + "k8s_request_duration", "Kubernetes request seconds",
                                              ["kind", "verb"], buckets=_BUCKETS, registry=self.registry)
        self.resource_rate_limiter_latency = Histogram(
            PREFIX + "resource_rate_limiter_latency", "Seconds a pod create waited for resourceRateLimit",
            buckets=_BUCKETS, registry=self.registry)
        self.k8s_requests: Counter[tuple[str, str, str]] = Counter()
        self.workflow_transitions: Counter[tuple[str, str]] = Counter()
        self.pod_transitions: Counter[tuple[str, str]] = Counter()
        self.pod_pending: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter({cause: 0 for cause in ERROR_CAUSES})
        self.busy = 0
        self.engine: Any = None
        self.cron: Any = None
        self.queue: InstrumentedQueue | None = None
        self.elector: Any = None
        self.leader_election = False
        self.config: Any = None
        self.logs: Any = None
        self.registry.register(_Collector(self))
        self.custom = CustomMetrics()  # users' metrics.prometheus[] (controller/custom_metrics.py)
        self.registry.register(_CustomCollector(self))

    # -- feeding --------------------------------------------------------------------------------

    def instrument_api(self, api: base.Api, /) -> CountingApi:
        def on_request(kind: str, verb: str, code: int, seconds: float | None) -> None:
            self.k8s_requests[(kind, verb, str(code))] += 1
            if seconds is not None:  # a watch is long-lived by design: counted, not timed
                self.k8s_request_duration.labels(kind, verb).observe(seconds)
        return CountingApi(api, on_request=on_request)

    def bind(self, *, engine: Any = None, queue: InstrumentedQueue | None = None, elector: Any = None,
             leader_election: bool = False, config: Any = None, logs: Any = None, cron: Any = None) -> None:
        """Attach the parts to read at scrape time; informer handlers count phase transitions."""
        if cron is not None:
            self.cron = cron
        if queue is not None:
            self.queue = queue
            queue.on_latency = self.queue_latency.labels(queue.name).observe
            queue.on_work = self.queue_duration.labels(queue.name).observe
        if engine is not None:
            self.engine = engine
            engine.workflows.add_handler(FuncHandler(add=lambda o: self._workflow_seen(None, o),
                                                     update=self._workflow_seen))
            engine.pods.add_handler(FuncHandler(add=lambda o: self._pod_seen(None, o), update=self._pod_seen))
            engine.reconciler.applier.on_metric = self._custom_metric
            engine.workflows.add_handler(FuncHandler(delete=lambda o, final_state_unknown: self.custom.forget_workflow(
                str((o.get("metadata") or {}).get("uid") or ""))))
        self.elector, self.leader_election = elector, leader_election
        self.config = config if config is not None else self.config
        self.logs = logs if logs is not None else self.logs

    def _custom_metric(self, wf: dict, action: Any) -> None:
        self.custom.record(str(wf["metadata"].get("uid") or ""), action)

    def _workflow_seen(self, old: dict | None, new: dict) -> None:
        phase = _phase(new) or "Pending"
        if old is None or (_phase(old) or "Pending") != phase:
            self.workflow_transitions[(phase, str(new["metadata"].get("namespace") or ""))] += 1

    def _pod_seen(self, old: dict | None, new: dict) -> None:
        phase, ns = _phase(new) or "Pending", str(new["metadata"].get("namespace") or "")
        if old is None or (_phase(old) or "Pending") != phase:
            self.pod_transitions[(phase, ns)] += 1
        if phase == "Pending":
            reason = _pending_reason(new)
            if reason and (old is None or _pending_reason(old) != reason):
                self.pod_pending[(reason, ns)] += 1

    def timed(self, handler: Callable[[str], Awaitable[Any]], /) -> Callable[[str], Awaitable[Any]]:
        """`handler` (the reconcile) measured: duration, busy workers, unexpected failures."""
        async def reconcile(key: str) -> Any:
            self.busy += 1
            started = time.perf_counter()
            outcome = "success"
            try:
                return await handler(key)
            except (TerminalError, RetryableError, asyncio.CancelledError):
                outcome = "error"
                raise
            except Exception:
                outcome = "error"
                self.errors["OperationPanic"] += 1  # Argo's cause for a reconcile that blew up
                raise
            finally:
                self.busy -= 1
                seconds = time.perf_counter() - started
                self.operation_duration.observe(seconds)
                self.reconcile_seconds.labels(outcome).observe(seconds)
        return reconcile

    def exposition(self) -> bytes:
        return exposition(self.registry)


class _CustomCollector:
    """The users' metrics; `metricsConfig.metricsTTL` read at each scrape (hot-reloaded)."""

    def __init__(self, metrics: ControllerMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        current = self.m.config.current if self.m.config is not None else None
        ttl = current.metrics.metrics_ttl if current is not None else ""
        try:
            self.m.custom.ttl = parse_duration(ttl) if ttl else None
        except DurationError:
            self.m.custom.ttl = None  # the ConfigMap reader reports a bad value; keep everything meanwhile
        yield from self.m.custom.collect()


class _Collector:
    """Builds the scrape-time families from the bound parts."""

    def __init__(self, metrics: ControllerMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        yield _family(PREFIX + "version", "Build information", "counter",
                      [({"version": m.version, "platform": platform.system().lower(),
                         "python_version": platform.python_version()}, 1)])
        is_leader = 1 if (not m.leader_election or (m.elector is not None and m.elector.is_leader)) else 0
        yield _family(PREFIX + "is_leader", "Whether this controller is the leader (1) or standing by (0)",
                      "gauge", [({}, is_leader)])
        yield from self._workflows()
        yield from self._queue()
        yield _family(PREFIX + "k8s_request_total", "Kubernetes API requests", "counter",
                      [({"kind": k, "verb": v, "status_code": c}, n) for (k, v, c), n in sorted(m.k8s_requests.items())])
        errors = Counter(m.errors)
        if m.cron is not None:
            errors.update(m.cron.errors)
        yield _family(PREFIX + "error_count", "Controller errors by cause", "counter",
                      [({"cause": c}, n) for c, n in sorted(errors.items())])
        if m.cron is not None:
            yield _family(PREFIX + "cronworkflows_triggered_total", "Workflows a CronWorkflow created", "counter",
                          [({"name": name, "namespace": ns}, n) for (ns, name), n in sorted(m.cron.triggered.items())])
            yield _family(PREFIX + "cronworkflows_concurrencypolicy_triggered",
                          "Times a CronWorkflow's concurrencyPolicy skipped or replaced a run", "counter",
                          [({"name": name, "namespace": ns, "concurrency_policy": policy}, n)
                           for (ns, name, policy), n in sorted(m.cron.policy_triggered.items())])
        yield _family(PREFIX + "workers_busy_count", "Workers processing a key", "gauge",
                      [({"worker_type": "workflow"}, m.busy)])
        levels = sorted(m.logs.counts.items()) if m.logs is not None else []
        for name in ("log_messages", PREFIX + "log_messages"):
            yield _family(name, "Log lines by level", "counter", [({"level": lv}, n) for lv, n in levels])
        yield from self._tiphys()

    def _workflows(self) -> Iterator[Metric]:
        m, engine = self.m, self.m.engine
        phases: Counter[str] = Counter({p: 0 for p in WORKFLOW_PHASES})
        conditions: Counter[tuple[str, str]] = Counter()
        pods: Counter[str] = Counter({p: 0 for p in POD_PHASES})
        if engine is not None:
            for wf in engine.workflows.store.list():
                phases[_phase(wf) or "Pending"] += 1
                for cond in (wf.get("status") or {}).get("conditions") or []:
                    conditions[(str(cond.get("type")), str(cond.get("status")))] += 1
            for pod in engine.pods.store.list():
                pods[_phase(pod) or "Pending"] += 1
        yield _family(PREFIX + "gauge", "Workflows by phase (informer cache)", "gauge",
                      [({"phase": p}, n) for p, n in sorted(phases.items())])
        yield _family(PREFIX + "count", "Workflows by status (the Grafana dashboard's name)", "gauge",
                      [({"status": p}, n) for p, n in sorted(phases.items())])
        yield _family(PREFIX + "workflow_condition", "Workflows by condition", "gauge",
                      [({"type": t, "status": s}, n) for (t, s), n in sorted(conditions.items())])
        yield _family(PREFIX + "total_count", "Workflows entering each phase", "counter",
                      [({"phase": p, "namespace": ns}, n) for (p, ns), n in sorted(m.workflow_transitions.items())])
        yield _family(PREFIX + "pods_gauge", "Workflow pods by phase (informer cache)", "gauge",
                      [({"phase": p}, n) for p, n in sorted(pods.items())])
        yield _family(PREFIX + "pods_total_count", "Workflow pods entering each phase", "counter",
                      [({"phase": p, "namespace": ns}, n) for (p, ns), n in sorted(m.pod_transitions.items())])
        yield _family(PREFIX + "pod_pending_count", "Pods seen pending, by reason", "counter",
                      [({"reason": r, "namespace": ns}, n) for (r, ns), n in sorted(m.pod_pending.items())])

    def _queue(self) -> Iterator[Metric]:
        q = self.m.queue
        if q is None:
            return
        label = {"queue_name": q.name}
        now = q._clock.now()
        running = [now - t for t in q.started_at.values()]
        depth = len(q)
        yield _family(PREFIX + "queue_adds_count", "Keys added to the queue", "counter", [(label, q.adds)])
        yield _family(PREFIX + "queue_retries", "Rate-limited re-adds", "counter", [(label, q.retries)])
        yield _family(PREFIX + "queue_depth_gauge", "Keys waiting in the queue", "gauge", [(label, depth)])
        yield _family(PREFIX + "queue_depth_count", "Keys waiting (the Grafana dashboard's name)", "gauge",
                      [(label, depth)])
        yield _family(PREFIX + "queue_unfinished_work", "Seconds of work in progress not yet done", "gauge",
                      [(label, sum(running))])
        yield _family(PREFIX + "queue_longest_running", "Seconds the longest running key has run", "gauge",
                      [(label, max(running, default=0.0))])
        yield _family("tiphys_queue_depth", "Keys waiting in the queue, and waiting for a delay", "gauge",
                      [({**label, "state": "ready"}, depth), ({**label, "state": "delayed"}, q.waiting())])

    def _tiphys(self) -> Iterator[Metric]:
        m, engine = self.m, self.m.engine
        if engine is not None:
            rec = engine.reconciler
            yield _family("tiphys_plan_cpu_seconds_total", "CPU seconds spent planning and encoding status",
                          "counter", [({}, rec.cpu_seconds)])
            yield _family("tiphys_status_writes_total", "Workflow status writes", "counter",
                          [({}, rec.status_writes)])
            yield _family("tiphys_pods_created_total", "Pods created", "counter", [({}, rec.applier.pods_created)])
            yield _family("tiphys_api_writes_total", "API writes made by the applier", "counter",
                          [({}, rec.applier.api_writes)])
            yield from _status_sizes(engine)
        current = m.config.current if m.config is not None else None
        ignored = ([({"key": k, "reason": "unsupported"}, 1) for k in current.unsupported]
                   + [({"key": k, "reason": "not_enforced"}, 1) for k in current.inert]) if current else []
        yield _family("tiphys_config_unsupported_keys", "Controller ConfigMap keys tiphys ignores (1 each)",
                      "gauge", ignored)
        if m.config is not None:
            yield _family("tiphys_config_valid", "1 when the last ConfigMap seen was accepted", "gauge",
                          [({}, 0 if m.config.last_error is not None else 1)])


def _status_sizes(engine: Any) -> Iterator[Metric]:
    """Encoded node-map bytes of the workflows held in memory, and the ratio where compressed.

    The codec caches each node's bytes, so this joins cached pieces rather than re-encoding;
    the compressed size is read off the cached Workflow (`status.compressedNodes`).
    """
    sizes, ratios = [], []
    for key, held in list(engine.reconciler.held.items()):
        size = len(held.writer.codec.encode_json(held.execution.nodes))
        sizes.append(size)
        wf = engine.workflows.store.get(key)
        packed = ((wf or {}).get("status") or {}).get("compressedNodes")
        if packed:
            ratios.append(size / max(1, len(packed)))
    yield _family("tiphys_status_bytes", "Encoded node-map bytes of held workflows (sum, max)", "gauge",
                  [({"stat": "sum"}, sum(sizes)), ({"stat": "max"}, max(sizes, default=0))])
    yield _family("tiphys_status_compression_ratio", "Raw / stored bytes of compressed statuses (mean)",
                  "gauge", [({}, sum(ratios) / len(ratios) if ratios else 1.0)])


def _family(name: str, doc: str, kind: str, samples: Iterable[tuple[dict[str, str], float]]) -> Metric:
    metric = Metric(name, doc, kind)
    for labels, value in samples:
        metric.add_sample(name, labels, float(value))
    return metric


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def exposition(registry: CollectorRegistry, /) -> bytes:
    """Prometheus text format 0.0.4, family names as given (see the module docstring)."""
    out: list[str] = []
    for metric in registry.collect():
        name = metric.name
        # prometheus_client's own counters strip `_total` from the family and add it to samples.
        if metric.type == "counter" and metric.samples and all(s.name == name + "_total" for s in metric.samples
                                                              if not s.name.endswith("_created")):
            name += "_total"
        kind = "untyped" if metric.type == "unknown" else metric.type
        out.append(f"# HELP {name} {_escape(metric.documentation)}")
        out.append(f"# TYPE {name} {kind}")
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue  # prometheus_client's creation stamps: not part of Argo's exposition
            labels = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sample.labels.items())
            value = sample.value
            text = floatToGoString(value) if not (isinstance(value, float) and math.isnan(value)) else "NaN"
            out.append(f"{sample.name}{{{labels}}} {text}" if labels else f"{sample.name} {text}")
    out.append("")
    return "\n".join(out).encode()
