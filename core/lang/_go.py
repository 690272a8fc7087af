"""Go rendering rules the template language must reproduce byte for byte.

Argo is written in Go, so every value a user sees went through one of three Go printers:
`encoding/json` (JSON text: sorted map keys, HTML characters escaped, floats in 'f' form between
1e-6 and 1e21), `fmt`'s `%v` (floats in shortest 'g' form with exponent from 1e+06, lists as
`[a b]`, maps as `map[k:v]`, nil as `<nil>`) and `time.Format` layouts (`2006-01-02`, `Jan`,
`MST`…). This module is the single place those rules live; nothing here performs I/O.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
from decimal import Decimal
from typing import Any

_HTML = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                       "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of |f| and the decimal exponent of the first digit."""
    sign, digits, exp = Decimal(repr(abs(f))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exp)  # position of the decimal point after the first digit run
    return text, point - 1


def _exp_form(f: float, text: str, exp: int) -> str:
    mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return f"{'-' if f < 0 else ''}{mant}e{sign}{abs(exp):02d}"


def _fixed_form(f: float, text: str, exp: int) -> str:
    if exp < 0:
        body = "0." + "0" * (-exp - 1) + text
    elif len(text) <= exp + 1:
        body = text + "0" * (exp + 1 - len(text))
    else:
        body = text[:exp + 1] + "." + text[exp + 1:]
    return ("-" if f < 0 else "") + body


def format_float_g(f: float, /) -> str:
    """Go `strconv.FormatFloat(f, 'g', -1, 64)`, which is also what `%v` prints."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    text, exp = _digits(f)
    # strconv: with the shortest precision the %e switch happens at exponents < -4 or >= 6.
    if exp < -4 or exp >= 6:
        return _exp_form(f, text, exp)
    return _fixed_form(f, text, exp)


def format_float_json(f: float, /) -> str:
    """Go `encoding/json` float rendering; NaN and infinities are unsupported values."""
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"json: unsupported value: {format_float_g(f)}")
    if f == 0:
        return "0" if math.copysign(1, f) > 0 else "-0"
    text, exp = _digits(f)
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        out = _exp_form(f, text, exp)
        # Go trims a leading zero of a one-digit negative exponent: 1e-07 -> 1e-7
        head, _, tail = out.partition("e")
        return f"{head}e{tail[0]}{tail[1:].lstrip('0') or '0'}"
    return _fixed_form(f, text, exp)


class RawJSON(str):
    """JSON text kept verbatim (Go `json.RawMessage`): numbers as written, key order as written."""

    __slots__ = ()


def _json_parts(v: Any, out: list[str], html: bool) -> None:
    if isinstance(v, RawJSON):
        out.append(v.translate(_HTML) if html else str(v))
    elif v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(format_float_json(v))
    elif isinstance(v, str):
        s = json.dumps(v, ensure_ascii=False)
        out.append(s.translate(_HTML) if html else s)
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _json_parts(item, out, html)
        out.append("]")
    elif isinstance(v, RawObject):
        out.append("{")
        for i, (k, item) in enumerate(v.pairs):
            if i:
                out.append(",")
            key = json.dumps(k, ensure_ascii=False)
            out.append(key.translate(_HTML) if html else key)
            out.append(":")
            _json_parts(item, out, html)
        out.append("}")
    elif isinstance(v, dict):
        out.append("{")
        for i, k in enumerate(sorted(v, key=str)):
            if i:
                out.append(",")
            key = json.dumps(str(k), ensure_ascii=False)
            out.append(key.translate(_HTML) if html else key)
            out.append(":")
            _json_parts(v[k], out, html)
        out.append("}")
    elif isinstance(v, _dt.datetime):
        out.append(json.dumps(go_time_format(v, "2006-01-02T15:04:05.999999999Z07:00")))
    elif hasattr(v, "go_json"):
        _json_parts(v.go_json(), out, html)
    else:
        raise TypeError(f"json: unsupported type: {type(v).__name__}")


class RawObject:
    """A JSON object whose key order is kept (inside `json.RawMessage` values)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"RawObject({self.pairs!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawObject) and other.pairs == self.pairs

    __hash__ = None  # type: ignore[assignment]


