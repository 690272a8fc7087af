"""govaluate's lexer (Knetic/govaluate `lexerState`/`parsing.go`) for `when:` conditions.

Quirks reproduced on purpose: a string ends at *either* quote character; `\\` escapes the next
character in strings, brackets, words and operators; quoted text that parses as one of
govaluate's date layouts becomes a TIME token (float Unix seconds, zoneless → UTC); words with a
dot are accessors; `in`/`IN` is a comparator; operators are maximal runs of symbol characters.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

import msgspec

from .errors import WhenSyntaxError

__all__ = ["WhenToken", "tokenize", "parse_time", "OPS", "PREFIX_OPS"]

OPS = frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "&&", "||", "+", "-", "*", "/",
                 "%", "**", "&", "|", "^", ">>", "<<", "!", "~", "?", ":", "??"})
PREFIX_OPS = frozenset({"-", "!", "~"})


class WhenToken(msgspec.Struct, frozen=True):
    """kind ∈ num, bool, str, time, var, accessor, op, open, close, sep; 1-based column."""

    kind: str
    value: Any
    column: int


def _is_letter(c: str) -> bool:
    return c.isalpha()


def _read_until(src: str, i: int, cond: Any, *, include_ws: bool, break_ws: bool) -> tuple[str, int, bool]:
    """govaluate's readUntilFalse with escaping: returns (text, next index, stopped-by-condition)."""
    buf: list[str] = []
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            if i + 1 < n:
                buf.append(src[i + 1])
            i += 2
            continue
        if c.isspace():
            if break_ws and buf:
                return "".join(buf), i, True
            if not include_ws:
                i += 1
                continue
        if cond(c):
            buf.append(c)
            i += 1
        else:
            return "".join(buf), i, True
    return "".join(buf), i, False


def _not_quote(c: str) -> bool:
    return c not in "'\""


def _is_numeric(c: str) -> bool:
    return c.isdigit() or c == "."


def _is_var_char(c: str) -> bool:
    return c.isalpha() or c.isdigit() or c in "_."


def _is_symbol(c: str) -> bool:
    return not (c.isdigit() or c.isalpha() or c in "()[]" or not _not_quote(c))


def tokenize(src: str, /) -> list[WhenToken]:
    """govaluate's lexer; VARIABLE tokens come out as kind `var` (Argo then treats them as strings)."""
    toks: list[WhenToken] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        col = i + 1
        if c.isspace():
            i += 1
            continue
        if _is_numeric(c):
            if c == "0" and i + 1 < n and src[i + 1] == "x":
                text, i, _ = _read_until(src, i + 2, lambda ch: ch in "0123456789abcdefABCDEF",
                                         include_ws=False, break_ws=True)
                try:
                    toks.append(WhenToken("num", float(int(text, 16)), col))
                except ValueError:
                    raise WhenSyntaxError(f"Unable to parse hex value '{text}' to uint64",
                                          source=src, column=col) from None
                continue
            text, i, _ = _read_until(src, i, _is_numeric, include_ws=False, break_ws=True)
            if not re.fullmatch(r"[0-9]+\.?[0-9]*|\.[0-9]+", text):
                raise WhenSyntaxError(f"Unable to parse numeric value '{text}' to float64",
                                      source=src, column=col)
            toks.append(WhenToken("num", float(text), col))
            continue
        if c == ",":
            toks.append(WhenToken("sep", ",", col))
            i += 1
            continue
        if c == "[":
            text, j, done = _read_until(src, i + 1, lambda ch: ch != "]", include_ws=True,
                                        break_ws=False)
            if not done:
                raise WhenSyntaxError("Unclosed parameter bracket", source=src, column=col)
            toks.append(WhenToken("var", text, col))
            i = j + 1
            continue
        if _is_letter(c):
            text, i, _ = _read_until(src, i, _is_var_char, include_ws=False, break_ws=True)
            if text in ("true", "false"):
                toks.append(WhenToken("bool", text == "true", col))
            elif text in ("in", "IN"):
                toks.append(WhenToken("op", "in", col))
            elif "." in text:
                if text.endswith("."):
                    raise WhenSyntaxError(f"Hanging accessor on token '{text}'", source=src,
                                          column=col)
                toks.append(WhenToken("accessor", text, col))
            else:
                toks.append(WhenToken("var", text, col))
            continue
        if not _not_quote(c):
            text, j, done = _read_until(src, i + 1, _not_quote, include_ws=True, break_ws=False)
            if not done:
                raise WhenSyntaxError("Unclosed string literal", source=src, column=col)
            i = j + 1
            stamp = parse_time(text)
            toks.append(WhenToken("time", stamp, col) if stamp is not None
                        else WhenToken("str", text, col))
            continue
        if c == "(":
            toks.append(WhenToken("open", "(", col))
            i += 1
            continue
        if c == ")":
            toks.append(WhenToken("close", ")", col))
            i += 1
            continue
        text, i, _ = _read_until(src, i, _is_symbol, include_ws=False, break_ws=True)
        if text not in OPS:
            raise WhenSyntaxError(f"Invalid token: '{text}'", source=src, column=col)
        toks.append(WhenToken("op", text, col))
    return toks


