"""`argoexec data`: the main process of a data template's pod.

Argo (`cmd/argoexec/commands/data.go`, `workflow/executor.Data`, `workflow/data/data.go`):

1. report the task result with `report-outputs-completed=false`;
2. source: `data.source.artifactPaths` is an artifact whose location is LISTED -- every object key
   under its key, recursively (`ArtifactRepository.list_objects`: s3, or the artifact repository
   for a location that is not complete; other location types cannot be listed);
3. each `data.transformation[i].expression` is expr-lang over one variable, `data` (the current
   value, at first the list of keys); its value becomes the next `data`. An empty expression is
   skipped, as Argo's `switch` skips it;
4. the final value, JSON-encoded as Go's `json.Marshal` writes it (`<>&` escaped, map keys
   sorted), is `outputs.result`, reported with `report-outputs-completed=true`.

Every failure is one `DataError` naming the template field (`$.data.transformation[1].expression`),
a final task result without outputs, and exit code 64 -- argoexec's for an error it reports, with
the message as the container's termination message (the node then reads
`main: Error (exit code 64): <message>`).

Two faithful oddities: an empty listing is Go's nil slice, so with no transformation the result
is `null` (which `withParam` takes as no items); after an expression it is `[]`. Go cannot encode
a map with non-string keys (`groupBy` gives one) and neither can this; a map with string keys
from `groupBy`, which Go would still refuse for its `map[any]` type, is encoded here.

The command reads no API besides the task-result sink, so the same function serves a real pod
(`__main__`) and the node agent, which runs it in-process (`controller.nodeagent.datapod`) so that
its failure message reaches the node.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec

from tiphys.core.lang._go import go_json
from tiphys.core.lang.errors import ExprError
from tiphys.core.lang.expr import Limits, compile_expr

from ._errors import ArtifactError, ExecutorError
from .artifacts import ArtifactRepository
from .taskresult import TaskResultSink, build_outputs, build_task_result, report_task_result

__all__ = ["FAILURE_EXIT_CODE", "DataError", "DataOutcome", "DataSettings", "encode_result", "list_source",
           "process", "run_data", "transform"]

FAILURE_EXIT_CODE = 64  # argoexec's exit code for an error it reports itself
Sleep = Callable[[float], Awaitable[Any]]
Now = Callable[[], _dt.datetime]


class DataError(ExecutorError):
    """The data template cannot be processed; `where` names its field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} - at {where!r}")
        self.where = where
        self.message = message


class DataSettings(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    workflow_name: str
    workflow_uid: str = ""
    namespace: str = "default"
    instance_id: str = ""
    report_attempts: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str], /) -> DataSettings:
        missing = [k for k in ("ARGO_NODE_ID", "ARGO_WORKFLOW_NAME") if not env.get(k)]
        if missing:
            raise ExecutorError(f"the data command needs {', '.join(missing)} in its environment")
        return cls(node_id=env["ARGO_NODE_ID"], workflow_name=env["ARGO_WORKFLOW_NAME"],
                   workflow_uid=env.get("ARGO_WORKFLOW_UID", ""), namespace=env.get("ARGO_NAMESPACE") or "default",
                   instance_id=env.get("ARGO_INSTANCE_ID", ""))


class DataOutcome(msgspec.Struct, frozen=True, kw_only=True):
    exit_code: int
    message: str = ""
    result: str | None = None           # outputs.result, when it succeeded
    task_result: dict[str, Any] = {}


def _data_spec(template: Mapping[str, Any]) -> Mapping[str, Any]:
    data = template.get("data")
    if not isinstance(data, Mapping):
        raise DataError("$.data", "the template has no data section")
    return data


def list_source(data: Mapping[str, Any], repository: ArtifactRepository, /) -> list[str]:
    """The source's value: the keys under `source.artifactPaths` (Argo's `processSource`)."""
    source = data.get("source")
    if not isinstance(source, Mapping):
        raise DataError("$.data.source", "no valid source is specified")
    paths = source.get("artifactPaths")
    if not isinstance(paths, Mapping):
        raise DataError("$.data.source", "no valid source is specified (artifactPaths is the one source kind)")
    try:
        return repository.list_objects(paths)
    except ArtifactError as exc:
        raise DataError("$.data.source.artifactPaths", f"unable to source artifact paths: {exc}") from None