def load_raw(text: str, /) -> Any:
    """Decode JSON keeping what Go's `json.RawMessage` keeps: number text and key order."""
    return json.loads(text, parse_int=RawJSON, parse_float=RawJSON,
                      object_pairs_hook=RawObject, parse_constant=_bad_constant)


def _bad_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def go_json(v: Any, /, *, html: bool = True) -> str:
    """Compact JSON exactly as Go's `json.Marshal` writes it (keys sorted, `<>&` escaped)."""
    out: list[str] = []
    _json_parts(v, out, html)
    return "".join(out)


def go_json_indent(v: Any, /, *, indent: str = "  ") -> str:
    """`json.MarshalIndent(v, "", indent)` (expr's `toJSON`)."""
    compact = go_json(v)
    if compact in ("[]", "{}"):
        return compact
    # Re-indent by re-parsing the compact text with an order-preserving loader.
    obj = json.loads(compact, object_pairs_hook=dict, parse_float=Decimal, parse_int=Decimal)
    return _indent(obj, indent, 0)


def _indent(v: Any, ind: str, level: int) -> str:
    pad, inner = ind * level, ind * (level + 1)
    if isinstance(v, dict):
        if not v:
            return "{}"
        body = ",\n".join(f"{inner}{go_json(k)}: {_indent(x, ind, level + 1)}" for k, x in v.items())
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(inner + _indent(x, ind, level + 1) for x in v) + "\n" + pad + "]"
    if isinstance(v, Decimal):
        return str(v)
    return go_json(v)


def go_sprint(v: Any, /) -> str:
    """`fmt.Sprintf("%v", v)` for the values the languages produce."""
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float_g(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v[k])}" for k in sorted(v, key=str)) + "]"
    if hasattr(v, "go_string"):
        return v.go_string()
    return str(v)


# --- time layouts -------------------------------------------------------------------------
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Longest tokens first: the layout is scanned left to right for the first token that matches.
_LAYOUT_TOKENS = (
    "January", "Monday", "Z07:00:00", "-07:00:00", "Z07:00", "-07:00", "Z0700", "-0700",
    "2006", "Jan", "Mon", "MST", "002", "__2", "_2", "01", "02", "03", "04", "05", "06",
    "15", "-07", "Z07", "PM", "pm", "1", "2", "3", "4", "5",
)


def _zone(t: _dt.datetime, tok: str) -> str:
    off = t.utcoffset() or _dt.timedelta(0)
    if tok.startswith("Z") and off == _dt.timedelta(0):
        return "Z"
    secs = int(off.total_seconds())
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
    core = tok.lstrip("Z-")
    if core == "07":
        return f"{sign}{hh:02d}"
    if core == "0700":
        return f"{sign}{hh:02d}{mm:02d}"
    if core == "07:00":
        return f"{sign}{hh:02d}:{mm:02d}"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"


def _frac(t: _dt.datetime, layout: str, i: int) -> tuple[str, int] | None:
    """`.000`/`,000` (fixed) and `.999` (trimmed) fractional seconds at layout[i]."""
    if layout[i] not in ".," or i + 1 >= len(layout) or layout[i + 1] not in "09":
        return None
    digit = layout[i + 1]
    j = i + 1
    while j < len(layout) and layout[j] == digit:
        j += 1
    if j < len(layout) and layout[j].isdigit():
        return None
    n = j - i - 1
    frac = f"{t.microsecond:06d}000"[:n]
    if digit == "9":
        frac = frac.rstrip("0")
        return (layout[i] + frac if frac else ""), j
    return layout[i] + frac, j


