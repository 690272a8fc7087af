"""Custom Prometheus metrics (`metrics.prometheus[]`): which sample, with which value and labels.

Argo emits a template's metrics when its node completes, and its real-time gauges while the node
runs; a workflow's metrics when the workflow completes, and its real-time gauges from its start
(argo-semantics §3.3, §5.2 steps 9 and 16, §5.3 step 14). This module makes that decision and
nothing else: it returns `RecordMetric` actions, which the controller's exporter keeps and serves
(controller/custom_metrics.py). It never walks the node tree; every hook is O(metrics of one
template) and runs at one moment:

- `watch(ex, node_id, template)` — `execute` resolved a template that has metrics for this node:
  the node is remembered (`ex.metric_watch`). A node that already exists and still runs (a
  controller restart, a lock wait tried again) gets its real-time gauges now;
- `node_created(ex, node_id)` — a watched node was just created: its real-time gauges;
- `node_fulfilled(ex, node_id)` — a watched node was fulfilled, seen by this process: all its
  metrics, once (the entry leaves `metric_watch`);
- `workflow_started(ex)` / `workflow_completed(ex)` — the workflow's own metrics.

A restart rebuilds the Execution from status: nodes fulfilled before it are never watched again,
so a counter is not counted twice for them; what the last process had counted is lost with its
memory, as in Argo (its custom metrics live in the controller's memory only).

Scope (§3.3): the globals (`workflow.status`, `workflow.duration`, ...), `status`, `duration`
(seconds, `%f`), `exitCode`, `retries` (attempts − 1 of a Retry node), `inputs.parameters.<n>`,
`outputs.parameters.<n>`, `outputs.result`, `resourcesDuration.<resource>`. The metric is
substituted strictly, its value fields included, as Argo's `template.Replace(..., false)` does:
an unresolved variable is an error even when `when` would have been false. Errors are reported
as Argo reports them: a `MetricsError` condition on the workflow (messages joined with ", "),
and the metric is skipped.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import msgspec

from tiphys.core.lang.errors import LangError, WhenError
from tiphys.core.lang.govaluate import evaluate_when
from tiphys.core.lang.tags import substitute_object
from tiphys.core.plan.scope import parse_time
from tiphys.core.validate.metrics import metric_problems, realtime_variable

__all__ = ["RecordMetric", "evaluate", "node_scope", "watch", "node_created", "node_fulfilled",
           "workflow_started", "workflow_completed", "report_error", "METRICS_ERROR"]

METRICS_ERROR = "MetricsError"


class RecordMetric(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """One sample for the exporter. `name` is the user's (the exporter adds `argo_workflows_`).

    `running_since` (epoch seconds) marks a real-time gauge of something still running: its value
    is `now - running_since` at each scrape. `key` names the emission within the workflow
    (`<node id>/<index>`, `/<index>` for workflow metrics), so the exporter applies an emission at
    most once per workflow even if a plan is replayed.
    """

    name: str
    help: str
    kind: str  # gauge | counter | histogram
    labels: tuple[tuple[str, str], ...] = ()
    value: float = 0.0
    operation: str = "Set"  # gauges: Set, Add, Sub
    buckets: tuple[float, ...] = ()
    running_since: float | None = None
    key: str = ""


def _prometheus(owner: Any) -> list:
    metrics = owner.get("metrics") if isinstance(owner, dict) else None
    prom = metrics.get("prometheus") if isinstance(metrics, dict) else None
    return prom if isinstance(prom, list) else []


def _is_realtime(metric: Any) -> bool:
    gauge = metric.get("gauge") if isinstance(metric, dict) else None
    return isinstance(gauge, dict) and gauge.get("realtime") is True


def _seconds(value: float) -> str:
    """Go's `fmt.Sprint(float64)` for whole and simple seconds: 12 -> "12", 1.5 -> "1.5"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def evaluate(metrics: list, scope: Mapping[str, Any], /, *, owner: str, workflow_level: bool,
             realtime_only: bool, running_since: float | None) -> tuple[list[RecordMetric], list[str]]:
    """The samples of `metrics` in `scope`, and the error messages of those that could not be made.

    `realtime_only`: only real-time gauges (a node or workflow that just started).
    `running_since`: the owner's start while it runs (real-time gauges then tick at scrape time);
    None once it is fulfilled (they then hold the final duration).
    """
    out: list[RecordMetric] = []
    errors: list[str] = []
    var = realtime_variable(workflow_level=workflow_level)
    problems = _checked(msgspec.json.encode(metrics), workflow_level)
    for index, metric in enumerate(metrics):
        realtime = _is_realtime(metric)
        if realtime_only and not realtime:
            continue
        name = metric.get("name") if isinstance(metric, dict) else None
        problem = problems[index]
        if problem is not None:
            errors.append(problem)
            continue
        try:  # strict, the value fields included (Argo substitutes the whole metric first)
            done = substitute_object(metric, scope, strict=True)
        except LangError as exc:
            errors.append(f"unable to substitute parameters for metric '{name}': {exc}")
            continue
        # name and label keys were checked above: their pattern admits no tag, so they are final
        labels = tuple((str(lb["key"]), str(lb["value"])) for lb in done.get("labels") or ())
        try:
            if not evaluate_when(done.get("when") or ""):
                continue
        except WhenError as exc:
            errors.append(f"unable to compute 'when' clause for metric '{name}': {exc}")
            continue
        key = f"{owner}/{index}"
        if realtime:
            if running_since is not None:
                out.append(RecordMetric(name=name, help=done["help"], kind="gauge", labels=labels,
                                        running_since=running_since, key=key))
                continue
            text = str(scope.get(var, ""))  # fulfilled: the final duration
        else:
            kind = next(k for k in ("gauge", "counter", "histogram") if done.get(k) is not None)
            text = str(done[kind]["value"])
        try:
            value = float(text.strip())
        except ValueError:
            errors.append(f"could not compute metric '{name}': strconv.ParseFloat: parsing {text!r}: invalid syntax")
            continue
        if realtime:
            out.append(RecordMetric(name=name, help=done["help"], kind="gauge", labels=labels, value=value, key=key))
        elif done.get("gauge") is not None:
            out.append(RecordMetric(name=name, help=done["help"], kind="gauge", labels=labels, value=value,
                                    operation=done["gauge"].get("operation") or "Set", key=key))
        elif done.get("counter") is not None:
            out.append(RecordMetric(name=name, help=done["help"], kind="counter", labels=labels, value=value,
                                    key=key))
        else:
            buckets = tuple(float(b) for b in done["histogram"]["buckets"])
            out.append(RecordMetric(name=name, help=done["help"], kind="histogram", labels=labels, value=value,
                                    buckets=buckets, key=key))
    return out, errors


