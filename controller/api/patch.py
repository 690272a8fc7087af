"""Patch application for the embedded store: RFC 7386 merge patch and RFC 6902 JSON patch.

Both functions are pure and never mutate their inputs (the target is the store's private copy,
which must stay intact if the patch fails half-way). Errors follow the apiserver: a malformed
patch document is `BadRequest` (400); a well-formed JSON patch that cannot be applied (a failed
`test`, a missing path, an index out of range) is `Invalid` (422), naming the operation's index
and path.
"""
from __future__ import annotations

import copy
from typing import Any

from .errors import BadRequest, Invalid, StatusCause

__all__ = ["apply_merge_patch", "apply_json_patch"]


def apply_merge_patch(target: Any, patch: Any, /) -> Any:
    """RFC 7386: objects merge recursively, `null` removes a key, anything else replaces.

    Neither input is mutated, but the result shares unpatched subtrees of `target` and leaves of
    `patch` (the store passes private copies of both, so nothing is copied twice).
    """
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        return _without_nulls(patch)
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = apply_merge_patch(result.get(key), value)
        else:
            result[key] = value  # scalars and lists replace: no call per leaf
    return result


def _without_nulls(patch: dict[str, Any]) -> dict[str, Any]:
    """A patch object merged onto nothing: itself minus its nulls, recursively."""
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in patch.items() if v is not None}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: Any, index: int, field: str) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequest(f"json patch operation {index}: {field} {path!r} is not a JSON pointer")
    return [_unescape(t) for t in path.split("/")[1:]] if path else []


class _Failed(Exception):
    pass


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _Failed(f"missing path segment {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, allow_end=False)]
        else:
            raise _Failed(f"cannot descend into a scalar at {token!r}")
    return node, tokens[-1]


def _index(array: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(array)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise _Failed(f"{token!r} is not an array index")
    i = int(token)
    if i > len(array) or (i == len(array) and not allow_end):
        raise _Failed(f"index {i} out of range (length {len(array)})")
    return i


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise _Failed(f"missing key {last!r}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise _Failed("cannot index a scalar")


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _Failed("cannot remove the whole document")
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise _Failed(f"missing key {last!r}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, allow_end=False))
    raise _Failed("cannot remove from a scalar")


def _add(doc: Any, tokens: list[str], value: Any, *, replace: bool) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _Failed(f"missing key {last!r}")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, allow_end=False)] = value
        else:
            parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise _Failed("cannot add to a scalar")
    return doc


def apply_json_patch(target: Any, operations: Any, /) -> Any:
    """RFC 6902 over a deep copy of `target`: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise BadRequest("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise BadRequest(f"json patch operation {i}: needs `op` and `path`")
        kind = op["op"]
        tokens = _pointer(op["path"], i, "path")
        try:
            if kind in ("add", "replace", "test") and "value" not in op:
                raise BadRequest(f"json patch operation {i} ({kind}): missing `value`")
            if kind == "add":
                doc = _add(doc, tokens, copy.deepcopy(op["value"]), replace=False)
            elif kind == "replace":
                doc = _add(doc, tokens, copy.deepcopy(op["value"]), replace=True)
            elif kind == "remove":
                _remove(doc, tokens)
            elif kind in ("move", "copy"):
                if "from" not in op:
                    raise BadRequest(f"json patch operation {i} ({kind}): missing `from`")
                source = _pointer(op["from"], i, "from")
                if kind == "move" and tokens[:len(source)] == source and tokens != source:
                    raise _Failed("cannot move a value into one of its own children")
                value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
                doc = _add(doc, tokens, value, replace=False)
            elif kind == "test":
                if _get(doc, tokens) != op["value"]:
                    raise _Failed(f"test failed: value at {op['path']!r} differs")
            else:
                raise BadRequest(f"json patch operation {i}: unknown op {kind!r}")
        except _Failed as exc:
            raise Invalid(f"json patch operation {i} ({kind} {op['path']}): {exc}",
                          causes=(StatusCause(str(op["path"]), "FieldValueInvalid", str(exc)),)) from None
    return doc