def go_time_format(t: _dt.datetime, layout: str, /) -> str:
    """Go `time.Time.Format(layout)` for an aware datetime."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        fr = _frac(t, layout, i)
        if fr is not None:
            out.append(fr[0])
            i = fr[1]
            continue
        for tok in _LAYOUT_TOKENS:
            if layout.startswith(tok, i):
                out.append(_render(t, tok))
                i += len(tok)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _render(t: _dt.datetime, tok: str) -> str:
    hour12 = t.hour % 12 or 12
    table = {
        "January": _MONTHS[t.month - 1], "Jan": _MONTHS[t.month - 1][:3],
        "Monday": _DAYS[t.weekday()], "Mon": _DAYS[t.weekday()][:3],
        "2006": f"{t.year:04d}", "06": f"{t.year % 100:02d}",
        "01": f"{t.month:02d}", "1": str(t.month),
        "02": f"{t.day:02d}", "2": str(t.day), "_2": f"{t.day:2d}",
        "002": f"{t.timetuple().tm_yday:03d}", "__2": f"{t.timetuple().tm_yday:3d}",
        "15": f"{t.hour:02d}", "03": f"{hour12:02d}", "3": str(hour12),
        "04": f"{t.minute:02d}", "4": str(t.minute), "05": f"{t.second:02d}", "5": str(t.second),
        "PM": "PM" if t.hour >= 12 else "AM", "pm": "pm" if t.hour >= 12 else "am",
    }
    if tok in table:
        return table[tok]
    if tok == "MST":
        # Go prints the zone's abbreviation, or the numeric offset for an unnamed fixed zone
        name = t.tzname() or ""
        return name if name.isalpha() else _zone(t, "-0700")
    return _zone(t, tok)


def rfc3339(t: _dt.datetime, /) -> str:
    """`time.RFC3339` (second precision, `Z` for UTC)."""
    return go_time_format(t, "2006-01-02T15:04:05Z07:00")


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf_int(fmt: str, n: int, /) -> str:
    """`fmt.Sprintf(fmt, n)` for one int argument (withSequence's `format`).

    Handles the int verbs `d v x X o O b c q U`, flags `-+# 0`, width and precision, `%%`, and
    Go's error renderings: a second verb prints `%!d(MISSING)`, an unused argument appends
    `%!(EXTRA int=n)`, a non-int verb prints `%!s(int=n)`.
    """
    out: list[str] = []
    used = False
    pos = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if used:
            out.append(f"%!{verb}(MISSING)")
            continue
        used = True
        out.append(_fmt_int(n, flags, int(width) if width else 0, prec, verb))
    out.append(fmt[pos:])
    if not used:
        out.append(f"%!(EXTRA int={n})")
    return "".join(out)


def _fmt_int(n: int, flags: str, width: int, prec: str | None, verb: str) -> str:
    if verb in "dv":
        body = str(abs(n))
    elif verb == "x":
        body = format(abs(n), "x")
    elif verb == "X":
        body = format(abs(n), "X")
    elif verb in "oO":
        body = format(abs(n), "o")
    elif verb == "b":
        body = format(abs(n), "b")
    elif verb == "c":
        return _pad(chr(n) if 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else "\ufffd",
                    flags, width)
    elif verb == "q":
        return _pad(_quote_rune(n), flags, width)
    elif verb == "U":
        return _pad(f"U+{n % 2 ** 64:04X}", flags, width)
    else:
        return f"%!{verb}(int={n})"
    if prec is not None:
        body = body.zfill(int(prec)) if int(prec) else ("" if n == 0 else body)
    prefix = ""
    if "#" in flags:
        prefix = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}.get(verb, "")
        if verb == "o" and body.startswith("0"):
            prefix = ""
    if verb == "O":
        prefix = "0o"
    sign = "-" if n < 0 else "+" if "+" in flags else " " if " " in flags else ""
    if "0" in flags and "-" not in flags and prec is None:
        body = body.zfill(max(width - len(sign) - len(prefix), 0))
    return _pad(sign + prefix + body, flags, width)


_RUNE_ESC = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v",
             92: "\\\\", 39: "\\'"}


def _quote_rune(n: int) -> str:
    """strconv.QuoteRune."""
    if not 0 <= n <= 0x10FFFF or 0xD800 <= n <= 0xDFFF:
        n = 0xFFFD
    if n in _RUNE_ESC:
        body = _RUNE_ESC[n]
    elif n < 0x20 or n == 0x7F:
        body = f"\\x{n:02x}"
    elif not chr(n).isprintable():
        body = f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"
    else:
        body = chr(n)
    return f"'{body}'"


def _pad(s: str, flags: str, width: int) -> str:
    return s.ljust(width) if "-" in flags else s.rjust(width)


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str, /) -> float:
    """Seconds in a Go `time.ParseDuration` string (`1h30m`, `500ms`, `-2m`, `0`); ValueError with
    Go's message otherwise. Go refuses a bare number other than 0 (callers that take plain seconds
    too check for a number first). Surrounding blanks are forgiven."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    body = s[1:] if s[:1] in ("+", "-") else s
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    pos, total = 0, 0.0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total
