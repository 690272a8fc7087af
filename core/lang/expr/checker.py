"""The part of expr's compile-time type check that changes outcomes: `==` / `!=` between
operands whose static types are known and incompatible is an error, not `false`.

expr compiles Argo expressions against the concrete env (`expr.Env(env)`), so top-level names
(`retries`, `item`), literals and results of typed builtins (`len`, `asInt`, `string`…) have
static types, while values read through maps (`inputs.parameters.x`) are `interface{}` and only
checked at run time. Hence `retries == 2` fails to compile in Argo ("mismatched types string and
int") whereas `inputs.parameters.n == 2` is simply false. `static_type` infers what expr knows;
`check_equalities` raises `ExprEvalError` at the operator's column for the incompatible pairs.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

from ..errors import ExprEvalError
from . import ast as A

__all__ = ["static_type", "equality_nodes", "check_equalities"]

_GO_NAMES = {"string": "string", "int": "int", "float": "float64", "bool": "bool",
             "array": "[]interface {}", "map": "map[string]interface {}"}
_RETURNS = {
    "len": "int", "int": "int", "asInt": "int", "float": "float", "asFloat": "float",
    "string": "string", "upper": "string", "lower": "string", "trim": "string",
    "trimPrefix": "string", "trimSuffix": "string", "replace": "string", "repeat": "string",
    "join": "string", "toJSON": "string", "toJson": "string", "toBase64": "string",
    "fromBase64": "string", "type": "string", "indexOf": "int", "lastIndexOf": "int",
    "hasPrefix": "bool", "hasSuffix": "bool", "all": "bool", "any": "bool", "none": "bool",
    "one": "bool", "split": "array", "splitAfter": "array", "keys": "array", "values": "array",
    "filter": "array", "map": "array", "sort": "array", "sortBy": "array", "reverse": "array",
    "uniq": "array", "concat": "array", "flatten": "array", "take": "array", "count": "int",
    "ceil": "float", "floor": "float", "round": "float", "mean": "float", "median": "float",
    "bitand": "int", "bitor": "int", "bitxor": "int", "bitshl": "int", "bitshr": "int",
    "bitushr": "int", "bitnot": "int", "toPairs": "array",
}
_BOOL_OPS = frozenset({"==", "!=", "<", ">", "<=", ">=", "in", "matches", "contains",
                       "startsWith", "endsWith", "and", "or", "&&", "||"})


def _of_value(v: Any) -> str | None:
    if v is None:
        return None  # a nil-typed name compares with anything
    t = type(v)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "float"
    if t is str:
        return "string"
    if t is list:
        return "array"
    if t is dict:
        return "map"
    if isinstance(v, _dt.datetime):
        return "time"
    return None


def static_type(node: A.Node, env: dict[str, Any], bound: frozenset[str] = frozenset()) -> str | None:
    """The type expr's checker would know for `node`, or None for interface{}/unknown."""
    t = type(node)
    if t is A.Bool:
        return "bool"
    if t is A.Int:
        return "int"
    if t is A.Float:
        return "float"
    if t is A.Str:
        return "string"
    if t is A.Array:
        return "array"
    if t is A.MapLit:
        return "map"
    if t is A.Ident:
        if node.name in bound or node.name not in env:
            return None
        return _of_value(env[node.name])
    if t is A.Unary:
        if node.op in ("not", "!"):
            return "bool"
        inner = static_type(node.operand, env, bound)
        return inner if inner in ("int", "float") else None
    if t is A.Binary:
        if node.op in _BOOL_OPS:
            return "bool"
        left = static_type(node.left, env, bound)
        right = static_type(node.right, env, bound)
        if node.op == "..":
            return "array"
        if node.op in ("/", "**", "^") and left in ("int", "float") and right in ("int", "float"):
            return "float"
        if node.op in ("+", "-", "*", "%") and left in ("int", "float") and right in ("int", "float"):
            return "int" if left == right == "int" else "float"
        if node.op == "+" and left == right == "string":
            return "string"
        return None
    if t is A.Conditional:
        a = static_type(node.then, env, bound)
        return a if a == static_type(node.other, env, bound) else None
    if t is A.Call and type(node.callee) is A.Ident and node.callee.name not in bound:
        return _RETURNS.get(node.callee.name)
    if t is A.Slice:
        inner = static_type(node.obj, env, bound)
        return inner if inner in ("string", "array") else None
    if t is A.Let:
        return static_type(node.body, env, bound | {node.name})
    return None


def equality_nodes(tree: A.Node) -> tuple[tuple[A.Binary, frozenset[str]], ...]:
    """Every `==`/`!=` node with the let-names bound at that point."""
    found: list[tuple[A.Binary, frozenset[str]]] = []

    def walk(node: object, bound: frozenset[str]) -> None:
        if isinstance(node, tuple):
            for x in node:
                walk(x, bound)
            return
        if not isinstance(node, A.Node.__args__):  # type: ignore[attr-defined]
            return
        if type(node) is A.Binary and node.op in ("==", "!="):
            found.append((node, bound))
        if type(node) is A.Let:
            walk(node.value, bound)
            walk(node.body, bound | {node.name})
            return
        for f in node.__struct_fields__:
            walk(getattr(node, f), bound)

    walk(tree, frozenset())
    return tuple(found)


def check_equalities(nodes: tuple[tuple[A.Binary, frozenset[str]], ...], env: dict[str, Any],
                     source: str) -> None:
    """Raise like expr's compiler when an equality mixes incompatible known types."""
    for node, bound in nodes:
        left = static_type(node.left, env, bound)
        right = static_type(node.right, env, bound)
        if left is None or right is None or left == right:
            continue
        if left in ("int", "float") and right in ("int", "float"):
            continue
        raise ExprEvalError(
            f"invalid operation: {node.op} (mismatched types {_GO_NAMES.get(left, left)} and "
            f"{_GO_NAMES.get(right, right)})", source=source, column=node.pos)