@lru_cache(maxsize=512)
def _checked(encoded: bytes, workflow_level: bool) -> tuple[str | None, ...]:
    """The first problem of each metric, by content: a template's metrics are checked once, not
    once per node that runs it (the check costs more than the emission)."""
    return tuple(next((message for _, message in metric_problems(m, workflow_level=workflow_level)), None)
                 for m in msgspec.json.decode(encoded))


def node_scope(ex: Any, node_id: str, /) -> dict[str, Any]:
    """The metric scope of one node (Argo's prepareMetricScope), from the node and its outputs only."""
    node = ex.nodes[node_id]
    scope = dict(ex.global_scope)
    started = parse_time(node.started_at or ex.now).timestamp()
    end = parse_time(node.finished_at).timestamp() if node.finished_at and ex.fulfilled(node_id) else ex.now_ts
    scope["duration"] = f"{max(0.0, end - started):f}"
    if node.phase:
        scope["status"] = node.phase
    for p in (node.inputs.parameters if node.inputs is not None else None) or ():
        scope[f"inputs.parameters.{p.name}"] = "" if p.value is None else str(p.value)
    outputs = ex.outputs_of(node_id)
    if outputs is not None:
        if outputs.result is not None:
            scope["outputs.result"] = outputs.result
        for p in outputs.parameters or ():
            scope[f"outputs.parameters.{p.name}"] = "" if p.value is None else str(p.value)
        if outputs.exit_code is not None:
            scope["exitCode"] = outputs.exit_code
    for resource, seconds in (node.resources_duration or {}).items():
        scope[f"resourcesDuration.{resource}"] = _seconds(seconds)
    if node.type_ == "Retry":
        attempts = [c for c in node.children or () if not _hooked(ex.nodes.get(c))]
        scope["retries"] = str(max(0, len(attempts) - 1))
    else:
        # Chosen here: Argo sets `retries` only for Retry nodes; a template without a
        # retryStrategy has made no retry, so its metrics may say 0 rather than fail.
        scope["retries"] = "0"
    return scope


