"""Finding the template a step, task or hook calls, and binding its inputs (Argo's ProcessArgs).

Templates are plain dicts here: the planner substitutes into them and builds pods from them, and
both work on JSON-like values. Templates reached through `templateRef` are copied into
`status.storedTemplates` on first use, so editing a WorkflowTemplate mid-run changes nothing.
"""
from __future__ import annotations

import copy
from typing import Any

from tiphys.core.lang.tags import ABSENT_SENTINEL
from tiphys.core.spec import as_text

__all__ = ["TemplateError", "Resolved", "resolve", "bind_inputs", "template_type", "merge_defaults"]

LEAF_TYPES = ("container", "script", "resource", "data", "containerSet")
TYPES = LEAF_TYPES + ("steps", "dag", "suspend", "http", "plugin")


class TemplateError(ValueError):
    """The template cannot be resolved or its inputs cannot be bound; the node errors with this text."""


class Resolved:
    __slots__ = ("template", "name", "ref", "scope", "context")

    def __init__(self, template: dict, name: str, ref: dict | None, scope: str,
                 context: tuple[str, bool] | None = None) -> None:
        self.template = template
        self.name = name  # the name that goes into pod names
        self.ref = ref
        self.scope = scope
        # the (Cluster)WorkflowTemplate whose templates `template: x` inside this one names
        self.context = context


def template_type(template: dict) -> str:
    for key in TYPES:
        if template.get(key) is not None:
            return key
    return ""


def merge_defaults(template: dict, defaults: dict | None) -> dict:
    """`templateDefaults` merged under the template (fields of other template types dropped first)."""
    if not defaults:
        return template
    base = {k: v for k, v in defaults.items() if k not in TYPES}
    kind = template_type(template)
    if kind and isinstance(defaults.get(kind), dict) and isinstance(template.get(kind), dict):
        base[kind] = _merge(defaults[kind], template[kind])
    return _merge(base, template)


def _merge(under: dict, over: dict) -> dict:
    out = dict(under)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve(holder: dict, local: dict[str, dict], stored: dict[str, dict], library: Any,
            workflow_name: str, defaults: dict | None = None, context: tuple[str, bool] | None = None) -> Resolved:
    """The template `holder` (a step, task, hook or `{"template": name}`) calls.

    `context` names the WorkflowTemplate the caller itself came from: inside it, `template: x`
    means that template's own `x`, as in Argo's template scopes.
    """
    inline = holder.get("inline")
    if isinstance(inline, dict):
        return Resolved(merge_defaults(inline, defaults), "", None, f"local/{workflow_name}", context)
    name = holder.get("template")
    if isinstance(name, str) and name and context is not None:
        owner, cluster = context
        ref = {"name": owner, "template": name, **({"clusterScope": True} if cluster else {})}
        found = resolve({"templateRef": ref}, local, stored, library, workflow_name, defaults)
        found.ref = None  # Argo records the scope, not a templateRef, for a template's own calls
        return found
    if isinstance(name, str) and name:
        t = local.get(name)
        if t is None:
            raise TemplateError(f"template {name} not found")
        return Resolved(merge_defaults(t, defaults), name, None, f"local/{workflow_name}")
    ref = holder.get("templateRef")
    if isinstance(ref, dict):
        owner, template = ref.get("name", ""), ref.get("template", "")
        cluster = bool(ref.get("clusterScope"))
        scope = "cluster" if cluster else "namespaced"
        key = f"{scope}/{owner}/{template}"
        t = stored.get(key)
        if t is None:
            t = library(owner, template, cluster) if library is not None else None
            if t is None:
                kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
                raise TemplateError(f"{kind} {owner!r} or its template {template!r} not found")
            stored[key] = copy.deepcopy(t)
        return Resolved(merge_defaults(t, defaults), template, {"name": owner, "template": template,
                                                                  **({"clusterScope": True} if cluster else {})},
                        f"{scope}/{owner}", (owner, cluster))
    raise TemplateError("step or task names no template (template, templateRef or inline)")


def configmap_value(value_from: Any, lookup: Any) -> str | None:
    """`valueFrom.configMapKeyRef` through `lookup(name, key)`, falling back to `valueFrom.default`."""
    if not isinstance(value_from, dict):
        return None
    ref = value_from.get("configMapKeyRef")
    if isinstance(ref, dict) and lookup is not None:
        found = lookup(ref.get("name", ""), ref.get("key", ""))
        if found is not None:
            return found
    default = value_from.get("default")
    return as_text(default) if default is not None else None


def bind_inputs(template: dict, arguments: dict | None, /, *, configmaps: Any = None) -> tuple[dict, dict[str, str]]:
    """Bind the caller's arguments to the template's inputs.

    Returns (inputs as written on the node, flat scope entries `inputs.parameters.<n>` and
    `inputs.artifacts.<n>...`). A parameter with no value anywhere is an error, as in Argo.
    `configmaps(name, key)` reads parameter ConfigMaps (Argo: label `configmap-type: Parameter`).
    """
    given = {p.get("name"): p for p in (arguments or {}).get("parameters") or [] if isinstance(p, dict)}
    given_art = {a.get("name"): a for a in (arguments or {}).get("artifacts") or [] if isinstance(a, dict)}
    inputs = template.get("inputs") or {}
    params_out, scope = [], {}
    for p in inputs.get("parameters") or []:
        name = p.get("name")
        arg = given.get(name)
        value = None
        if arg is not None and arg.get("value") is not None and arg.get("value") != ABSENT_SENTINEL:
            value = arg["value"]
        elif p.get("value") is not None:
            value = p["value"]
        elif p.get("default") is not None:
            value = p["default"]
        elif arg is not None and isinstance(arg.get("valueFrom"), dict):
            value = configmap_value(arg["valueFrom"], configmaps)
        if value is None and isinstance(p.get("valueFrom"), dict):
            value = configmap_value(p["valueFrom"], configmaps)
        if value is None:
            if arg is not None and arg.get("value") == ABSENT_SENTINEL:
                raise TemplateError(f"inputs.parameters.{name}: its argument names an output that was not "
                                    "produced (skipped or omitted step) and the input has no default")
            raise TemplateError(f"inputs.parameters.{name} was not supplied")
        text = as_text(value)
        if p.get("enum") and text not in {as_text(e) for e in p["enum"]} and "{{" not in text:
            raise TemplateError(f"inputs.parameters.{name} value {text!r} is not in its enum {p['enum']}")
        out = {k: v for k, v in p.items() if k not in ("value", "default")}
        out["value"] = text
        params_out.append(out)
        scope[f"inputs.parameters.{name}"] = text
    artifacts_out = []
    for a in inputs.get("artifacts") or []:
        name = a.get("name")
        merged = dict(a)
        arg = given_art.get(name)
        if arg is not None:
            merged.update({k: v for k, v in arg.items() if k != "name"})
        artifacts_out.append(merged)
        scope[f"inputs.artifacts.{name}"] = merged  # for `from: "{{inputs.artifacts.<n>}}"` in steps/dag calls
        if merged.get("path"):
            scope[f"inputs.artifacts.{name}.path"] = merged["path"]
    import json

    scope["inputs.parameters"] = json.dumps(params_out, separators=(",", ":"))
    node_inputs: dict[str, Any] = {}
    if params_out:
        node_inputs["parameters"] = params_out
    if artifacts_out:
        node_inputs["artifacts"] = artifacts_out
    return node_inputs, scope
