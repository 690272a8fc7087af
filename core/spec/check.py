"""Structural check of a plain document against a Struct type: every problem, with its path.

msgspec stops at the first error it meets; a linter should report all of them. This walk uses
msgspec's own type description (`msgspec.inspect`), built once per type, and reports unknown
fields (warnings unless strict), values of the wrong JSON type, and enum values out of range.
A document that passes converts with `msgspec.convert` without error.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
import msgspec.inspect as mi

from tiphys.core.spec.errors import Path

__all__ = ["Problem", "check"]

_JSON_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object",
               type(None): "null"}


class Problem(msgspec.Struct, frozen=True):
    path: Path
    message: str
    severity: str = "error"


@lru_cache(maxsize=None)
def _info(struct_type: type) -> mi.Type:
    return mi.type_info(struct_type)


@lru_cache(maxsize=None)
def _fields(struct_type: type) -> dict[str, mi.Type]:
    info = mi.type_info(struct_type)
    return {f.encode_name: f.type for f in info.fields}


def check(value: Any, struct_type: type, /, *, path: Path = ()) -> list[Problem]:
    out: list[Problem] = []
    _walk(value, _info(struct_type), path, out)
    return out


def _walk(value: Any, t: mi.Type, path: Path, out: list[Problem]) -> None:
    if isinstance(t, mi.AnyType):
        return
    if isinstance(t, mi.UnionType):
        options = [o for o in t.types if not isinstance(o, mi.NoneType)]
        if value is None:
            return
        for option in options:
            if _accepts(value, option):
                _walk(value, option, path, out)
                return
        out.append(Problem(path, f"expected {_describe(t)}, got {_JSON_NAMES.get(type(value), 'value')}"))
        return
    if not _accepts(value, t):
        if value is None and not isinstance(t, mi.NoneType):
            return  # an explicit null reads as "absent", as in Go
        out.append(Problem(path, f"expected {_describe(t)}, got {_JSON_NAMES.get(type(value), 'value')}"))
        return
    if isinstance(t, mi.StructType):
        fields = _fields(t.cls)
        for key, item in value.items():
            ft = fields.get(key)
            if ft is None:
                out.append(Problem(path + (key,), f"unknown field {key!r}", "warning"))
            else:
                _walk(item, ft, path + (key,), out)
    elif isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        for i, item in enumerate(value):
            _walk(item, t.item_type, path + (i,), out)
    elif isinstance(t, mi.DictType):
        for key, item in value.items():
            _walk(item, t.value_type, path + (key,), out)


def _accepts(value: Any, t: mi.Type) -> bool:
    if isinstance(t, mi.AnyType):
        return True
    if isinstance(t, mi.StrType):
        return isinstance(value, str)
    if isinstance(t, mi.BoolType):
        return isinstance(value, bool)
    if isinstance(t, mi.IntType):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(t, mi.FloatType):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(t, (mi.StructType, mi.DictType)):
        return isinstance(value, dict)
    if isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        return isinstance(value, list)
    if isinstance(t, mi.NoneType):
        return value is None
    if isinstance(t, mi.UnionType):
        return any(_accepts(value, o) for o in t.types)
    return True


def _describe(t: mi.Type) -> str:
    if isinstance(t, mi.UnionType):
        return " or ".join(_describe(o) for o in t.types if not isinstance(o, mi.NoneType))
    if isinstance(t, mi.StrType):
        return "string"
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.IntType):
        return "integer"
    if isinstance(t, mi.FloatType):
        return "number"
    if isinstance(t, mi.StructType):
        return f"object ({t.cls.__name__})"
    if isinstance(t, mi.DictType):
        return "object"
    if isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        return "array"
    return "value"
