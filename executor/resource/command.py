"""`argoexec resource <action>`: the main process of a resource template's pod.

Argo's order (`cmd/argoexec/commands/resource.go`):

1. report the task result with `report-outputs-completed=false` (the controller then waits for
   the outputs before it lets dependants start);
2. read the manifest: `resource.manifest` (substituted, and owned by the Workflow under
   `setOwnerReference`, by the controller) or the file of the input artifact that
   `manifestFrom.artifact` names (owned here, from ARGO_WORKFLOW_NAME/UID, when asked);
3. run the action (`actions.py`);
4. with a `successCondition`/`failureCondition`, read the object every `poll_interval` seconds
   (Argo: 5) until a condition decides (`conditions.py`): failure wins; a vanished object fails;
5. fill the output parameters (`valueFrom.jsonPath`, `valueFrom.jqFilter`, falling back to
   `valueFrom.default`) from the object as it is now, and report them with
   `report-outputs-completed=true` -- on failure too, with what there is.

A failure is one message and exit code 64, as argoexec's (the node then reads
`main: Error (exit code 64): <message>`); API refusals of the action carry Argo's
`no more retries` prefix, since Argo users match on those messages.
"""
from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from .._errors import ExecutorError
from ..kube.client import KubeClient
from ..kube.errors import KubeError, KubeNotFound
from ..taskresult import TaskResultSink, build_outputs, build_task_result, report_task_result
from . import jsonpath
from .actions import Target, execute, load_manifest
from .conditions import evaluate, parse_condition
from .errors import ResourceError, ResourceFailed
from .flags import parse_flags

__all__ = ["FAILURE_EXIT_CODE", "ResourceOutcome", "ResourceSettings", "run_resource"]

FAILURE_EXIT_CODE = 64  # argoexec's exit code for an error it reports itself
Sleep = Callable[[float], Awaitable[Any]]


class ResourceSettings(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    workflow_name: str
    workflow_uid: str = ""
    namespace: str = "default"
    instance_id: str = ""
    poll_interval: float = 5.0          # Argo polls the object every 5 s
    report_attempts: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str], /) -> ResourceSettings:
        missing = [k for k in ("ARGO_NODE_ID", "ARGO_WORKFLOW_NAME") if not env.get(k)]
        if missing:
            raise ExecutorError(f"the resource command needs {', '.join(missing)} in its environment")
        try:
            poll = float(env.get("TIPHYS_RESOURCE_POLL_SECONDS", "5"))
        except ValueError:
            raise ExecutorError(f"TIPHYS_RESOURCE_POLL_SECONDS={env['TIPHYS_RESOURCE_POLL_SECONDS']!r} is not a number") from None
        return cls(node_id=env["ARGO_NODE_ID"], workflow_name=env["ARGO_WORKFLOW_NAME"],
                   workflow_uid=env.get("ARGO_WORKFLOW_UID", ""), namespace=env.get("ARGO_NAMESPACE") or "default",
                   instance_id=env.get("ARGO_INSTANCE_ID", ""),
                   poll_interval=poll)


class ResourceOutcome(msgspec.Struct, frozen=True, kw_only=True):
    exit_code: int
    message: str = ""
    resource: str = ""                  # `<kind>.<group>/<name>` as Argo logs it; "" after delete
    task_result: dict[str, Any] = {}


def _read_file(path: str) -> bytes:
    return Path(path).read_bytes()


def _manifest_text(resource: Mapping[str, Any], template: Mapping[str, Any], read_file: Callable[[str], bytes],
                   settings: ResourceSettings) -> str:
    source = resource.get("manifestFrom")
    if not source:
        manifest = resource.get("manifest")
        if manifest is not None and not isinstance(manifest, str):
            raise ResourceError("$.resource.manifest", f"expected a string, got {type(manifest).__name__}")
        return manifest or ""
    name = ((source or {}).get("artifact") or {}).get("name") if isinstance(source, Mapping) else None
    if not name:
        raise ResourceError("$.resource.manifestFrom.artifact.name", "name the input artifact holding the manifest")
    arts = (template.get("inputs") or {}).get("artifacts") or ()
    art = next((a for a in arts if isinstance(a, Mapping) and a.get("name") == name), None)
    if art is None or not art.get("path"):
        raise ResourceError("$.resource.manifestFrom.artifact.name",
                            f"no input artifact {name!r} with a path in inputs.artifacts")
    try:
        text = read_file(str(art["path"])).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResourceError("$.resource.manifestFrom.artifact", f"cannot read artifact {name!r} at {art['path']}: {exc}") from None
    if resource.get("setOwnerReference"):
        text = _owned(text, settings)
    return text


def _owned(text: str, settings: ResourceSettings) -> str:
    """The Workflow as controller owner (what the controller does to an inline manifest)."""
    obj = load_manifest(text, where="$.resource.manifestFrom.artifact")
    if not isinstance(obj, dict):
        raise ResourceError("$.resource.manifestFrom.artifact", "the manifest must be one object when setOwnerReference is true")
    if not settings.workflow_uid:
        raise ResourceError("$.resource.setOwnerReference", "ARGO_WORKFLOW_UID is not set: cannot name the owner")
    meta = obj.setdefault("metadata", {}) or {}
    obj["metadata"] = meta
    refs = [r for r in meta.get("ownerReferences") or () if isinstance(r, dict) and r.get("uid") != settings.workflow_uid]
    refs.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": settings.workflow_name,
                 "uid": settings.workflow_uid, "controller": True, "blockOwnerDeletion": True})
    meta["ownerReferences"] = refs
    return json.dumps(obj)


