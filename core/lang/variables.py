"""Builders for the flat scopes tags and expressions read (Argo's variable table, §3.3).

Each helper returns a `dict[str, str]` of flat keys, ready to merge into a scope:
`workflow_vars` (globals, including the `creationTimestamp.<strftime char>` family and the JSON
forms of parameters, labels and annotations), `inputs_vars`, `node_vars` for `steps.<s>.*` /
`tasks.<t>.*`, `retry_vars`, `local_vars` (`pod.name`, `node.name`, `steps.name`, `tasks.name`),
and `failures_value` for exit handlers. Values are rendered as Argo renders them (Go JSON with
HTML escaping, RFC3339 times, `%f` durations). A value of `None` marks an absent optional output
(§3.4), which substitution treats differently from `""`.

`inputs.parameters.json` is not an Argo variable (the §3.3 table has `inputs.parameters`, a
JSON array) and is deliberately not produced: a parameter named `json` would collide with it.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._go import go_json, go_time_format, rfc3339

__all__ = ["STRFTIME_LAYOUTS", "creation_timestamp_vars", "parameters_json", "workflow_vars",
           "failures_value", "inputs_vars", "node_vars", "retry_vars", "local_vars",
           "format_duration"]

# argoproj/pkg strftime characters and the Go layouts they stand for
STRFTIME_LAYOUTS = {
    "B": "January", "b": "Jan", "m": "01", "A": "Monday", "a": "Mon", "d": "02", "H": "15",
    "I": "03", "M": "04", "S": "05", "Y": "2006", "y": "06", "p": "PM", "Z": "MST", "z": "-0700",
    "L": ".000",
}

# Go field order of wfv1.Parameter, which json.Marshal follows (empty fields omitted)
_PARAM_FIELDS = ("name", "default", "value", "valueFrom", "globalName", "enum", "description")


def creation_timestamp_vars(ts: _dt.datetime, /) -> dict[str, str]:
    """`workflow.creationTimestamp` and its `.RFC3339`, `.s` and strftime-character forms."""
    if ts.tzinfo is None:
        raise ValueError("creation timestamp must be timezone-aware")
    base = "workflow.creationTimestamp"
    out = {base: rfc3339(ts), f"{base}.RFC3339": rfc3339(ts),
           f"{base}.s": str(int(ts.timestamp() // 1))}
    for char, layout in STRFTIME_LAYOUTS.items():
        out[f"{base}.{char}"] = go_time_format(ts, layout)
    return out


def parameters_json(params: Sequence[Mapping[str, Any]], /) -> str:
    """JSON array of parameter objects in Go's field order (`workflow.parameters.json`)."""
    items = []
    for p in params:
        fields = [(k, p[k]) for k in _PARAM_FIELDS if p.get(k) not in (None, "", [], {})]
        items.append("{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in fields) + "}")
    return "[" + ",".join(items) + "]"


def format_duration(seconds: float, /) -> str:
    """Go `fmt.Sprintf("%f", seconds)`."""
    return f"{seconds:f}"


def failures_value(failures: Iterable[Mapping[str, Any]] | None, /) -> str:
    """`workflow.failures`: the JSON array of failed nodes, wrapped once more as a JSON string.

    Each entry carries `displayName, message, templateName, phase, podName, finishedAt`
    (finishedAt a datetime or None). No failures renders Go's nil slice: the text `"null"`.
    """
    entries = None
    if failures:
        entries = []
        for f in failures:
            finished = f.get("finishedAt")
            entries.append({
                "displayName": f.get("displayName", ""), "message": f.get("message", ""),
                "templateName": f.get("templateName", ""), "phase": f.get("phase", ""),
                "podName": f.get("podName", ""),
                "finishedAt": rfc3339(finished) if isinstance(finished, _dt.datetime) else finished,
            })
    return json.dumps(go_json(entries), ensure_ascii=False)


