"""Helpers behind `sprig`: the functions whose Go behaviour takes more than a line.

Kept apart from the function table in `sprig` so both stay readable.
"""
from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

from .._go import go_sprint
from .goregex import compile_go
from .values import Fail, equal

__all__ = ["unsupported", "substr", "trunc", "abbrev", "indent", "divf", "round_half",
           "from_json", "b64dec", "b32dec", "uniq", "chunk", "go_repl", "regex_split",
           "MAX_TEXT"]

MAX_TEXT = 1 << 20


def unsupported(name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        raise Fail(f"sprig.{name} is not supported by tiphys (non-deterministic or unsafe)")
    return call


def substr(a: int, b: int, s: str) -> str:
    if a < 0:
        return s[:b] if 0 <= b <= len(s) else s
    if b < 0 or b > len(s):
        return s[a:] if a <= len(s) else ""
    return s[a:b] if a <= b else ""


def trunc(n: int, s: str) -> str:
    if n < 0:
        return s[len(s) + n:] if -n < len(s) else s
    return s[:n]


def abbrev(n: int, s: str) -> str:
    if n < 4 or len(s) <= n:
        return s
    return s[:n - 3] + "..."


def indent(n: int, s: str) -> str:
    if n < 0 or n * (s.count("\n") + 1) + len(s) > MAX_TEXT:
        raise Fail("sprig.indent: bad width")
    pad = " " * n
    return pad + s.replace("\n", "\n" + pad)


def divf(a: float, rest: list[float]) -> float:
    for b in rest:
        a = a / b if b else math.copysign(math.inf, a) if a else math.nan
    return a


def round_half(a: float, places: int, half: float) -> float:
    if math.isnan(a) or math.isinf(a) or abs(places) > 300:
        return a
    pow10 = 10.0 ** places
    digit = pow10 * a
    _, frac = math.modf(digit)
    r = math.ceil(digit) if frac >= half else math.floor(digit)
    return r / pow10


def from_json(s: Any, *, strict: bool) -> Any:
    try:
        return json.loads(s if isinstance(s, str) else go_sprint(s), parse_int=float)
    except (json.JSONDecodeError, RecursionError) as exc:
        if strict:
            raise Fail(f"sprig.mustFromJson: {exc}") from None
        return {}


def b64dec(s: str, dec: Callable[[str], bytes]) -> str:
    try:
        return dec(s).decode("utf-8", "replace")
    except ValueError as exc:
        return str(exc)  # sprig returns the error text instead of failing


def b32dec(s: str) -> str:
    try:
        return base64.b32decode(s).decode("utf-8", "replace")
    except ValueError as exc:
        return str(exc)


def uniq(v: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in v:
        if not any(equal(x, y) for y in out):
            out.append(x)
    return out


def chunk(n: int, v: list[Any]) -> list[list[Any]]:
    if n <= 0:
        raise Fail("sprig.chunk: size must be positive")
    return [v[i:i + n] for i in range(0, len(v), n)]


def go_repl(r: str) -> Callable[[re.Match[str]], str]:
    def expand(m: re.Match[str]) -> str:
        def one(g: re.Match[str]) -> str:
            name = g.group(1) or g.group(2)
            if name.isdigit():
                idx = int(name)
                return (m.group(idx) or "") if idx <= (m.re.groups or 0) else ""
            return (m.groupdict().get(name) or "")
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, r.replace("$$", "\0")).replace("\0", "$")
    return expand


def regex_split(p: str, s: str, n: int) -> list[str]:
    if n == 0:
        return []
    parts = compile_go(p).python().split(s, maxsplit=0 if n < 0 else n - 1)
    return parts
