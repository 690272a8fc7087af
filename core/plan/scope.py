"""Variables in scope for substitution: the workflow's globals and what finished nodes expose."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from tiphys.core.spec import NodeStatus, Outputs, as_text

__all__ = ["global_scope", "node_scope", "aggregate_scope", "parse_time"]

_STRFTIME = {"B": "%B", "b": "%b", "m": "%m", "A": "%A", "a": "%a", "d": "%d", "H": "%H", "I": "%I",
             "M": "%M", "S": "%S", "Y": "%Y", "y": "%y", "p": "%p", "Z": "%Z", "z": "%z"}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else datetime.fromtimestamp(0, timezone.utc)


def global_scope(meta: Any, spec: dict, parameters: list[dict]) -> dict[str, Any]:
    """`workflow.*` as Argo's setGlobalParameters builds it."""
    scope: dict[str, Any] = {
        "workflow.name": meta.name, "workflow.namespace": meta.namespace, "workflow.uid": meta.uid,
        "workflow.mainEntrypoint": spec.get("entrypoint", ""),
        "workflow.serviceAccountName": spec.get("serviceAccountName", ""),
        "workflow.status": "", "workflow.duration": "0.000000",
    }
    created = parse_time(meta.creation_timestamp)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    scope["workflow.creationTimestamp"] = stamp
    scope["workflow.creationTimestamp.RFC3339"] = stamp
    scope["workflow.creationTimestamp.s"] = str(int(created.timestamp()))
    scope["workflow.creationTimestamp.L"] = f"{created.microsecond // 1000:03d}"
    for c, fmt in _STRFTIME.items():
        value = created.strftime(fmt)
        if c == "Z" and not value:
            value = "UTC"
        scope[f"workflow.creationTimestamp.{c}"] = value
    if spec.get("priority") is not None:
        scope["workflow.priority"] = str(spec["priority"])
    scheduled = meta.annotations.get("workflows.argoproj.io/scheduled-time")
    if scheduled:
        scope["workflow.scheduledTime"] = scheduled
    for p in parameters:
        scope[f"workflow.parameters.{p['name']}"] = as_text(p.get("value"))
    plist = json.dumps(parameters, separators=(",", ":"))
    scope["workflow.parameters"] = plist
    scope["workflow.parameters.json"] = plist
    for key, values in (("labels", meta.labels), ("annotations", meta.annotations)):
        for k, v in values.items():
            scope[f"workflow.{key}.{k}"] = v
        scope[f"workflow.{key}"] = scope[f"workflow.{key}.json"] = json.dumps(values, separators=(",", ":"),
                                                                              sort_keys=True)
    return scope


def node_scope(prefix: str, node: NodeStatus, outputs: Outputs | None, declared: dict | None = None) -> dict[str, Any]:
    """`steps.<s>.*` / `tasks.<t>.*` for one finished node (§3.3, §3.4)."""
    scope: dict[str, Any] = {f"{prefix}.id": node.id_ or "", f"{prefix}.status": node.phase or ""}
    if node.started_at:
        scope[f"{prefix}.startedAt"] = node.started_at
    if node.finished_at:
        scope[f"{prefix}.finishedAt"] = node.finished_at
    if node.pod_ip:
        scope[f"{prefix}.ip"] = node.pod_ip
    if node.host_node_name:
        scope[f"{prefix}.hostNodeName"] = node.host_node_name
    skipped = node.phase in ("Skipped", "Omitted")
    if outputs is not None:
        if outputs.exit_code is not None:
            scope[f"{prefix}.exitCode"] = outputs.exit_code
        if outputs.result is not None:
            scope[f"{prefix}.outputs.result"] = outputs.result
        for p in outputs.parameters or ():
            scope[f"{prefix}.outputs.parameters.{p.name}"] = as_text(p.value)
        for a in outputs.artifacts or ():
            scope[f"{prefix}.outputs.artifacts.{a.name}"] = a
    if skipped and declared:
        # a Skipped/Omitted producer: declared defaults, else absent (None)
        for p in declared.get("parameters") or ():
            default = (p.get("valueFrom") or {}).get("default")
            scope[f"{prefix}.outputs.parameters.{p.get('name')}"] = as_text(default) if default is not None else None
        scope.setdefault(f"{prefix}.outputs.result", None)
    return scope


def aggregate_scope(prefix: str, children: list[tuple[NodeStatus, Outputs | None]]) -> dict[str, Any]:
    """Loop aggregates: `outputs.result` and `outputs.parameters[.<p>]` as JSON lists of Succeeded children."""
    results, params_by_name, per_child = [], {}, []
    ok = [(n, o) for n, o in children if n.phase == "Succeeded"]
    for _, out in ok:
        if out is None:
            continue
        if out.result is not None:
            try:
                results.append(json.loads(out.result))
            except ValueError:
                results.append(out.result)
        entry = {}
        for p in out.parameters or ():
            params_by_name.setdefault(p.name, []).append(as_text(p.value))
            entry[p.name] = as_text(p.value)
        if entry:
            per_child.append(entry)
    scope: dict[str, Any] = {}
    if results or any(o is not None and o.result is not None for _, o in ok):
        scope[f"{prefix}.outputs.result"] = json.dumps(results, separators=(",", ":"))
    for name, values in params_by_name.items():
        parsed = []
        try:
            parsed = [json.loads(v) for v in values]
            structured = all(isinstance(v, (dict, list)) for v in parsed)
        except ValueError:
            structured = False
        scope[f"{prefix}.outputs.parameters.{name}"] = json.dumps(parsed if structured else values,
                                                                  separators=(",", ":"))
    if per_child:
        scope[f"{prefix}.outputs.parameters"] = json.dumps(per_child, separators=(",", ":"))
    return scope


def substitute_call(step: dict, scope: dict[str, Any], prefix: str) -> dict:
    """A step or task with its references resolved (§3.1 pass 2).

    Strings are substituted with `steps.*`/`tasks.*` strict (an unresolved reference raises
    UnresolvedVariable). Argument artifacts with `from: "{{...}}"` are not text: they take the
    referenced artifact object's location, keeping their own name, as Argo's resolveReferences does.
    """
    from tiphys.core.lang.errors import UnresolvedVariable
    from tiphys.core.lang.tags import substitute_object

    body = {k: v for k, v in step.items() if k not in ("hooks", "onExit")}
    args = dict(body.get("arguments") or {})
    artifacts = args.pop("artifacts", None)
    if args or "arguments" in body:
        body["arguments"] = args
    # a whole-tag argument naming an absent output becomes Argo's sentinel: "not supplied" (§3.4)
    out = substitute_object(body, scope, strict_prefixes=(prefix,), absent_sentinel=True)
    if artifacts:
        resolved = []
        for art in artifacts:
            art = dict(art)
            ref = art.pop("from", None)
            art = substitute_object(art, scope, strict_prefixes=(prefix,))
            if isinstance(ref, str):
                key = ref.strip()
                name = key[2:-2].strip() if key.startswith("{{") and key.endswith("}}") else key
                source = scope.get(name)
                if source is None:
                    if art.get("optional"):
                        continue
                    raise UnresolvedVariable(name, None, source=ref)
                import msgspec

                location = msgspec.to_builtins(source) if not isinstance(source, dict) else dict(source)
                location.pop("name", None)
                location.pop("path", None)
                location.pop("globalName", None)
                art = {**location, **art}
            resolved.append(art)
        out.setdefault("arguments", {})["artifacts"] = resolved
    return out
