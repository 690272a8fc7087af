"""Runtime values of expr-lang and the operators over them, with Go's rules.

Values are plain Python: `None` (nil), `bool`, `int` (Go int64: arithmetic wraps), `float`,
`str`, `list`, `dict`, plus two Go types the expressions in the wild use: `datetime` with a time
zone (Go `time.Time`, from `now()`, `date()` or the environment) and `Duration` (Go
`time.Duration`, nanoseconds; `(now() - t).Seconds()`). `bool` is a subclass of `int` in
Python, so every numeric test here uses `type(x) is int`.

Operator helpers raise `Fail` (no position); the evaluator turns it into `ExprEvalError` with
the column of the node that failed.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from .._go import format_float_g, go_sprint, rfc3339

__all__ = ["Fail", "Overrun", "Duration", "type_name", "equal", "compare", "arith", "truthy_bool",
           "parse_duration", "parse_time", "to_int", "to_float", "to_go_string", "INT_MIN",
           "INT_MAX", "wrap_int"]

INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1


class Fail(Exception):
    """An evaluation error without position (the evaluator adds it)."""


class Overrun(Fail):
    """The evaluation budget (steps, string or collection size) is exhausted."""


def wrap_int(v: int) -> int:
    """Go int64 wrap-around."""
    if INT_MIN <= v <= INT_MAX:
        return v
    return (v + 2 ** 63) % 2 ** 64 - 2 ** 63


_UNITS = (("h", 3600 * 10 ** 9), ("m", 60 * 10 ** 9), ("s", 10 ** 9))


class Duration:
    """Go `time.Duration` (int64 nanoseconds) with the methods expressions call."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = wrap_int(int(ns))

    def __eq__(self, other: object) -> bool:
        return type(other) is Duration and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(("Duration", self.ns))

    def __repr__(self) -> str:
        return f"Duration({self.go_string()})"

    def Hours(self) -> float:  # noqa: N802 - Go method names
        return self.ns / 3.6e12

    def Minutes(self) -> float:  # noqa: N802
        return self.ns / 6e10

    def Seconds(self) -> float:  # noqa: N802
        return self.ns / 1e9

    def Milliseconds(self) -> int:  # noqa: N802
        return int(self.ns / 10 ** 6)

    def Microseconds(self) -> int:  # noqa: N802
        return int(self.ns / 10 ** 3)

    def Nanoseconds(self) -> int:  # noqa: N802
        return self.ns

    def String(self) -> str:  # noqa: N802
        return self.go_string()

    def go_json(self) -> int:
        return self.ns

    def go_string(self) -> str:
        ns = self.ns
        if ns == 0:
            return "0s"
        sign = "-" if ns < 0 else ""
        ns = abs(ns)
        if ns < 10 ** 9:
            for unit, size in (("ms", 10 ** 6), ("µs", 10 ** 3), ("ns", 1)):
                if ns >= size:
                    return sign + _trim(ns, size) + unit
        h, rem = divmod(ns, 3600 * 10 ** 9)
        m, rem = divmod(rem, 60 * 10 ** 9)
        out = sign
        if h:
            out += f"{h}h"
        if h or m:
            out += f"{m}m"
        return out + _trim(rem, 10 ** 9) + "s"


def _trim(n: int, size: int) -> str:
    whole, frac = divmod(n, size)
    if not frac:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}.{frac:0{width}d}".rstrip("0")


_DUR_UNIT = {"ns": 1, "us": 10 ** 3, "µs": 10 ** 3, "μs": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9,
             "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_DUR_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(s: str) -> Duration:
    """Go `time.ParseDuration` (`1h30m`, `-1.5s`, `300ms`)."""
    text = s
    sign = 1
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return Duration(0)
    if not text:
        raise Fail(f'time: invalid duration "{s}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DUR_PART.match(text, pos)
        if not m:
            raise Fail(f'time: invalid duration "{s}"')
        total += float(m.group(1)) * _DUR_UNIT[m.group(2)]
        pos = m.end()
    if total > INT_MAX:
        raise Fail(f'time: invalid duration "{s}"')
    return Duration(sign * int(total))


_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
)


def parse_time(s: str) -> _dt.datetime:
    """expr's `date(s)` without a layout: RFC3339 and the common ISO forms, UTC when zoneless."""
    text = s.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac = re.match(r"^(.*\.\d{6})\d+(.*)$", text)  # Python keeps microseconds only
    if frac:
        text = frac.group(1) + frac.group(2)
    for fmt in _TIME_FORMATS:
        try:
            t = _dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)
    raise Fail(f'cannot parse "{s}" as time')


def type_name(v: Any) -> str:
    """Go-ish type names used in error messages and by `type()`."""
    if v is None:
        return "nil"
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
    if t is Duration:
        return "time.Duration"
    if isinstance(v, _dt.datetime):
        return "time.Time"
    if callable(v):
        return "func"
    return t.__name__


