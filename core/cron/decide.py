"""What a CronWorkflow needs now: Argo's cron operator (`workflow/cron/operator.go`) as one function.

    d = decide(cron_obj, child_objs, now=clock.now(), handled_through=None)
    # d.create (a Workflow body), d.terminate, d.delete, d.status, d.labels, d.next_run ...

The shell keeps one number per CronWorkflow, `handled_through`: scheduled times up to it are
dealt with (run, or skipped by suspend / `when` / Forbid). None means "first look since this
controller armed the schedule" (start-up, or the spec changed): then, as Argo's
`runOutstandingWorkflows`, at most one missed run is recovered, and only when
`startingDeadlineSeconds` is set, `status.lastScheduledTime` is set, the schedule is the one last
used (annotation `cronworkflows.argoproj.io/last-used-schedule`) and `now` is still before the
missed time plus the deadline. Afterwards a run is due when a scheduled time falls in
(handled_through, now] — robfig's timer firing, which the shell arms at `next_run`.

One pass, in Argo's order: reconcile `status.active` against the children (a finished child
leaves the list and counts in `succeeded`/`failed`), delete completed children beyond the history
limits (newest `finishedAt` kept), check `stopStrategy.expression` (true: label
`cronworkflows.argoproj.io/completed=true`, phase `Stopped`, nothing more is scheduled), then, for
a due run: `suspend` skips, `when` false skips, Forbid skips while a child is active, Replace
terminates the active children (`spec.shutdown: Terminate`, Argo's `TerminateWorkflow`) and
creates, Allow creates. A spec that cannot be used yields only the `SpecError` condition.
"""
from __future__ import annotations

import copy
import datetime as _dt
from typing import Any

import msgspec

from tiphys.core.lang import LangError, evaluate_condition, should_execute

from .errors import CronSpecError
from .spec import (COMPLETED_LABEL, CRON_LABEL, INSTANCE_LABEL, LAST_USED_SCHEDULE_ANNOTATION,
                   SCHEDULED_TIME_ANNOTATION, Child, CronSpec, read_child, read_cron)

__all__ = ["Decision", "decide", "workflow_for", "child_name", "rfc3339", "parse_rfc3339",
           "SPEC_ERROR", "SUBMISSION_ERROR", "upsert_condition", "created"]

SPEC_ERROR = "SpecError"
SUBMISSION_ERROR = "SubmissionError"
_UTC = _dt.timezone.utc


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The actions for one CronWorkflow. `status` is the whole status to write (Argo's shape);
    `labels`/`annotations` are metadata changes; `scheduled_time` is the due run (created, or
    `skipped` says why not)."""

    status: dict[str, Any]
    create: dict[str, Any] | None = None
    scheduled_time: int | None = None
    terminate: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    handled_through: float | None = None
    next_run: int | None = None
    skipped: str | None = None
    error: CronSpecError | None = None


def rfc3339(ts: float, /) -> str:
    return _dt.datetime.fromtimestamp(int(ts), _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str, /) -> float | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def child_name(cron_name: str, scheduled: int, /) -> str:
    """Argo's `getChildWorkflowName`: `<cron>-<unix seconds of the scheduled time>`."""
    return f"{cron_name}-{scheduled}"


def upsert_condition(conditions: list[dict[str, Any]], kind: str, message: str, /) -> list[dict[str, Any]]:
    rest = [c for c in conditions if c.get("type") != kind]
    return rest + [{"type": kind, "status": "True", "message": message}]


def workflow_for(cron: CronSpec, scheduled: int, /) -> dict[str, Any]:
    """Argo's `ConvertCronWorkflowToWorkflowWithProperties`: the child Workflow body."""
    labels: dict[str, str] = {}
    if INSTANCE_LABEL in cron.labels:
        labels[INSTANCE_LABEL] = cron.labels[INSTANCE_LABEL]
    labels[CRON_LABEL] = cron.name
    wm = cron.workflow_metadata
    labels.update(wm.get("labels") or {})
    annotations = {SCHEDULED_TIME_ANNOTATION: rfc3339(scheduled), **(wm.get("annotations") or {})}
    meta: dict[str, Any] = {"name": child_name(cron.name, scheduled), "namespace": cron.namespace,
                            "labels": labels, "annotations": annotations,
                            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
                                                 "name": cron.name, "uid": cron.uid, "controller": True,
                                                 "blockOwnerDeletion": True}]}
    if wm.get("finalizers"):
        meta["finalizers"] = list(wm["finalizers"])
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": meta,
            "spec": copy.deepcopy(cron.workflow_spec)}


