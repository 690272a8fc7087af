"""Writing a WorkflowTaskResult through the API, as Argo's executor does (argo-semantics.md §6.3).

Argo's `upsertTaskResult`: create the object; when it exists already, merge-patch it. The
executor Role grants `workflowtaskresults` create, get and patch -- no update -- so a patch it
must be. It exists already when

* this report is a retry of a create whose answer was lost (the create happened), or
* an earlier run of the same node's executor wrote it (a pod re-created for the same node),
  and every later write of one run (progress, the final outputs) goes the same way.

One deliberate difference from Argo's patch: `outputs` is written whole. A merge patch merges
maps, so Argo's leaves an earlier run's `result` or `artifacts` in place when this run has none;
here the fields this run does not report are set to null, which a merge patch deletes. The
object then says exactly what the last write said, whatever was there before.

Retries are the caller's (`taskresult.report_task_result`): a transient failure here may have
written the object, which the next attempt's create-then-patch absorbs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import KubeClient, PatchKind
from .errors import KubeAlreadyExists
from .kinds import BUILTIN

if TYPE_CHECKING:  # taskresult.py imports this package's errors: no import cycle at run time
    from ..taskresult import TaskResultSink

__all__ = ["OUTPUT_FIELDS", "TASK_RESULT_KIND", "api_sink", "task_result_patch"]

TASK_RESULT_KIND = BUILTIN.for_manifest("argoproj.io/v1alpha1", "WorkflowTaskResult")
# Argo's `Outputs` (workflow_types.go): every field a task result's outputs may carry
OUTPUT_FIELDS = ("parameters", "artifacts", "result", "exitCode")


def task_result_patch(obj: dict[str, Any], /) -> dict[str, Any]:
    """The merge patch that turns an existing task result into `obj` (labels, outputs, progress)."""
    meta = obj["metadata"]
    patch: dict[str, Any] = {"metadata": {"labels": dict(meta.get("labels") or {})}}
    outputs = obj.get("outputs")
    if outputs:
        patch["outputs"] = {k: outputs.get(k) for k in OUTPUT_FIELDS} | dict(outputs)
    else:
        patch["outputs"] = None
    if obj.get("progress"):
        patch["progress"] = obj["progress"]
    return patch


def api_sink(client: KubeClient, /) -> TaskResultSink:
    """A `TaskResultSink` writing through `client`: create, else merge-patch."""

    async def write(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        try:
            await client.create(TASK_RESULT_KIND, obj, namespace=meta["namespace"])
            return
        except KubeAlreadyExists:
            pass  # a retried create, or an earlier run's object: make it say what this write says
        await client.patch(TASK_RESULT_KIND, meta["name"], task_result_patch(obj), namespace=meta["namespace"],
                           patch_kind=PatchKind.MERGE)
    return write