async def _wait(target: Target, resource: Mapping[str, Any], client: KubeClient, *, interval: float,
                sleep: Sleep, log: Callable[[str], Any]) -> Target:
    success_text, failure_text = resource.get("successCondition") or "", resource.get("failureCondition") or ""
    if not success_text and not failure_text:
        return target
    success = parse_condition(success_text, where="$.resource.successCondition") if success_text else ()
    failure = parse_condition(failure_text, where="$.resource.failureCondition") if failure_text else ()
    log(f"Waiting for conditions: success {success_text!r}, failure {failure_text!r}")
    obj = target.obj
    while True:
        verdict = evaluate(obj, success=success, failure=failure)
        if verdict.failed:
            raise ResourceFailed(verdict.message)
        if verdict.succeeded:
            log(f"Returning from successful wait for resource {target.qualified}")
            return Target(target.kind, target.name, target.namespace, obj)
        await sleep(interval)
        try:
            obj = await client.get(target.kind, target.name, namespace=target.namespace)
        except KubeNotFound as exc:
            raise ResourceFailed("The resource has been deleted while its status was still being checked. "
                                 f"Will not be retried: {exc}") from None
        except KubeError as exc:
            if not exc.transient:
                raise
            log(f"Waiting for resource {target.qualified} resulted in retryable error {exc}")


def _jq(expr: str, obj: Any, where: str) -> str:
    try:
        import jq  # optional: the `jq` wheel (libjq); without it jqFilter is refused by name
    except ImportError:
        raise ResourceError(where, "jqFilter needs the `jq` Python package, which is not installed") from None
    try:
        results = jq.compile(expr).input_value(obj).all()
    except ValueError as exc:
        raise ResourceError(where, f"jq filter {expr!r} failed: {exc}") from None
    # `jq -rc`: strings raw, the rest compact JSON, one result per line; the final newline is
    # dropped (as every other output parameter's is)
    return "\n".join(r if isinstance(r, str) else json.dumps(r, separators=(",", ":"), ensure_ascii=False)
                     for r in results)


async def _parameters(template: Mapping[str, Any], target: Target | None, client: KubeClient) -> list[dict[str, Any]]:
    params = copy.deepcopy(list((template.get("outputs") or {}).get("parameters") or []))
    live: Any = None
    for i, p in enumerate(params):
        vf = p.get("valueFrom") if isinstance(p, dict) else None
        if not isinstance(vf, dict) or not (vf.get("jsonPath") or vf.get("jqFilter")):
            continue
        where = f"$.outputs.parameters[{i}].valueFrom"
        default = vf.get("default")
        if target is None:  # delete, or nothing found under --ignore-not-found: Argo's defaults
            p["value"] = "" if default is None else str(default)
            continue
        try:
            if live is None:
                live = await client.get(target.kind, target.name, namespace=target.namespace)
            if vf.get("jsonPath"):
                try:
                    p["value"] = jsonpath.render(str(vf["jsonPath"]), live)
                except jsonpath.JsonPathError as exc:
                    raise ResourceError(f"{where}.jsonPath", str(exc)) from None
            else:
                p["value"] = _jq(str(vf["jqFilter"]), live, f"{where}.jqFilter")
        except (ResourceError, KubeError):
            if default is None:
                raise
            p["value"] = str(default)
    return params


async def run_resource(template: Mapping[str, Any], action: str, client: KubeClient, settings: ResourceSettings, /, *,
                       sink: TaskResultSink, read_file: Callable[[str], bytes] = _read_file,
                       sleep: Sleep = asyncio.sleep, log: Callable[[str], Any] = print) -> ResourceOutcome:
    def result(completed: bool, outputs: Mapping[str, Any] | None) -> dict[str, Any]:
        return build_task_result(settings.node_id, workflow_name=settings.workflow_name, workflow_uid=settings.workflow_uid,
                                 namespace=settings.namespace, completed=completed, outputs=outputs,
                                 instance_id=settings.instance_id or None)

    await report_task_result(sink, result(False, None), attempts=settings.report_attempts, sleep=sleep)
    message, resource_name = "", ""
    params: list[dict[str, Any]] = []
    try:
        resource = template.get("resource")
        if not isinstance(resource, Mapping):
            raise ResourceError("$.resource", "the template has no resource section")
        flags = parse_flags(resource.get("flags") or (), action)
        manifest = load_manifest(_manifest_text(resource, template, read_file, settings))
        try:
            target = await execute(action, manifest, flags, client, namespace=settings.namespace,
                                   merge_strategy=str(resource.get("mergeStrategy") or "strategic"),
                                   sleep=sleep, poll_interval=min(settings.poll_interval, 1.0), log=log)
        except KubeError as exc:
            raise ResourceFailed(f"no more retries {exc}") from None
        if target is not None:
            resource_name = target.qualified
            log(f"Resource: {target.namespace or ''}/{resource_name}")
            target = await _wait(target, resource, client, interval=settings.poll_interval, sleep=sleep, log=log)
        params = await _parameters(template, target, client)
    except ExecutorError as exc:
        message = str(exc)
        log(message)
    outputs = build_outputs(parameters=[p for p in params]) if params else None
    final = result(True, outputs)
    await report_task_result(sink, final, attempts=settings.report_attempts, sleep=sleep)
    return ResourceOutcome(exit_code=FAILURE_EXIT_CODE if message else 0, message=message, resource=resource_name,
                           task_result=final)
