"""Member and index access on runtime values, the `sprig` namespace, and Go time methods.

`fetch(obj, key)` is expr's `obj[key]` / `obj.key`: a missing map key reads as nil, negative
indices count from the end, strings index by byte (as Go does), nil and scalars refuse access.
Go `time.Time` / `time.Duration` values expose the methods expressions call
(`(now() - t).Seconds()`, `t.Unix()`, `t.Format(layout)` …).
"""
from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable
from typing import Any

from .._go import go_time_format
from .values import Duration, Fail, arith, type_name

__all__ = ["fetch", "Namespace"]


def fetch(obj: Any, key: Any) -> Any:
    """`obj[key]` / `obj.key` with expr's rules (missing map key → nil, negative index from end)."""
    t = type(obj)
    if t is dict:
        try:
            return obj.get(key)
        except TypeError:
            raise Fail(f"cannot use {type_name(key)} as map key") from None
    if t is list or t is str:
        if type(key) is not int:
            raise Fail(f"invalid index type {type_name(key)} for {type_name(obj)}")
        seq: Any = obj if t is list else obj.encode()
        i = key + len(seq) if key < 0 else key
        if not 0 <= i < len(seq):
            raise Fail(f"index out of range: {key} (array length is {len(seq)})")
        return seq[i]  # a string indexes to its byte (Go uint8), as expr does at run time
    if obj is None:
        raise Fail(f"cannot fetch {key} from <nil>")
    if t is Namespace:
        return obj.get(key)  # Argo's sprig is a Go map: a missing name reads as nil
    if type(key) is str and not key.startswith("_"):
        attr = getattr(obj, key, None)
        if attr is not None and (isinstance(obj, (_dt.datetime, Duration, Namespace))):
            return attr
        if isinstance(obj, _dt.datetime) and key in _TIME_METHODS:
            return functools.partial(_TIME_METHODS[key], obj)
    raise Fail(f"cannot fetch {key} from {type_name(obj)}")


class Namespace:
    """A read-only bag of functions reachable as `ns.fn(...)` (Argo's `sprig`)."""

    __slots__ = ("_name", "_fns")

    def __init__(self, name: str, fns: dict[str, Callable[..., Any]]) -> None:
        self._name = name
        self._fns = fns

    def __getattr__(self, key: str) -> Any:
        try:
            return self._fns[key]
        except KeyError:
            raise AttributeError(key) from None

    def get(self, key: Any) -> Any:
        return self._fns.get(key) if type(key) is str else None

    def go_string(self) -> str:
        return f"<{self._name}>"


def _time_sub(t: _dt.datetime, other: _dt.datetime) -> Duration:
    return arith("-", t, other)


_TIME_METHODS: dict[str, Callable[..., Any]] = {
    "Unix": lambda t: int(t.timestamp() // 1),
    "UnixMilli": lambda t: int(t.timestamp() * 1000 // 1),
    "Year": lambda t: t.year, "Month": lambda t: t.month, "Day": lambda t: t.day,
    "Hour": lambda t: t.hour, "Minute": lambda t: t.minute, "Second": lambda t: t.second,
    "YearDay": lambda t: t.timetuple().tm_yday,
    "Weekday": lambda t: (t.weekday() + 1) % 7,
    "UTC": lambda t: t.astimezone(_dt.timezone.utc),
    "Sub": _time_sub,
    "Add": lambda t, d: arith("+", t, d),
    "Before": lambda t, o: t < o, "After": lambda t, o: t > o, "Equal": lambda t, o: t == o,
    "IsZero": lambda t: t == _dt.datetime(1, 1, 1, tzinfo=_dt.timezone.utc),
    "Format": lambda t, layout: go_time_format(t, layout),
}
