"""Supplied outputs of Suspend nodes (intermediate parameters).

A suspend template may declare output parameters `valueFrom.supplied: {}`: a person (or program)
gives their values when resuming (`argo resume`, `argo node set --output-parameter`). Argo copies
those raw declarations onto the Suspend node when it is made (`addRawOutputFields`), so a client
finds them in `status.nodes` and writes the values there; when the node ends without them (resumed
plainly, or its `duration` elapsed) each takes its `valueFrom.default`, and one without a default
is an error (`OverrideOutputParametersWithDefault`). The controller and the CLI share these rules.
"""
from __future__ import annotations

from typing import Any

__all__ = ["raw_outputs", "with_defaults", "supply", "SuppliedError"]


class SuppliedError(ValueError):
    """A supplied output parameter that was not given and has no default."""


def raw_outputs(template: dict, /) -> dict | None:
    """The template's supplied output parameters, as the Suspend node's initial `outputs`."""
    params = [p for p in ((template.get("outputs") or {}).get("parameters") or [])
              if isinstance(p, dict) and isinstance(p.get("valueFrom"), dict) and "supplied" in p["valueFrom"]]
    return {"parameters": [dict(p) for p in params]} if params else None


def with_defaults(outputs: dict | None, /) -> dict | None:
    """`outputs` with every still-supplied parameter settled: a value given keeps it, else the
    default; `valueFrom` then goes, as in Argo. Raises SuppliedError naming the first one left."""
    if not outputs or not outputs.get("parameters"):
        return outputs
    settled: list[Any] = []
    for p in outputs["parameters"]:
        value_from = p.get("valueFrom") if isinstance(p, dict) else None
        if not isinstance(value_from, dict) or "supplied" not in value_from:
            settled.append(p)
            continue
        if p.get("value") is None:
            if value_from.get("default") is None:
                raise SuppliedError(f"raw output parameter '{p.get('name')}' has not been set and does not "
                                    "have a default value")
            p = {**p, "value": value_from["default"]}
        settled.append({k: v for k, v in p.items() if k != "valueFrom"})
    return {**outputs, "parameters": settled}


def supply(outputs: dict | None, values: dict[str, str], /) -> dict:
    """`outputs` with the named supplied parameters given their values (`argo node set
    --output-parameter`); refuses a name the node does not expect or one already set, as Argo."""
    if not outputs:
        raise SuppliedError("cannot set output parameters because node is not expecting any raw parameters")
    params = [dict(p) for p in outputs.get("parameters") or []]
    for name, value in values.items():
        param = next((p for p in params if p.get("name") == name), None)
        if param is None:
            raise SuppliedError(f"node is not expecting output parameter '{name}'")
        if not isinstance(param.get("valueFrom"), dict) or "supplied" not in param["valueFrom"]:
            raise SuppliedError(f"cannot set output parameter '{name}' because it does not use valueFrom.raw "
                                "or it was already set")
        param["value"] = value
        del param["valueFrom"]
    return {**outputs, "parameters": params}
