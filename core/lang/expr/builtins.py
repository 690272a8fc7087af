"""expr-lang's builtin functions (v1.17 `builtin/`), each `fn(ctx, *args)`.

Predicate builtins (`filter`, `map`, …) live in `predicates` and are re-exported here as
`PREDICATES`. Map iteration order is random in Go; `keys`, `values` and `toPairs` return
sorted keys here so results are reproducible.
"""
from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

from .._go import go_json_indent
from .predicates import PREDICATES, check_kinds, order_desc, seq, sort_key
from .values import (Fail, Overrun, equal, parse_duration, parse_time, to_float,
                     to_go_string, to_int, type_name, wrap_int)

__all__ = ["BUILTINS", "PREDICATES"]

Fn = Callable[..., Any]


# --- plain builtins ---------------------------------------------------------------------------

def _str(name: str, v: Any) -> str:
    if type(v) is not str:
        raise Fail(f"{name}: expected string, got {type_name(v)}")
    return v


def _len(ctx: Any, v: Any) -> int:
    if type(v) in (list, dict, str):
        return len(v)
    raise Fail(f"invalid argument for len (type {type_name(v)})")


def _num(name: str, v: Any) -> Any:
    if type(v) not in (int, float):
        raise Fail(f"invalid argument for {name} (type {type_name(v)})")
    return v


def _abs(ctx: Any, v: Any) -> Any:
    v = _num("abs", v)
    return wrap_int(abs(v)) if type(v) is int else abs(v)


def _round(ctx: Any, v: Any) -> float:
    v = float(_num("round", v))
    if math.isnan(v) or math.isinf(v):
        return v
    return float(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)  # Go math.Round: half away


def _extreme(name: str, args: tuple[Any, ...], pick: Fn) -> Any:
    if not args:
        raise Fail(f"not enough arguments to call {name}")
    values = list(args[0]) if len(args) == 1 and type(args[0]) is list else list(args)
    if not values:
        return None  # max([]) is nil
    for v in values:
        _num(name, v)
    return pick(values)


def _mean(ctx: Any, *args: Any) -> Any:
    values = _extreme("mean", args, lambda v: v)
    if values is None:
        return 0.0
    return float(sum(float(x) for x in values)) / len(values)


def _median(ctx: Any, *args: Any) -> Any:
    values = _extreme("median", args, lambda v: v)
    if values is None:
        return 0.0
    values = sorted(values)
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2


def _trim(ctx: Any, s: Any, chars: Any = None) -> str:
    s = _str("trim", s)
    return s.strip() if chars is None else s.strip(_str("trim", chars))


def _split(ctx: Any, s: Any, sep: Any, n: Any = -1) -> list[str]:
    s, sep = _str("split", s), _str("split", sep)
    if type(n) is not int:
        raise Fail("split: n must be int")
    if n == 0:
        return []
    if sep == "":
        parts = list(s)
        if 0 < n < len(parts):
            parts = parts[:n - 1] + ["".join(parts[n - 1:])]
        return ctx.check_list(parts)
    return ctx.check_list(s.split(sep) if n < 0 else s.split(sep, n - 1))


def _split_after(ctx: Any, s: Any, sep: Any, n: Any = -1) -> list[str]:
    parts = _split(ctx, s, sep, n)
    return [p + sep for p in parts[:-1]] + parts[-1:] if sep else parts


def _replace(ctx: Any, s: Any, old: Any, new: Any) -> str:
    s, old, new = _str("replace", s), _str("replace", old), _str("replace", new)
    if old and s.count(old) * max(len(new) - len(old), 0) + len(s) > ctx.limits.max_string:
        raise Overrun("replace: result too long")
    return ctx.check_str(s.replace(old, new))


def _repeat(ctx: Any, s: Any, n: Any) -> str:
    s = _str("repeat", s)
    if type(n) is not int or n < 0:
        raise Fail("repeat: count must be a non-negative int")
    if len(s) * n > ctx.limits.max_string:
        raise Overrun("repeat: result too long")
    return s * n


def _join(ctx: Any, arr: Any, sep: Any = "") -> str:
    items = [_str("join", x) for x in seq("join", arr)]
    return ctx.check_str(_str("join", sep).join(items))


