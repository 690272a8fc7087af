"""Outputs of steps and DAG templates, computed from their children's scope when they succeed."""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.lang.tags import substitute
from tiphys.core.spec import Outputs, as_text

__all__ = ["composite_outputs", "global_exports"]


def composite_outputs(template: dict, scope: dict[str, Any]) -> Outputs | None:
    """`outputs.parameters[].valueFrom.parameter|expression` and `outputs.artifacts[].from`."""
    declared = template.get("outputs") or {}
    params, artifacts = [], []
    for p in declared.get("parameters") or ():
        vf = p.get("valueFrom") or {}
        value = None
        if vf.get("parameter") is not None:
            value = substitute(str(vf["parameter"]), scope)
            if "{{" in value:
                value = None
        elif vf.get("expression") is not None:
            value = substitute("{{=" + str(vf["expression"]) + "}}", scope)
            if value.startswith("{{="):
                value = None
        elif p.get("value") is not None:
            value = substitute(as_text(p["value"]), scope)
        if value is None and vf.get("default") is not None:
            value = as_text(vf["default"])
        if value is None:
            continue
        out = {k: v for k, v in p.items() if k not in ("value",)}
        out["value"] = value
        params.append(out)
    for a in declared.get("artifacts") or ():
        ref = a.get("from")
        source = None
        if isinstance(ref, str):
            key = ref.strip()
            if key.startswith("{{") and key.endswith("}}"):
                source = scope.get(key[2:-2].strip())
        if source is None:
            if a.get("optional"):
                continue
            continue
        merged = msgspec.to_builtins(source) if not isinstance(source, dict) else dict(source)
        merged["name"] = a.get("name")
        if a.get("globalName"):
            merged["globalName"] = a["globalName"]
        artifacts.append(merged)
    if not params and not artifacts:
        return None
    return msgspec.convert({"parameters": params or None, "artifacts": artifacts or None}, type=Outputs)


def global_exports(template: dict, outputs: Outputs | None) -> tuple[dict[str, str], dict[str, Any]]:
    """Output parameters and artifacts with a `globalName`, as (parameters, artifacts)."""
    params: dict[str, str] = {}
    arts: dict[str, Any] = {}
    if outputs is None:
        return params, arts
    declared = {p.get("name"): p for p in (template.get("outputs") or {}).get("parameters") or ()}
    for p in outputs.parameters or ():
        g = p.global_name or (declared.get(p.name) or {}).get("globalName")
        if g:
            params[g] = as_text(p.value)
    declared_a = {a.get("name"): a for a in (template.get("outputs") or {}).get("artifacts") or ()}
    for a in outputs.artifacts or ():
        g = a.global_name or (declared_a.get(a.name) or {}).get("globalName")
        if g:
            arts[g] = a
    return params, arts
