"""The WorkflowTaskResult object the wait side writes (argo-semantics.md §1.3, §5.8, §6.3).

One object per pod node, named by the node ID, labelled with its workflow and with
`report-outputs-completed` ("false" while outputs may still change, "true" once final), owned by
the Workflow so it is garbage-collected with it. `outputs` has Argo's shape: `parameters` and
`artifacts` as the template declares them with `value`s and locations filled, plus `result`.
The executor reaches the API only through one async callable, a `TaskResultSink`: the node
agent's file relay (`runtime.FileTaskResultSink`) or the API (`kube.api_sink`), as the entry point
chooses. `report_task_result` is the one retry loop both `wait` and `resource` write through.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .kube.errors import KubeError

__all__ = [
    "API_VERSION",
    "LABEL_COMPLETED",
    "LABEL_INSTANCE_ID",
    "LABEL_WORKFLOW",
    "TaskResultSink",
    "build_outputs",
    "build_task_result",
    "read_progress",
    "report_task_result",
]

API_VERSION = "argoproj.io/v1alpha1"
LABEL_WORKFLOW = "workflows.argoproj.io/workflow"
LABEL_COMPLETED = "workflows.argoproj.io/report-outputs-completed"
LABEL_INSTANCE_ID = "workflows.argoproj.io/controller-instanceid"

TaskResultSink = Callable[[dict[str, Any]], Awaitable[Any]]
Sleep = Callable[[float], Awaitable[Any]]
_PROGRESS = re.compile(r"^(\d+)/(\d+)$")


def build_outputs(*, parameters: Sequence[Mapping[str, Any]] = (), artifacts: Sequence[Mapping[str, Any]] = (),
                  result: str | None = None) -> dict[str, Any]:
    """Argo's `Outputs` with its omitempty rules: absent fields are left out."""
    out: dict[str, Any] = {}
    if parameters:
        out["parameters"] = [dict(p) for p in parameters]
    if artifacts:
        out["artifacts"] = [dict(a) for a in artifacts]
    if result is not None:
        out["result"] = result
    return out


def build_task_result(node_id: str, /, *, workflow_name: str, workflow_uid: str, namespace: str,
                      completed: bool, outputs: Mapping[str, Any] | None = None, progress: str | None = None,
                      instance_id: str | None = None) -> dict[str, Any]:
    labels = {LABEL_WORKFLOW: workflow_name, LABEL_COMPLETED: "true" if completed else "false"}
    if instance_id:
        labels[LABEL_INSTANCE_ID] = instance_id
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": node_id,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Workflow", "name": workflow_name, "uid": workflow_uid}],
        },
    }
    if outputs:
        obj["outputs"] = dict(outputs)
    if progress:
        obj["progress"] = progress
    return obj


def read_progress(path: Path, /) -> str | None:
    """The last valid `N/M` line the user wrote to the progress file, if any."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except (FileNotFoundError, IsADirectoryError):
        return None
    for line in reversed(lines):
        m = _PROGRESS.match(line.strip())
        if m and int(m.group(1)) <= int(m.group(2)):
            return f"{m.group(1)}/{m.group(2)}"
    return None


async def report_task_result(sink: TaskResultSink, obj: dict[str, Any], /, *, attempts: int,
                             sleep: Sleep = asyncio.sleep) -> None:
    """Write `obj`, retrying what may pass on its own: a lost connection, a timeout, a transient
    API answer (429, 5xx). Argo backs off from 1 s doubling to 30 s; it retries forever, tiphys
    `attempts` times, so a wait container cut off from the API ends with an error instead of
    hanging the node until the controller's task-result timeout (argo-semantics.md §5.8). A
    refusal (403, 422) propagates at once: retrying cannot change the answer."""
    delay = 1.0
    for attempt in range(attempts):
        try:
            await sink(obj)
            return
        except (OSError, TimeoutError, ConnectionError, KubeError) as exc:
            if isinstance(exc, KubeError) and not exc.transient:
                raise
            if attempt == attempts - 1:
                raise
            retry_after = exc.retry_after if isinstance(exc, KubeError) else None
            await sleep(retry_after if retry_after is not None else delay)
            delay = min(delay * 2, 30.0)