def _ref(child: Child) -> dict[str, Any]:
    return {"apiVersion": child.api_version, "kind": child.kind, "name": child.name,
            "namespace": "", "uid": child.uid}


def _scope(cron: CronSpec, status: dict[str, Any]) -> dict[str, Any]:
    """§3.3 `cronworkflow.*` names for `when` and `stopStrategy.expression`."""
    last = parse_rfc3339(status.get("lastScheduledTime") or "")
    scope: dict[str, Any] = {
        "cronworkflow.name": cron.name, "cronworkflow.namespace": cron.namespace,
        "cronworkflow.labels": dict(cron.labels), "cronworkflow.annotations": dict(cron.annotations),
        "cronworkflow.labels.json": msgspec.json.encode(cron.labels).decode(),
        "cronworkflow.annotations.json": msgspec.json.encode(cron.annotations).decode(),
        "cronworkflow.failed": int(status.get("failed") or 0),
        "cronworkflow.succeeded": int(status.get("succeeded") or 0),
        "cronworkflow.lastScheduledTime": None if last is None else _dt.datetime.fromtimestamp(last, _UTC)}
    scope.update({f"cronworkflow.labels.{k}": v for k, v in cron.labels.items()})
    scope.update({f"cronworkflow.annotations.{k}": v for k, v in cron.annotations.items()})
    return scope


def _reconcile_active(cron: CronSpec, children: list[Child], status: dict[str, Any]) -> None:
    """Argo's `reconcileActiveWfs`: unfinished children are active; a listed one that finished
    counts once in succeeded/failed; one that is gone just leaves the list."""
    by_name = {c.name: c for c in children}
    kept: list[dict[str, Any]] = []
    for ref in status.get("active") or ():
        child = by_name.get(ref.get("name"))
        if child is None or (ref.get("uid") and child.uid != ref.get("uid")):
            continue
        if child.fulfilled:
            key = "succeeded" if child.phase == "Succeeded" else "failed"
            status[key] = int(status.get(key) or 0) + 1
            continue
        kept.append(ref)
    listed = {r.get("name") for r in kept}
    for child in children:
        if not child.fulfilled and child.name not in listed:
            kept.append({**_ref(child), "namespace": cron.namespace})
    if kept:
        status["active"] = kept
    else:
        status.pop("active", None)


def _history(cron: CronSpec, children: list[Child]) -> tuple[str, ...]:
    """Argo's `enforceHistoryLimit`: keep the newest N of each kind by finishedAt, delete the rest."""
    doomed: list[str] = []
    for phases, keep in ((("Succeeded",), cron.successful_history_limit),
                         (("Failed", "Error"), cron.failed_history_limit)):
        done = [c for c in children if c.phase in phases]
        done.sort(key=lambda c: parse_rfc3339(c.finished_at) or 0.0, reverse=True)
        doomed.extend(c.name for c in done[keep:])
    return tuple(doomed)


def _due(cron: CronSpec, now: float, handled_through: float | None, last: float | None) -> int | None:
    if handled_through is not None:
        after = max(handled_through, last if last is not None else handled_through)
        runs = [s.last_at_or_before(now, after=after) for s in cron.schedules]
        return max((r for r in runs if r is not None), default=None)
    deadline = cron.starting_deadline_seconds
    if (deadline is None or last is None
            or cron.annotations.get(LAST_USED_SCHEDULE_ANNOTATION) != cron.schedule_string):
        return None
    # only times within the deadline can qualify, so the walk starts there, not at `last`
    after = max(last, now - deadline - 1)
    missed = [s.last_at_or_before(now, after=after) for s in cron.schedules]
    fit = [t for t in missed if t is not None and now < t + deadline]
    return max(fit, default=None)


def _next_run(cron: CronSpec, since: float) -> int | None:
    runs = [s.next_after(since) for s in cron.schedules]
    return min((r for r in runs if r is not None), default=None)