# --- dates: govaluate turns quoted dates into float Unix seconds ---------------------------
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])}
_DAYS = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_TZ = r"(Z|[+-]\d\d:\d\d)"
_TIME_RES = (
    ("ansic", re.compile(rf"^{_DAYS} (\w\w\w) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{{4}})$")),
    ("unix", re.compile(rf"^{_DAYS} (\w\w\w) ([ \d]\d) (\d\d):(\d\d):(\d\d) [A-Z]{{3,4}} (\d{{4}})$")),
    ("ruby", re.compile(rf"^{_DAYS} (\w\w\w) (\d\d) (\d\d):(\d\d):(\d\d) ([+-]\d{{4}}) (\d{{4}})$")),
    ("kitchen", re.compile(r"^(\d{1,2}):(\d\d)(AM|PM)$")),
    ("rfc3339", re.compile(rf"^(\d{{4}})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?{_TZ}$")),
    ("date", re.compile(r"^(\d{4})-(\d\d)-(\d\d)$")),
    ("datemin", re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d)$")),
    ("datesec", re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$")),
    ("datesectz", re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)([+-]\d\d:\d\d)$")),
    ("iso", re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d)(?::(\d\d))?(?::(\d\d))?(\.\d+)?(Z|[+-]\d{4})$")),
)


def _off(text: str | None) -> _dt.timezone:
    if not text or text == "Z":
        return _dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def parse_time(text: str) -> float | None:
    """Unix seconds when `text` matches one of govaluate's date layouts (zoneless → UTC)."""
    if not text or not text[0].isalnum():
        return None
    for kind, rx in _TIME_RES:
        m = rx.match(text)
        if not m:
            continue
        g = m.groups()
        try:
            if kind in ("ansic", "unix"):
                t = _dt.datetime(int(g[5]), _MONTHS[g[0]], int(g[1]), int(g[2]), int(g[3]),
                                 int(g[4]), tzinfo=_dt.timezone.utc)
            elif kind == "ruby":
                t = _dt.datetime(int(g[6]), _MONTHS[g[0]], int(g[1]), int(g[2]), int(g[3]),
                                 int(g[4]), tzinfo=_off(g[5]))
            elif kind == "kitchen":
                hour = int(g[0])
                if not 1 <= hour <= 12 or int(g[1]) > 59:
                    return None
                hour = hour % 12 + (12 if g[2] == "PM" else 0)
                # Go parses Kitchen into year 0, which Python's datetime cannot hold.
                return -62167219200.0 + hour * 3600 + int(g[1]) * 60
            else:
                nums = [int(x) if x and x[0].isdigit() else 0 for x in g[:6]]
                nums += [0] * (6 - len(nums))
                tz = _off(g[-1]) if kind in ("rfc3339", "datesectz", "iso") else _dt.timezone.utc
                t = _dt.datetime(*nums[:6], tzinfo=tz)  # type: ignore[misc]
        except (KeyError, ValueError):
            return None
        return float(math.floor(t.timestamp()))
    return None
