"""Sprig v3 functions reachable in expressions as `sprig.<name>(...)` (§3.5).

Sprig is forgiving: conversions that fail yield zero values (`sprig.int('x')` → 0) rather than
errors, and numeric helpers work on int64 (`sprig.add(1.9, 1)` → 2). Functions that need
randomness, cryptography or the network (`randAlpha`, `genCA`, `getHostByName`, …) are not
provided: they are not deterministic and have no place in a controller's decisions; calling one
raises an evaluation error naming it. `now`/`date` read the evaluation's injected `now`.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import posixpath
import re
import zlib
from collections.abc import Callable
from typing import Any

from .._go import go_json, go_json_indent, go_sprint, go_time_format
from ._sprig_lib import (MAX_TEXT, abbrev, abbrev_full, b32dec, b64dec, chunk, divf, from_json, go_repl,
                         indent, regex_split, round_half, substr, trunc, unsupported, uniq)
from .goregex import compile_go
from .values import INT_MAX, INT_MIN, Fail, equal, wrap_int

__all__ = ["make_sprig", "SPRIG_UNSUPPORTED"]


SPRIG_UNSUPPORTED = frozenset({
    "randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randInt", "randBytes", "shuffle",
    "uuidv4", "bcrypt", "htpasswd", "genPrivateKey", "derivePassword", "buildCustomCert",
    "genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert",
    "genSignedCertWithKey", "encryptAES", "decryptAES", "getHostByName", "env", "expandenv",
})


def _strval(v: Any) -> str:
    return v if isinstance(v, str) else go_sprint(v)


def _int64(v: Any) -> int:
    """spf13/cast ToInt64 with errors mapped to 0."""
    if v is None or v is False:
        return 0
    if v is True:
        return 1
    if isinstance(v, int):
        return wrap_int(v)
    if isinstance(v, float):
        return 0 if math.isnan(v) or math.isinf(v) else wrap_int(int(v))
    if isinstance(v, str):
        text = v[:-2] if v.endswith(".0") else v
        try:
            n = int(text, 0) if re.fullmatch(r"[+-]?(0[xXoObB])?[0-9a-fA-F_]+", text) else 0
        except ValueError:
            return 0
        return n if INT_MIN <= n <= INT_MAX else 0
    return 0


def _float64(v: Any) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", v.strip()) else 0.0
        except ValueError:
            return 0.0
    return 0.0


def _empty(v: Any) -> bool:
    if v is None or v is False or v == "" and isinstance(v, str):
        return True
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v == 0
    if isinstance(v, (list, dict)):
        return not v
    return False


def _list(v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    raise Fail(f"cannot find first on type {type(v).__name__}")


def _cap(s: str) -> str:
    if len(s) > MAX_TEXT:
        raise Fail("sprig: result too long")
    return s


def _title(s: str) -> str:
    out, prev = [], " "
    for c in s:
        out.append(c.upper() if not (prev.isalnum() or prev in "_'") else c)
        prev = c
    return "".join(out)


def _words(s: str) -> list[str]:
    return re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+", s)


def _typeof(v: Any) -> str:
    if v is None:
        return "<nil>"
    return {bool: "bool", int: "int", float: "float64", str: "string",
            list: "[]interface {}", dict: "map[string]interface {}"}.get(type(v), type(v).__name__)


def _kindof(v: Any) -> str:
    if v is None:
        return "invalid"
    return {bool: "bool", int: "int", float: "float64", str: "string", list: "slice",
            dict: "map"}.get(type(v), "struct")


def _seq(*args: Any) -> str:
    nums = [_int64(a) for a in args]
    if len(nums) == 1:
        start, step, end = 1, 1, nums[0]
        if end < 1:
            step = -1
    elif len(nums) == 2:
        start, end = nums
        step = 1 if end >= start else -1
    elif len(nums) == 3:
        start, step, end = nums
        if step == 0 or (end - start) * step < 0:
            return ""
    else:
        raise Fail("sprig.seq: wrong number of arguments")
    count = (end - start) // step + 1
    if count > 100_000:
        raise Fail("sprig.seq: too many items")
    return " ".join(str(start + i * step) for i in range(max(count, 0)))


def _until_step(start: Any, stop: Any, step: Any) -> list[int]:
    a, b, s = _int64(start), _int64(stop), _int64(step)
    if s == 0 or (b - a) * s <= 0:
        return []
    if abs((b - a) // s) > 100_000:
        raise Fail("sprig.untilStep: too many items")
    return list(range(a, b, s))


def _regex_find_all(pattern: str, s: str, n: Any) -> list[str]:
    found = [m.group(0) for m in compile_go(pattern).python().finditer(s)]
    k = _int64(n)
    return found if k < 0 else found[:k]


def _dict(*kv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(kv), 2):
        out[_strval(kv[i])] = kv[i + 1] if i + 1 < len(kv) else ""
    return out


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise Fail("sprig.dig needs keys, a default and a dict")
    *keys, default, d = args
    cur = d
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return default
        cur = cur[k]
    return cur


def _merge(dst: Any, *srcs: Any, overwrite: bool = False) -> dict[str, Any]:
    if not isinstance(dst, dict):
        raise Fail("sprig.merge: destination must be a dict")
    for src in srcs:
        if isinstance(src, dict):
            for k, v in src.items():
                if overwrite or k not in dst:
                    dst[k] = v
    return dst


def _time_arg(v: Any) -> _dt.datetime:
    if not isinstance(v, _dt.datetime):
        raise Fail(f"reflect: Call using {type(v).__name__} as type time.Time")
    return v


def _fail(msg: Any) -> Any:
    raise Fail(_strval(msg))


def make_sprig(now: _dt.datetime | None) -> dict[str, Callable[..., Any]]:
    """The sprig function table, bound to the evaluation's notion of `now`."""

    def current() -> _dt.datetime:
        if now is None:
            raise Fail("sprig: the current time is not available to this evaluation")
        return now

    def when(v: Any) -> _dt.datetime:
        # sprig's dateInZone: a time or Unix seconds, anything else means "now" (even strings)
        if isinstance(v, _dt.datetime):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return _dt.datetime.fromtimestamp(v, _dt.timezone.utc)
        return current()

    def date_in_zone(fmt: str, v: Any, zone: str) -> str:
        if zone not in ("UTC", "Local", ""):
            raise Fail(f"sprig: time zone {zone!r} is not supported by tiphys (UTC only)")
        return go_time_format(when(v).astimezone(_dt.timezone.utc), fmt)

    def sprig_max(a: Any, *rest: Any) -> int:
        return max([_int64(a)] + [_int64(x) for x in rest])

    def sprig_min(a: Any, *rest: Any) -> int:
        return min([_int64(a)] + [_int64(x) for x in rest])

    def div(a: Any, b: Any) -> int:
        x, y = _int64(a), _int64(b)
        if y == 0:
            raise Fail("runtime error: integer divide by zero")
        q = abs(x) // abs(y)
        return q if (x < 0) == (y < 0) else -q

    def mod(a: Any, b: Any) -> int:
        x, y = _int64(a), _int64(b)
        if y == 0:
            raise Fail("runtime error: integer divide by zero")
        r = abs(x) % abs(y)
        return -r if x < 0 else r

    fns: dict[str, Callable[..., Any]] = {
        "hello": lambda: "Hello!",
        "now": current,
        "date": lambda fmt, v: date_in_zone(_strval(fmt), v, "UTC"),
        "dateInZone": lambda fmt, v, z: date_in_zone(_strval(fmt), v, _strval(z)),
        "date_in_zone": lambda fmt, v, z: date_in_zone(_strval(fmt), v, _strval(z)),
        "unixEpoch": lambda t: str(int(_time_arg(t).timestamp())),
        "htmlDate": lambda v: date_in_zone("2006-01-02", v, "UTC"),
        # strings
        "trim": lambda s: _strval(s).strip(),
        "trimAll": lambda c, s: _strval(s).strip(_strval(c)),
        "trimall": lambda c, s: _strval(s).strip(_strval(c)),
        "trimSuffix": lambda a, s: _strval(s).removesuffix(_strval(a)),
        "trimPrefix": lambda a, s: _strval(s).removeprefix(_strval(a)),
        "upper": lambda s: _strval(s).upper(),
        "lower": lambda s: _strval(s).lower(),
        "title": lambda s: _title(_strval(s)),
        "untitle": lambda s: " ".join(w[:1].lower() + w[1:] for w in _strval(s).split(" ")),
        "substr": lambda a, b, s: substr(_int64(a), _int64(b), _strval(s)),
        "repeat": lambda n, s: _cap(_strval(s) * max(_int64(n), 0)) if len(_strval(s)) * max(_int64(n), 0) <= MAX_TEXT else _fail("sprig.repeat: result too long"),
        "trunc": lambda n, s: trunc(_int64(n), _strval(s)),
        "abbrev": lambda n, s: abbrev(_int64(n), _strval(s)),
        "abbrevboth": lambda a, b, s: abbrev_full(_strval(s), _int64(a), _int64(b)),
        "nospace": lambda s: re.sub(r"\s", "", _strval(s)),
        "initials": lambda s: "".join(w[0] for w in _strval(s).split()),
        "swapcase": lambda s: _strval(s).swapcase(),
        "snakecase": lambda s: "_".join(w.lower() for w in _words(_strval(s))),
        "kebabcase": lambda s: "-".join(w.lower() for w in _words(_strval(s))),
        "camelcase": lambda s: "".join(w[:1].upper() + w[1:] for w in re.split(r"[_\-\s]+", _strval(s)) if w),
        "contains": lambda sub, s: _strval(sub) in _strval(s),
        "hasPrefix": lambda p, s: _strval(s).startswith(_strval(p)),
        "hasSuffix": lambda p, s: _strval(s).endswith(_strval(p)),
        "quote": lambda *a: " ".join(json.dumps(_strval(x), ensure_ascii=False) for x in a if x is not None),
        "squote": lambda *a: " ".join(f"'{_strval(x)}'" for x in a if x is not None),
        "cat": lambda *a: " ".join(_strval(x) for x in a if x is not None),
        "indent": lambda n, s: indent(_int64(n), _strval(s)),
        "nindent": lambda n, s: "\n" + indent(_int64(n), _strval(s)),
        "replace": lambda old, new, s: _cap(_strval(s).replace(_strval(old), _strval(new))),
        "plural": lambda one, many, n: _strval(one) if _int64(n) == 1 else _strval(many),
        "sha1sum": lambda s: hashlib.sha1(_strval(s).encode()).hexdigest(),
        "sha256sum": lambda s: hashlib.sha256(_strval(s).encode()).hexdigest(),
        "sha512sum": lambda s: hashlib.sha512(_strval(s).encode()).hexdigest(),
        "adler32sum": lambda s: str(zlib.adler32(_strval(s).encode())),
        "toString": _strval,
        "toStrings": lambda v: [_strval(x) for x in (v if isinstance(v, list) else [v])],
        "split": lambda sep, s: {f"_{i}": p for i, p in enumerate(_strval(s).split(_strval(sep)))},
        "splitList": lambda sep, s: _strval(s).split(_strval(sep)),
        "splitn": lambda sep, n, s: {f"_{i}": p for i, p in enumerate(_strval(s).split(_strval(sep), max(_int64(n) - 1, 0)))},
        "join": lambda sep, v: _strval(sep).join(_strval(x) for x in (v if isinstance(v, list) else [v])),
        "sortAlpha": lambda v: sorted(_strval(x) for x in (v if isinstance(v, list) else [v])),
        # numbers
        "atoi": lambda s: _int64(s) if re.fullmatch(r"[+-]?\d+", _strval(s)) else 0,
        "int": _int64, "int64": _int64, "float64": _float64,
        "toDecimal": lambda s: int(_strval(s), 8) if re.fullmatch(r"[0-7]+", _strval(s)) else 0,
        "seq": _seq,
        "until": lambda n: _until_step(0, n, 1 if _int64(n) >= 0 else -1),
        "untilStep": _until_step,
        "add1": lambda a: wrap_int(_int64(a) + 1),
        "add": lambda *a: wrap_int(sum(_int64(x) for x in a)),
        "sub": lambda a, b: wrap_int(_int64(a) - _int64(b)),
        "mul": lambda a, *r: wrap_int(math.prod([_int64(a)] + [_int64(x) for x in r])),
        "div": div, "mod": mod,
        "add1f": lambda a: _float64(a) + 1,
        "addf": lambda *a: math.fsum(_float64(x) for x in a),
        "subf": lambda a, *r: _float64(a) - math.fsum(_float64(x) for x in r),
        "mulf": lambda a, *r: math.prod([_float64(a)] + [_float64(x) for x in r]),
        "divf": lambda a, *r: divf(_float64(a), [_float64(x) for x in r]),
        "max": sprig_max, "biggest": sprig_max, "min": sprig_min,
        "maxf": lambda a, *r: max([_float64(a)] + [_float64(x) for x in r]),
        "minf": lambda a, *r: min([_float64(a)] + [_float64(x) for x in r]),
        "ceil": lambda a: float(math.ceil(_float64(a))),
        "floor": lambda a: float(math.floor(_float64(a))),
        "round": lambda a, p, *r: round_half(_float64(a), _int64(p), _float64(r[0]) if r else 0.5),
        # logic and defaults
        "default": lambda d, *given: d if not given or _empty(given[0]) else given[0],
        "empty": _empty,
        "coalesce": lambda *a: next((x for x in a if not _empty(x)), None),
        "all": lambda *a: all(not _empty(x) for x in a),
        "any": lambda *a: any(not _empty(x) for x in a),
        "compact": lambda v: [x for x in _list(v) if not _empty(x)],
        "ternary": lambda t, f, c: t if c is True else f,
        "fail": _fail,
        # json and encodings
        "fromJson": lambda s: from_json(s, strict=False),
        "mustFromJson": lambda s: from_json(s, strict=True),
        "toJson": lambda v: go_json(v), "mustToJson": lambda v: go_json(v),
        "toRawJson": lambda v: go_json(v, html=False), "mustToRawJson": lambda v: go_json(v, html=False),
        "toPrettyJson": go_json_indent, "mustToPrettyJson": go_json_indent,
        "b64enc": lambda s: base64.b64encode(_strval(s).encode()).decode(),
        "b64dec": lambda s: b64dec(_strval(s), base64.b64decode),
        "b32enc": lambda s: base64.b32encode(_strval(s).encode()).decode(),
        "b32dec": lambda s: b32dec(_strval(s)),
        # types
        "typeOf": _typeof, "kindOf": _kindof,
        "typeIs": lambda t, v: _typeof(v) == t, "kindIs": lambda k, v: _kindof(v) == k,
        "typeIsLike": lambda t, v: _typeof(v) in (t, "*" + t),
        "deepEqual": lambda a, b: equal(a, b),
        "deepCopy": lambda v: json.loads(json.dumps(v)), "mustDeepCopy": lambda v: json.loads(json.dumps(v)),
        # paths
        "base": lambda p: posixpath.basename(_strval(p).rstrip("/")) or ("/" if _strval(p).startswith("/") else "."),
        "dir": lambda p: posixpath.dirname(_strval(p)) or ".",
        "clean": lambda p: posixpath.normpath(_strval(p)) if _strval(p) else ".",
        "ext": lambda p: posixpath.splitext(_strval(p))[1],
        "isAbs": lambda p: _strval(p).startswith("/"),
        # lists and dicts
        "list": lambda *a: list(a), "tuple": lambda *a: list(a),
        "first": lambda v: _list(v)[0] if _list(v) else None,
        "rest": lambda v: _list(v)[1:], "last": lambda v: _list(v)[-1] if _list(v) else None,
        "initial": lambda v: _list(v)[:-1], "reverse": lambda v: list(reversed(_list(v))),
        "append": lambda v, x: _list(v) + [x], "push": lambda v, x: _list(v) + [x],
        "prepend": lambda v, x: [x] + _list(v),
        "concat": lambda *ls: [x for v in ls for x in _list(v)],
        "uniq": lambda v: uniq(_list(v)),
        "without": lambda v, *xs: [x for x in _list(v) if not any(equal(x, y) for y in xs)],
        "has": lambda x, v: any(equal(x, y) for y in _list(v)),
        "slice": lambda v, *ix: _list(v)[_int64(ix[0]) if ix else 0:_int64(ix[1]) if len(ix) > 1 else None],
        "chunk": lambda n, v: chunk(_int64(n), _list(v)),
        "dict": _dict,
        "get": lambda d, k: d.get(_strval(k), "") if isinstance(d, dict) else "",
        "set": lambda d, k, v: (d.__setitem__(_strval(k), v), d)[1],
        "unset": lambda d, k: (d.pop(_strval(k), None), d)[1],
        "hasKey": lambda d, k: isinstance(d, dict) and _strval(k) in d,
        "pluck": lambda k, *ds: [d[k] for d in ds if isinstance(d, dict) and k in d],
        "keys": lambda *ds: sorted(k for d in ds if isinstance(d, dict) for k in d),
        "values": lambda d: [d[k] for k in sorted(d)] if isinstance(d, dict) else [],
        "pick": lambda d, *ks: {k: d[k] for k in ks if k in d},
        "omit": lambda d, *ks: {k: v for k, v in d.items() if k not in ks},
        "merge": lambda d, *s: _merge(d, *s), "mustMerge": lambda d, *s: _merge(d, *s),
        "mergeOverwrite": lambda d, *s: _merge(d, *s, overwrite=True),
        "mustMergeOverwrite": lambda d, *s: _merge(d, *s, overwrite=True),
        "dig": _dig,
        # regular expressions (Go RE2 syntax)
        "regexMatch": lambda p, s: compile_go(_strval(p)).search(_strval(s)),
        "mustRegexMatch": lambda p, s: compile_go(_strval(p)).search(_strval(s)),
        "regexFind": lambda p, s: (lambda m: m.group(0) if m else "")(compile_go(_strval(p)).python().search(_strval(s))),
        "regexFindAll": lambda p, s, n: _regex_find_all(_strval(p), _strval(s), n),
        "regexReplaceAll": lambda p, s, r: _cap(compile_go(_strval(p)).python().sub(go_repl(_strval(r)), _strval(s))),
        "regexReplaceAllLiteral": lambda p, s, r: _cap(compile_go(_strval(p)).python().sub(lambda m: _strval(r), _strval(s))),
        "regexSplit": lambda p, s, n: regex_split(_strval(p), _strval(s), _int64(n)),
        "regexQuoteMeta": lambda s: re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", _strval(s)),
    }
    for name in ("mustFirst", "mustRest", "mustLast", "mustInitial", "mustReverse", "mustUniq",
                 "mustWithout", "mustHas", "mustSlice", "mustChunk", "mustAppend",
                 "mustPrepend", "mustCompact", "mustRegexFind", "mustRegexFindAll",
                 "mustRegexReplaceAll", "mustRegexReplaceAllLiteral", "mustRegexSplit"):
        fns[name] = fns[name[4].lower() + name[5:]]
    for name in SPRIG_UNSUPPORTED:
        fns[name] = unsupported(name)
    return fns