def _index_of(ctx: Any, s: Any, sub: Any) -> int:
    return _str("indexOf", s).find(_str("indexOf", sub))


def _last_index_of(ctx: Any, s: Any, sub: Any) -> int:
    return _str("lastIndexOf", s).rfind(_str("lastIndexOf", sub))


def _from_json(ctx: Any, s: Any) -> Any:
    text = _str("fromJSON", s)
    try:
        return json.loads(text, parse_int=float, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Fail(f"fromJSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise Fail(f"fromJSON: invalid character {name!r}")


def _to_json(ctx: Any, v: Any) -> str:
    try:
        return ctx.check_str(go_json_indent(v))
    except (TypeError, ValueError) as exc:
        raise Fail(f"toJSON: {exc}") from None


def _from_base64(ctx: Any, s: Any) -> str:
    try:
        return base64.b64decode(_str("fromBase64", s), validate=True).decode("utf-8", "replace")
    except (ValueError, base64.binascii.Error) as exc:
        raise Fail(f"fromBase64: {exc}") from None


def _now(ctx: Any) -> Any:
    if ctx.now is None:
        raise Fail("now() is not available: the caller did not supply the current time")
    return ctx.now


def _date(ctx: Any, s: Any, *layout: Any) -> Any:
    if layout:
        raise Fail("date() with an explicit layout is not supported by tiphys")
    return parse_time(_str("date", s))


def _first(ctx: Any, arr: Any) -> Any:
    items = seq("first", arr)
    return items[0] if items else None


def _last(ctx: Any, arr: Any) -> Any:
    items = seq("last", arr)
    return items[-1] if items else None


def _get(ctx: Any, obj: Any, key: Any) -> Any:
    if type(obj) is dict:
        try:
            return obj.get(key)
        except TypeError:
            return None
    if type(obj) is list and type(key) is int:
        i = key + len(obj) if key < 0 else key
        return obj[i] if 0 <= i < len(obj) else None
    return None


def _take(ctx: Any, arr: Any, n: Any) -> list[Any]:
    if type(n) is not int:
        raise Fail("take: n must be int")
    return seq("take", arr)[:max(n, 0)]


def _map_of(name: str, v: Any) -> dict[Any, Any]:
    if type(v) is not dict:
        raise Fail(f"{name}: expected map, got {type_name(v)}")
    return v


def _sorted_keys(m: dict[Any, Any]) -> list[Any]:
    return sorted(m, key=lambda k: (type(k).__name__, k))


def _keys(ctx: Any, m: Any) -> list[Any]:
    return _sorted_keys(_map_of("keys", m))


def _values(ctx: Any, m: Any) -> list[Any]:
    d = _map_of("values", m)
    return [d[k] for k in _sorted_keys(d)]


def _to_pairs(ctx: Any, m: Any) -> list[list[Any]]:
    d = _map_of("toPairs", m)
    return [[k, d[k]] for k in _sorted_keys(d)]


def _from_pairs(ctx: Any, arr: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for p in seq("fromPairs", arr):
        if type(p) is not list or len(p) != 2 or type(p[0]) not in (str, int, float, bool):
            raise Fail("fromPairs: each element must be a [key, value] pair")
        out[p[0]] = p[1]
    return out


def _uniq(ctx: Any, arr: Any) -> list[Any]:
    out: list[Any] = []
    for x in seq("uniq", arr):
        ctx.charge(len(out) // 64 + 1)
        if not any(equal(x, y) and type(x) is type(y) for y in out):
            out.append(x)
    return out


def _concat(ctx: Any, *arrs: Any) -> list[Any]:
    out: list[Any] = []
    for a in arrs:
        out.extend(seq("concat", a))
    return ctx.check_list(out)


def _flatten(ctx: Any, arr: Any) -> list[Any]:
    out: list[Any] = []

    def walk(v: list[Any], depth: int) -> None:
        if depth > 100:
            raise Fail("flatten: nested too deeply")
        for x in v:
            if type(x) is list:
                walk(x, depth + 1)
            else:
                out.append(x)
                if len(out) > ctx.limits.max_items:
                    raise Overrun("flatten: result too large")
    walk(seq("flatten", arr), 0)
    return out


def _sort(ctx: Any, arr: Any, order: Any = "asc") -> list[Any]:
    items = seq("sort", arr)
    check_kinds(items)
    ctx.charge(len(items))
    return sorted(items, key=sort_key, reverse=order_desc(order))


def _bits(name: str, *vals: Any) -> list[int]:
    for v in vals:
        if type(v) is not int:
            raise Fail(f"{name}: expected int, got {type_name(v)}")
    return list(vals)


def _shift(name: str, a: Any, b: Any) -> tuple[int, int]:
    a, b = _bits(name, a, b)
    if b < 0:
        raise Fail(f"{name}: negative shift amount")
    return a, min(b, 64)


BUILTINS: dict[str, Fn] = {
    "len": _len,
    "type": lambda ctx, v: type_name(v),
    "abs": _abs,
    "ceil": lambda ctx, v: float(math.ceil(_num("ceil", v))) if type(v) is float and math.isfinite(v) else float(_num("ceil", v)),
    "floor": lambda ctx, v: float(math.floor(_num("floor", v))) if type(v) is float and math.isfinite(v) else float(_num("floor", v)),
    "round": _round,
    "int": lambda ctx, v: to_int(v),
    "float": lambda ctx, v: to_float(v),
    "string": lambda ctx, v: ctx.check_str(to_go_string(v)),
    "trim": _trim,
    "trimPrefix": lambda ctx, s, p=" ": _str("trimPrefix", s).removeprefix(_str("trimPrefix", p)),
    "trimSuffix": lambda ctx, s, p=" ": _str("trimSuffix", s).removesuffix(_str("trimSuffix", p)),
    "upper": lambda ctx, s: _str("upper", s).upper(),
    "lower": lambda ctx, s: _str("lower", s).lower(),
    "split": _split,
    "splitAfter": _split_after,
    "replace": _replace,
    "repeat": _repeat,
    "join": _join,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "hasPrefix": lambda ctx, s, p: _str("hasPrefix", s).startswith(_str("hasPrefix", p)),
    "hasSuffix": lambda ctx, s, p: _str("hasSuffix", s).endswith(_str("hasSuffix", p)),
    "max": lambda ctx, *a: _extreme("max", a, max),
    "min": lambda ctx, *a: _extreme("min", a, min),
    "mean": _mean,
    "median": _median,
    "toJSON": _to_json,
    "fromJSON": _from_json,
    "toBase64": lambda ctx, s: base64.b64encode(_str("toBase64", s).encode()).decode(),
    "fromBase64": _from_base64,
    "now": _now,
    "duration": lambda ctx, s: parse_duration(_str("duration", s)),
    "date": _date,
    "first": _first,
    "last": _last,
    "get": _get,
    "take": _take,
    "keys": _keys,
    "values": _values,
    "toPairs": _to_pairs,
    "fromPairs": _from_pairs,
    "reverse": lambda ctx, arr: list(reversed(seq("reverse", arr))),
    "uniq": _uniq,
    "concat": _concat,
    "flatten": _flatten,
    "sort": _sort,
    "bitand": lambda ctx, a, b: (lambda x, y: x & y)(*_bits("bitand", a, b)),
    "bitor": lambda ctx, a, b: (lambda x, y: x | y)(*_bits("bitor", a, b)),
    "bitxor": lambda ctx, a, b: (lambda x, y: x ^ y)(*_bits("bitxor", a, b)),
    "bitnand": lambda ctx, a, b: (lambda x, y: x & ~y)(*_bits("bitnand", a, b)),
    "bitshl": lambda ctx, a, b: wrap_int((lambda x, y: x << y)(*_shift("bitshl", a, b))),
    "bitshr": lambda ctx, a, b: (lambda x, y: x >> y)(*_shift("bitshr", a, b)),
    "bitushr": lambda ctx, a, b: wrap_int((lambda x, y: (x % 2 ** 64) >> y)(*_shift("bitushr", a, b))),
    "bitnot": lambda ctx, a: ~_bits("bitnot", a)[0],
}