def workflow_vars(*, name: str, namespace: str, uid: str, creation_timestamp: _dt.datetime,
                  main_entrypoint: str = "", service_account_name: str = "",
                  parameters: Sequence[Mapping[str, Any]] = (),
                  labels: Mapping[str, str] | None = None,
                  annotations: Mapping[str, str] | None = None, priority: int | None = None,
                  scheduled_time: str | None = None, status: str | None = None,
                  duration: float | None = None,
                  failures: Iterable[Mapping[str, Any]] | None = None,
                  output_parameters: Mapping[str, str] | None = None) -> dict[str, str]:
    """Global `workflow.*` variables (`setGlobalParameters`).

    `parameters` are the spec's argument objects with resolved `value`s. Optional variables are
    only defined when given: `priority`, `scheduled_time` (cron-created workflows), `status`,
    `duration` (seconds) and `failures` (exit handlers).
    """
    out = {"workflow.name": name, "workflow.namespace": namespace, "workflow.uid": uid,
           "workflow.mainEntrypoint": main_entrypoint,
           "workflow.serviceAccountName": service_account_name}
    out.update(creation_timestamp_vars(creation_timestamp))
    pj = parameters_json(parameters)
    out["workflow.parameters"] = pj
    out["workflow.parameters.json"] = pj
    for p in parameters:
        value = p.get("value", p.get("default"))
        if value is not None:
            out[f"workflow.parameters.{p['name']}"] = str(value)
    for kind, values in (("labels", labels or {}), ("annotations", annotations or {})):
        text = go_json(dict(values))
        out[f"workflow.{kind}"] = text
        out[f"workflow.{kind}.json"] = text
        for k, v in values.items():
            out[f"workflow.{kind}.{k}"] = v
    if priority is not None:
        out["workflow.priority"] = str(priority)
    if scheduled_time is not None:
        out["workflow.scheduledTime"] = scheduled_time
    if status is not None:
        out["workflow.status"] = status
    if duration is not None:
        out["workflow.duration"] = format_duration(duration)
    if failures is not None:
        out["workflow.failures"] = failures_value(failures)
    for k, v in (output_parameters or {}).items():
        out[f"workflow.outputs.parameters.{k}"] = v
    return out


def inputs_vars(params: Sequence[Mapping[str, Any]], /, *,
                artifact_paths: Mapping[str, str] | None = None,
                output_parameter_paths: Mapping[str, str] | None = None,
                output_artifact_paths: Mapping[str, str] | None = None) -> dict[str, str]:
    """`inputs.parameters.<n>`, `inputs.parameters` (JSON array) and declared paths."""
    out = {"inputs.parameters": parameters_json(params)}
    for p in params:
        value = p.get("value", p.get("default"))
        if value is not None:
            out[f"inputs.parameters.{p['name']}"] = str(value)
    for k, v in (artifact_paths or {}).items():
        out[f"inputs.artifacts.{k}.path"] = v
    for k, v in (output_parameter_paths or {}).items():
        out[f"outputs.parameters.{k}.path"] = v
    for k, v in (output_artifact_paths or {}).items():
        out[f"outputs.artifacts.{k}.path"] = v
    return out


_UNSET: Any = object()


def node_vars(prefix: str, name: str, /, *, id: str | None = None, status: str | None = None,
              started_at: _dt.datetime | None = None, finished_at: _dt.datetime | None = None,
              ip: str | None = None, host_node_name: str | None = None,
              exit_code: str | None = None, result: Any = _UNSET,
              parameters: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
    """`steps.<name>.*` or `tasks.<name>.*` for one earlier step/task (`prefix` = steps|tasks).

    Fields left out are not defined (Argo only sets what the node has). `result=None` and
    parameter values of `None` record absent optional outputs of Skipped/Omitted producers.
    """
    if prefix not in ("steps", "tasks"):
        raise ValueError(f"prefix must be 'steps' or 'tasks', not {prefix!r}")
    base = f"{prefix}.{name}"
    out: dict[str, str | None] = {}
    for field, value in (("id", id), ("status", status), ("ip", ip),
                         ("hostNodeName", host_node_name), ("exitCode", exit_code)):
        if value is not None:
            out[f"{base}.{field}"] = value
    if started_at is not None:
        out[f"{base}.startedAt"] = rfc3339(started_at)
    if finished_at is not None:
        out[f"{base}.finishedAt"] = rfc3339(finished_at)
    if result is not _UNSET:
        out[f"{base}.outputs.result"] = result
    for k, v in (parameters or {}).items():
        out[f"{base}.outputs.parameters.{k}"] = v
    return out


def retry_vars(retries: int, /, *, last_exit_code: str = "0", last_status: str = "",
               last_duration: str = "0", last_message: str = "") -> dict[str, str]:
    """`retries` and `lastRetry.*` (first attempt: exit code `"0"`, status `""`, duration `"0"`)."""
    return {"retries": str(retries), "lastRetry.exitCode": last_exit_code,
            "lastRetry.status": last_status, "lastRetry.duration": last_duration,
            "lastRetry.message": last_message}


def local_vars(*, pod_name: str | None = None, node_name: str | None = None,
               step_name: str | None = None, task_name: str | None = None) -> dict[str, str]:
    """`pod.name`, `node.name`, `steps.name`, `tasks.name` — whichever apply."""
    out = {}
    for key, value in (("pod.name", pod_name), ("node.name", node_name),
                       ("steps.name", step_name), ("tasks.name", task_name)):
        if value is not None:
            out[key] = value
    return out
