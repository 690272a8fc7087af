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
           "from_json", "b64dec", "b32dec", "uniq", "chunk", "go_repl", "regex_split", "abbrev_full",
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
    frac, _ = math.modf(digit)  # Python returns (fraction, integer), Go (integer, fraction)
    r = math.ceil(digit) if frac >= half else math.floor(digit)
    return r / pow10


def from_json(s: Any, *, strict: bool) -> Any:
    try:
        return json.loads(s if isinstance(s, str) else go_sprint(s), parse_int=float)
    except (json.JSONDecodeError, RecursionError) as exc:
        if strict:
            raise Fail(f"sprig.mustFromJson: {exc}") from None
        return None


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def b64dec(s: str, dec: Callable[[str], bytes]) -> str:
    """Decode, or return Go's error text as sprig does (`illegal base64 data at input byte N`)."""
    for i, ch in enumerate(s):
        if ch not in _B64 and ch not in "=\r\n":
            return f"illegal base64 data at input byte {i}"
    try:
        return dec(s).decode("utf-8", "replace")
    except ValueError:
        return f"illegal base64 data at input byte {len(s.rstrip('='))}"


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
    """Go `Regexp.Split`: capture groups are not included (unlike Python's `re.split`)."""
    if n == 0:
        return []
    parts, pos = [], 0
    for m in compile_go(p).python().finditer(s):
        if 0 < n <= len(parts) + 1:
            break
        if m.end() == 0 and m.start() == 0:
            continue  # Go skips an empty match at the start
        parts.append(s[pos:m.start()])
        pos = m.end()
    parts.append(s[pos:])
    return parts


def abbrev_full(s: str, offset: int, width: int) -> str:
    """goutils.AbbreviateFull (sprig `abbrevboth`)."""
    if width < 4:
        raise Fail("minimum abbreviation width is 4")
    if len(s) <= width:
        return s
    offset = min(offset, len(s))
    if len(s) - offset < width - 3:
        offset = len(s) - (width - 3)
    if offset <= 4:
        return s[:width - 3] + "..."
    if width < 7:
        raise Fail("minimum abbreviation width with offset is 7")
    if offset + width - 3 < len(s):
        return "..." + abbrev_full(s[offset:], 0, width - 3)
    return "..." + s[len(s) - (width - 3):]