def _limits(size: int) -> Limits:
    # Argo's expr has no budget; ours scales with the listing so a large bucket still filters
    base = Limits()
    return Limits(max_steps=max(base.max_steps, 64 * size), max_string=base.max_string,
                  max_items=max(base.max_items, 4 * size))


def transform(value: Any, steps: Any, /, *, now: _dt.datetime | None = None) -> tuple[Any, int | None]:
    """Apply `transformation[]` in order; (final value, index of the step that made it or None)."""
    if steps is None:
        return value, None
    if not isinstance(steps, Sequence) or isinstance(steps, (str, bytes)):
        raise DataError("$.data.transformation", f"expected a list of steps, got {type(steps).__name__}")
    last: int | None = None
    for i, step in enumerate(steps):
        where = f"$.data.transformation[{i}]"
        if not isinstance(step, Mapping):
            raise DataError(where, f"expected an object with an expression, got {type(step).__name__}")
        source = step.get("expression")
        if not isinstance(source, str):
            raise DataError(f"{where}.expression", "every transformation step needs an expression (a string)")
        if not source:
            continue  # Argo's `case step.Expression != ""`: an empty step is no step
        size = len(value) if isinstance(value, (list, dict, str)) else 0
        try:
            value = compile_expr(source).evaluate({"data": value}, limits=_limits(size), now=now)
        except ExprError as exc:
            raise DataError(f"{where}.expression", f"error processing data step {i}: {exc}") from None
        last = i
    return value, last


def _check_keys(value: Any, where: str) -> None:
    """Go's json.Marshal refuses maps whose keys are not strings; go_json would print them."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise DataError(where, f"the value is not JSON-encodable: a map key {k!r} is not a string")
                stack.append(item)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def encode_result(value: Any, /, *, where: str = "$.data") -> str:
    """`json.Marshal(value)` as Argo's executor writes `outputs.result`."""
    _check_keys(value, where)
    try:
        return go_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise DataError(where, f"the value is not JSON-encodable: {exc}") from None


def process(template: Mapping[str, Any], repository: ArtifactRepository, /, *,
            now: _dt.datetime | None = None) -> str:
    """The whole data step, synchronously: the `outputs.result` text, or a `DataError`."""
    data = _data_spec(template)
    listing = list_source(data, repository)
    value, last = transform(listing, data.get("transformation"), now=now)
    if last is None:
        return encode_result(listing or None)  # Go's nil slice: `null`
    return encode_result(value, where=f"$.data.transformation[{last}].expression")


async def run_data(template: Mapping[str, Any], repository: ArtifactRepository, settings: DataSettings, /, *,
                   sink: TaskResultSink, now: Now = lambda: _dt.datetime.now(_dt.timezone.utc),
                   sleep: Sleep = asyncio.sleep, log: Callable[[str], Any] = print) -> DataOutcome:
    """Argo's `execData`: report, list and transform (in a thread: listing is blocking I/O), report."""
    def result(completed: bool, outputs: Mapping[str, Any] | None) -> dict[str, Any]:
        return build_task_result(settings.node_id, workflow_name=settings.workflow_name,
                                 workflow_uid=settings.workflow_uid, namespace=settings.namespace,
                                 completed=completed, outputs=outputs, instance_id=settings.instance_id or None)

    await report_task_result(sink, result(False, None), attempts=settings.report_attempts, sleep=sleep)
    text: str | None = None
    message = ""
    try:
        text = await asyncio.to_thread(process, template, repository, now=now())
        log(f"data: result {text[:200]}{'...' if len(text) > 200 else ''}")
    except ExecutorError as exc:
        message = str(exc)
        log(message)
    final = result(True, build_outputs(result=text) if text is not None else None)
    await report_task_result(sink, final, attempts=settings.report_attempts, sleep=sleep)
    return DataOutcome(exit_code=FAILURE_EXIT_CODE if message else 0, message=message, result=text,
                       task_result=final)