def _hooked(node: Any) -> bool:
    return bool(node is not None and node.node_flag is not None and node.node_flag.hooked)


def _emit(ex: Any, metrics: list, scope: Mapping[str, Any], *, owner: str, workflow_level: bool,
          realtime_only: bool, running_since: float | None) -> None:
    records, errors = evaluate(metrics, scope, owner=owner, workflow_level=workflow_level,
                               realtime_only=realtime_only, running_since=running_since)
    ex.actions.extend(records)
    for message in errors:
        report_error(ex, message)


def report_error(ex: Any, message: str, /) -> None:
    """Argo's reportMetricEmissionError: upsert the `MetricsError` condition, messages joined."""
    wf = ex.workflow
    for i, cond in enumerate(wf.conditions):
        if cond.get("type") == METRICS_ERROR:
            old = cond.get("message") or ""
            if message in old.split(", "):
                return  # the same error again (a replayed plan): said once
            wf.conditions[i] = {**cond, "status": "True", "message": f"{old}, {message}" if old else message}
            wf.changed = True
            return
    wf.conditions.append({"type": METRICS_ERROR, "status": "True", "message": message})
    wf.changed = True


# -- hooks ------------------------------------------------------------------------------------

def watch(ex: Any, node_id: str, template: dict, /) -> None:
    """A template with metrics is being executed for `node_id` (see the module docstring)."""
    metrics = _prometheus(template)
    if not metrics:
        return
    node = ex.nodes.get(node_id)
    if node is not None and ex.fulfilled(node_id):
        return  # fulfilled before this process watched it: never emitted again
    ex.metric_watch[node_id] = metrics
    if node is not None and any(_is_realtime(m) for m in metrics):
        _node_realtime(ex, node_id, metrics)


def node_created(ex: Any, node_id: str, /) -> None:
    if ex.fulfilled(node_id):
        return  # created already done (a memoize hit, an error): `node_fulfilled` emits its final values
    metrics = ex.metric_watch.get(node_id)
    if metrics and any(_is_realtime(m) for m in metrics):
        _node_realtime(ex, node_id, metrics)


def _node_realtime(ex: Any, node_id: str, metrics: list) -> None:
    since = parse_time(ex.nodes[node_id].started_at or ex.now).timestamp()
    _emit(ex, metrics, node_scope(ex, node_id), owner=node_id, workflow_level=False, realtime_only=True,
          running_since=since)


def node_fulfilled(ex: Any, node_id: str, /) -> None:
    metrics = ex.metric_watch.pop(node_id, None)
    if metrics:
        _emit(ex, metrics, node_scope(ex, node_id), owner=node_id, workflow_level=False, realtime_only=False,
              running_since=None)


def workflow_started(ex: Any, /) -> None:
    """The workflow runs: its real-time gauges, once per Execution (so again after a restart)."""
    if ex.metrics_started:
        return
    ex.metrics_started = True
    metrics = _prometheus(ex.spec)
    if metrics and any(_is_realtime(m) for m in metrics):
        since = parse_time(ex.workflow.started_at or ex.now).timestamp()
        _emit(ex, metrics, ex.global_scope, owner="", workflow_level=True, realtime_only=True, running_since=since)


def workflow_completed(ex: Any, /) -> None:
    """The workflow reached its final phase: all its metrics, `workflow.status` the final phase."""
    metrics = _prometheus(ex.spec)
    if not metrics:
        return
    wf = ex.workflow
    started = parse_time(wf.started_at or ex.now).timestamp()
    finished = parse_time(wf.finished_at or ex.now).timestamp()
    scope = {**ex.global_scope, "workflow.status": wf.phase,
             "workflow.duration": f"{max(0.0, finished - started):f}"}
    _emit(ex, metrics, scope, owner="", workflow_level=True, realtime_only=False, running_since=None)
