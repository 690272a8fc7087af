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
import functools
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
    """Nest a flat scope by `.`; a key that is a prefix of another key is dropped.

    One pass, order-independent: a map created for `a.b` replaces a leaf `a`, and a later leaf
    `a` never overwrites that map.
    """
    root: dict[str, Any] = {}
    made: set[int] = set()  # ids of the maps built here; scope values are never mutated
    for key, value in scope.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None or id(nxt) not in made:
                nxt = node[part] = {}
                made.add(id(nxt))
            node = nxt
        last = parts[-1]
        current = node.get(last)
        if current is not None and id(current) in made:
            continue  # a more specific key already owns this name
        node[last] = value
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
    env["sprig"] = _sprig_namespace(now)
    return env


@functools.lru_cache(maxsize=16)
def _sprig_namespace(now: _dt.datetime | None, /) -> Namespace:
    # ~190 closures bound to `now` cost ~23 µs to build, more than most evaluations; a plan step
    # evaluates many expressions at one `now`. The namespace is read-only, so sharing it is safe.
    return Namespace("sprig", make_sprig(now))
