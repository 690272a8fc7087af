"""The evaluation environment Argo builds from a flat scope (`util/expr/env/env.go`, §3.5).

The flat scope (`"inputs.parameters.x": "1"`) is expanded into nested maps by splitting keys on
`.`, and when both `a` and `a.b` exist the less specific `a` is dropped — so the bare JSON
forms `workflow.parameters` and `inputs.parameters` are not visible in expressions, while
`workflow.parameters.json` is. (Argo only drops a key when the *next key in sorted order* extends
it, which can keep a conflicting parent such as `a` beside `a-x` and `a.b`; tiphys drops every
parent that has a child, the evident intent.) Argo's helpers are then added: `asInt`,
`asFloat`, `toJson`, `jsonpath` and the `sprig` namespace.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

from .._go import go_json
from .evaluator import Namespace
from .jsonpath import jsonpath_get
from .sprig import make_sprig
from .values import Fail, to_float, to_int

__all__ = ["build_env", "expand", "ARGO_FUNCTIONS"]


def expand(scope: Mapping[str, Any], /) -> dict[str, Any]:
    """Nest a flat scope by `.`; a key that is a prefix of another key is dropped."""
    keys = sorted(scope)
    parents = set()
    for k in keys:
        parts = k.split(".")
        for i in range(1, len(parts)):
            parents.add(".".join(parts[:i]))
    root: dict[str, Any] = {}
    for k in keys:
        if k in parents:
            continue
        parts = k.split(".")
        node = root
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        node[parts[-1]] = scope[k]
    return root


def _jsonpath(doc: Any, path: Any) -> Any:
    if not isinstance(doc, str) or not isinstance(path, str):
        raise Fail("jsonpath(json, path) takes two strings")
    try:
        value = json.loads(doc, parse_int=float)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Fail(f"jsonpath: invalid JSON: {exc}") from None
    return jsonpath_get(path, value)


def _to_json(v: Any) -> str:
    try:
        return go_json(v)
    except (TypeError, ValueError) as exc:
        raise Fail(f"toJson: {exc}") from None


ARGO_FUNCTIONS = {"asInt": to_int, "asFloat": to_float, "toJson": _to_json,
                  "jsonpath": _jsonpath}


def build_env(scope: Mapping[str, Any], /, *, now: _dt.datetime | None = None) -> dict[str, Any]:
    """The env an `{{= }}` expression sees for this scope (Argo's `GetFuncMap`)."""
    env = expand(scope)
    env.update(ARGO_FUNCTIONS)
    env["sprig"] = Namespace("sprig", make_sprig(now))
    return env