def decide(obj: dict[str, Any], children: list[dict[str, Any]], /, *, now: float,
           handled_through: float | None) -> Decision:
    """The actions for CronWorkflow `obj` with its child workflows at time `now` (see module doc)."""
    status = _readable(copy.deepcopy(obj.get("status") or {}))
    try:
        cron = read_cron(obj)
    except CronSpecError as exc:
        status["conditions"] = upsert_condition(status.get("conditions") or [], SPEC_ERROR, str(exc))
        return Decision(status=status, error=exc, handled_through=handled_through)
    _drop_condition(status, SPEC_ERROR)
    kids = [read_child(c) for c in children]
    _reconcile_active(cron, kids, status)
    delete = _history(cron, kids)
    labels: dict[str, str] = {}
    if cron.completed:
        return _done(status, delete, labels, handled_through)
    scope = _scope(cron, status)
    nowdt = _dt.datetime.fromtimestamp(now, _UTC)
    if cron.stop_expression:
        try:
            stop = evaluate_condition(cron.stop_expression, scope, now=nowdt)
        except LangError as exc:
            err = CronSpecError("$.spec.stopStrategy.expression", str(exc))
            status["conditions"] = upsert_condition(status.get("conditions") or [], SPEC_ERROR, str(err))
            return Decision(status=status, delete=delete, error=err, handled_through=handled_through)
        if stop:
            status["phase"] = "Stopped"
            return _done(status, delete, {COMPLETED_LABEL: "true"}, handled_through)
    last = parse_rfc3339(status.get("lastScheduledTime") or "")
    due = _due(cron, now, handled_through, last)
    through = max(now if handled_through is None else handled_through, due or 0)
    base = dict(status=status, delete=delete, handled_through=through, next_run=_next_run(cron, through))
    if due is None:
        return Decision(**base)
    if cron.suspend:
        return Decision(**base, skipped="suspended", scheduled_time=due)
    if cron.when:
        try:
            go = should_execute(cron.when, scope, now=nowdt)
        except LangError as exc:
            err = CronSpecError("$.spec.when", str(exc))
            status["conditions"] = upsert_condition(status.get("conditions") or [], SUBMISSION_ERROR, str(err))
            return Decision(**base, skipped="when-error", error=err, scheduled_time=due)
        if not go:
            return Decision(**base, skipped="when", scheduled_time=due)
    # this run's own child may exist already (a pass that created it, then lost its status write
    # to a conflict, is being repeated): it is neither another run for Forbid nor one for Replace to stop
    own = child_name(cron.name, due)
    active = tuple(r["name"] for r in status.get("active") or () if r.get("name") != own)
    if cron.concurrency_policy == "Forbid" and active:
        return Decision(**base, skipped="forbid", scheduled_time=due)
    terminate = active if cron.concurrency_policy == "Replace" else ()
    annotations = ({LAST_USED_SCHEDULE_ANNOTATION: cron.schedule_string}
                   if cron.annotations.get(LAST_USED_SCHEDULE_ANNOTATION) != cron.schedule_string else {})
    # the create's outcome decides active/lastScheduledTime: the shell calls `created()` then
    return Decision(**base, create=workflow_for(cron, due), scheduled_time=due, terminate=terminate,
                    annotations=annotations)


def created(decision: Decision, workflow: dict[str, Any] | None, /) -> dict[str, Any]:
    """The status after the decision's workflow was created (`workflow` as the API returned it)
    or already existed (None): Argo's `run` tail — active ref, phase Active, lastScheduledTime,
    SubmissionError cleared. On AlreadyExists Argo returns before this; setting lastScheduledTime
    anyway (a choice) heals a crash between the create and the status write."""
    assert decision.scheduled_time is not None
    status = copy.deepcopy(decision.status)
    if workflow is not None:
        child = read_child(workflow)
        ref = {**_ref(child), "namespace": (workflow.get("metadata") or {}).get("namespace") or ""}
        active = [r for r in status.get("active") or () if r.get("name") != child.name]
        status["active"] = active + [ref]
    status["phase"] = "Active"
    status["lastScheduledTime"] = rfc3339(decision.scheduled_time)
    _drop_condition(status, SUBMISSION_ERROR)
    return status


def _readable(status: Any) -> dict[str, Any]:
    """The status with the fields this controller writes kept only when shaped as it writes them.

    The status is ours: a field edited into another shape is dropped (and so rewritten by the
    next status write) instead of failing every pass, which would leave the CronWorkflow stuck."""
    if not isinstance(status, dict):
        return {}
    checks = {"active": lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
              "conditions": lambda v: isinstance(v, list) and all(isinstance(c, dict) for c in v),
              "succeeded": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "failed": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "lastScheduledTime": lambda v: isinstance(v, str)}
    return {k: v for k, v in status.items() if v is None or k not in checks or checks[k](v)}


def _drop_condition(status: dict[str, Any], kind: str) -> None:
    """Remove conditions of type `kind`; no `conditions` key at all when none remain (so an
    unchanged status compares equal and is not rewritten)."""
    kept = [c for c in status.get("conditions") or () if c.get("type") != kind]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def _done(status: dict[str, Any], delete: tuple[str, ...], labels: dict[str, str],
          handled_through: float | None) -> Decision:
    return Decision(status=status, delete=delete, labels=labels, handled_through=handled_through)