def _num(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def equal(a: Any, b: Any) -> bool:
    """expr's `==`: numbers compare by value across int/float, containers deeply and by type."""
    if _num(a) and _num(b):
        return a == b
    ta, tb = type(a), type(b)
    if ta is list and tb is list:
        return len(a) == len(b) and all(_deep(x, y) for x, y in zip(a, b))
    if ta is dict and tb is dict:
        return a.keys() == b.keys() and all(_deep(a[k], b[k]) for k in a)
    if ta is not tb and not (isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime)):
        return False
    return a == b


def _deep(a: Any, b: Any) -> bool:
    # reflect.DeepEqual inside containers: dynamic types must match exactly.
    if type(a) is not type(b):
        return False
    if type(a) in (list, dict):
        return equal(a, b)
    return a == b


def compare(op: str, a: Any, b: Any) -> bool:
    """`< > <= >=` over numbers, strings, times and durations; anything else is an error."""
    if _num(a) and _num(b) or type(a) is str and type(b) is str:
        pass
    elif isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime):
        pass
    elif type(a) is Duration and type(b) is Duration:
        a, b = a.ns, b.ns
    else:
        raise Fail(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    return a >= b


def _mismatch(op: str, a: Any, b: Any) -> Fail:
    return Fail(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")


def arith(op: str, a: Any, b: Any) -> Any:
    """`+ - * / % ** ^` with Go typing (int stays int except for `/` and `**`)."""
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if op == "+":
            return wrap_int(a + b)
        if op == "-":
            return wrap_int(a - b)
        if op == "*":
            return wrap_int(a * b)
        if op == "%":
            if b == 0:
                raise Fail("integer divide by zero")
            r = abs(a) % abs(b)
            return -r if a < 0 else r
    if _num(a) and _num(b):
        if op == "+":
            return float(a) + float(b)
        if op == "-":
            return float(a) - float(b)
        if op == "*":
            return float(a) * float(b)
        if op == "/":
            if b == 0:
                if a == 0 or math.isnan(a):
                    return math.nan
                return math.copysign(math.inf, a) * math.copysign(1.0, float(b))
            return float(a) / float(b)
        if op in ("**", "^"):
            try:
                return math.pow(float(a), float(b))
            except OverflowError:
                return math.inf
            except ValueError:
                return math.nan
        raise _mismatch(op, a, b)
    if op == "+":
        if ta is str and tb is str:
            return a + b
        if isinstance(a, _dt.datetime) and tb is Duration:
            return a + _dt.timedelta(microseconds=b.ns // 1000)
        if ta is Duration and isinstance(b, _dt.datetime):
            return b + _dt.timedelta(microseconds=a.ns // 1000)
        if ta is Duration and tb is Duration:
            return Duration(a.ns + b.ns)
    if op == "-":
        if isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime):
            delta = a - b
            return Duration((delta.days * 86400 + delta.seconds) * 10 ** 9
                            + delta.microseconds * 1000)
        if isinstance(a, _dt.datetime) and tb is Duration:
            return a - _dt.timedelta(microseconds=b.ns // 1000)
        if ta is Duration and tb is Duration:
            return Duration(a.ns - b.ns)
    raise _mismatch(op, a, b)


def truthy_bool(op: str, v: Any) -> bool:
    if type(v) is not bool:
        raise Fail(f"invalid operation: {op} on {type_name(v)} (expected bool)")
    return v


_INT_TEXT = re.compile(r"\A[+-]?[0-9]+\Z")


def to_int(v: Any) -> int:
    """expr `int()` (Argo `asInt`): truncates floats, parses decimal strings."""
    t = type(v)
    if t is int:
        return v
    if t is float:
        if math.isnan(v) or math.isinf(v):
            raise Fail(f"cannot convert {format_float_g(v)} to int")
        return wrap_int(int(v))
    if t is str:
        text = v
        if not _INT_TEXT.match(text):
            raise Fail(f'strconv.Atoi: parsing "{v}": invalid syntax')
        n = int(text)
        if not INT_MIN <= n <= INT_MAX:
            raise Fail(f'strconv.Atoi: parsing "{v}": value out of range')
        return n
    if t is Duration:
        return v.ns
    raise Fail(f"invalid operation: int({type_name(v)})")


_FLOAT_TEXT = re.compile(r"\A[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[Ii]nf(inity)?|NaN)\Z")


def to_float(v: Any) -> float:
    """expr `float()` (Argo `asFloat`)."""
    t = type(v)
    if t is float:
        return v
    if t is int:
        return float(v)
    if t is str:
        text = v
        if not _FLOAT_TEXT.match(text):
            raise Fail(f'strconv.ParseFloat: parsing "{v}": invalid syntax')
        return float(text)
    raise Fail(f"invalid operation: float({type_name(v)})")


def to_go_string(v: Any) -> str:
    """expr `string()`: Go `fmt.Sprint`, times in Go's default layout."""
    if isinstance(v, _dt.datetime):
        return rfc3339(v)
    return go_sprint(v)
