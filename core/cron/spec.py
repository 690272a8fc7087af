"""A CronWorkflow object read into what the cron decision needs, every field checked at its path.

`read_cron(obj)` takes the unstructured object (as the informer caches it) and returns a frozen
`CronSpec`, or raises `CronSpecError` naming the first unusable field: a schedule robfig would
refuse (`$.spec.schedules[1]`), an unknown `$.spec.timezone`, a `concurrencyPolicy` other than
Allow/Forbid/Replace, a negative `startingDeadlineSeconds`. Argo's validator reports these as
the CronWorkflow's `SpecError` condition; the decision function does the same.

`spec.schedule` (the single string of Argo < 3.6, still accepted by v3.6 and read as a comma
list) and `spec.schedules` are both read; setting both is an error as in Argo's validator.
"""
from __future__ import annotations

from typing import Any

import msgspec

from .errors import CronSpecError
from .schedule import Schedule, parse_schedule

__all__ = ["CronSpec", "Child", "read_cron", "read_child", "schedule_string",
           "CRON_LABEL", "SCHEDULED_TIME_ANNOTATION", "COMPLETED_LABEL", "LAST_USED_SCHEDULE_ANNOTATION",
           "INSTANCE_LABEL", "POLICIES"]

CRON_LABEL = "workflows.argoproj.io/cron-workflow"
SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"
INSTANCE_LABEL = "workflows.argoproj.io/controller-instanceid"
COMPLETED_LABEL = "cronworkflows.argoproj.io/completed"
LAST_USED_SCHEDULE_ANNOTATION = "cronworkflows.argoproj.io/last-used-schedule"
POLICIES = ("Allow", "Forbid", "Replace")
_FULFILLED = ("Succeeded", "Failed", "Error")


class CronSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]
    schedules: tuple[Schedule, ...]
    schedule_string: str  # Argo's `GetScheduleWithTimezoneString`, kept in last-used-schedule
    concurrency_policy: str = "Allow"
    suspend: bool = False
    starting_deadline_seconds: int | None = None
    successful_history_limit: int = 3
    failed_history_limit: int = 1
    when: str = ""
    stop_expression: str = ""
    workflow_metadata: dict[str, Any] = {}
    workflow_spec: dict[str, Any] = {}
    status: dict[str, Any] = {}

    @property
    def completed(self) -> bool:
        return self.labels.get(COMPLETED_LABEL) == "true"


class Child(msgspec.Struct, frozen=True, kw_only=True):
    """A workflow the cron created (label `workflows.argoproj.io/cron-workflow`)."""

    name: str
    uid: str
    phase: str
    finished_at: str  # RFC 3339, "" while running (sorts oldest, as Go's zero time does)
    api_version: str = "argoproj.io/v1alpha1"
    kind: str = "Workflow"

    @property
    def fulfilled(self) -> bool:
        return self.phase in _FULFILLED


def _dict(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CronSpecError(path, f"expected an object, got {type(value).__name__}")
    return value


def _int(value: Any, path: str, *, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise CronSpecError(path, f"expected an integer, got {value!r}")
    return value


def _str(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CronSpecError(path, f"expected a string, got {value!r}")
    return value


def schedule_string(texts: list[str], timezone: str, /) -> str:
    """Argo's `GetScheduleWithTimezoneString`: `CRON_TZ=<tz> ` before each schedule, comma-joined."""
    prefix = f"CRON_TZ={timezone} " if timezone else ""
    return ",".join(prefix + t for t in texts)


def read_cron(obj: dict[str, Any], /) -> CronSpec:
    """The CronWorkflow `obj` as a CronSpec; CronSpecError at the first unusable field."""
    meta = _dict(obj.get("metadata"), "$.metadata")
    spec = _dict(obj.get("spec"), "$.spec")
    timezone = _str(spec.get("timezone"), "$.spec.timezone")
    single = _str(spec.get("schedule"), "$.spec.schedule")
    many = spec.get("schedules")
    if many is not None and not isinstance(many, list):
        raise CronSpecError("$.spec.schedules", f"expected a list of strings, got {many!r}")
    if single and many:
        raise CronSpecError("$.spec.schedules", "cannot use both spec.schedule and spec.schedules")
    if single:
        texts, paths = [s for s in single.split(",")], ["$.spec.schedule"] * len(single.split(","))
    else:
        texts = [_str(s, f"$.spec.schedules[{i}]") for i, s in enumerate(many or ())]
        paths = [f"$.spec.schedules[{i}]" for i in range(len(texts))]
    if not texts:
        raise CronSpecError("$.spec.schedules", "a CronWorkflow needs at least one schedule")
    if timezone:
        from .schedule import load_zone  # noqa: PLC0415 - the zone error names spec.timezone, not a schedule
        load_zone(timezone, path="$.spec.timezone")
    schedules = tuple(parse_schedule(t, timezone=timezone, path=p) for t, p in zip(texts, paths))
    policy = _str(spec.get("concurrencyPolicy"), "$.spec.concurrencyPolicy") or "Allow"
    if policy not in POLICIES:
        raise CronSpecError("$.spec.concurrencyPolicy", f"invalid ConcurrencyPolicy {policy!r} "
                            "(expected Allow, Forbid or Replace)")
    deadline = _int(spec.get("startingDeadlineSeconds"), "$.spec.startingDeadlineSeconds", default=None)
    if deadline is not None and deadline < 0:
        raise CronSpecError("$.spec.startingDeadlineSeconds", f"must not be negative, got {deadline}")
    ok_limit = _int(spec.get("successfulJobsHistoryLimit"), "$.spec.successfulJobsHistoryLimit", default=3)
    failed_limit = _int(spec.get("failedJobsHistoryLimit"), "$.spec.failedJobsHistoryLimit", default=1)
    stop = _dict(spec.get("stopStrategy"), "$.spec.stopStrategy")
    return CronSpec(
        name=_str(meta.get("name"), "$.metadata.name"), namespace=_str(meta.get("namespace"), "$.metadata.namespace"),
        uid=_str(meta.get("uid"), "$.metadata.uid"), labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}), schedules=schedules,
        schedule_string=schedule_string(texts, timezone), concurrency_policy=policy,
        suspend=spec.get("suspend") is True, starting_deadline_seconds=deadline,
        # Argo: a negative limit means the default (its `>= 0` check)
        successful_history_limit=ok_limit if ok_limit is not None and ok_limit >= 0 else 3,
        failed_history_limit=failed_limit if failed_limit is not None and failed_limit >= 0 else 1,
        when=_str(spec.get("when"), "$.spec.when"),
        stop_expression=_str(stop.get("expression"), "$.spec.stopStrategy.expression"),
        workflow_metadata=_dict(spec.get("workflowMetadata"), "$.spec.workflowMetadata"),
        workflow_spec=_dict(spec.get("workflowSpec"), "$.spec.workflowSpec"),
        status=_dict(obj.get("status"), "$.status"))


def read_child(obj: dict[str, Any], /) -> Child:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    meta = meta if isinstance(meta, dict) else {}
    status = status if isinstance(status, dict) else {}  # not a workflow's status: no phase yet
    return Child(name=str(meta.get("name") or ""), uid=str(meta.get("uid") or ""),
                 phase=str(status.get("phase") or ""), finished_at=str(status.get("finishedAt") or ""),
                 api_version=str(obj.get("apiVersion") or "argoproj.io/v1alpha1"),
                 kind=str(obj.get("kind") or "Workflow"))
