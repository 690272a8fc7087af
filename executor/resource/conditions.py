"""`successCondition` / `failureCondition` of a resource template: label selectors over the object.

Argo parses each condition with Kubernetes' `labels.Parse` and evaluates every requirement against
the live object through gjson (`gjsonLabels`: `Has(key)` = the path exists, `Get(key)` = its value
as gjson's `String()`). So the syntax is exactly the label-selector one, keys being dotted paths:

    status.succeeded > 2            status.phase in (Failed, Error)
    metadata.name == x,status.ok    !status.failed      status.phase != Running

Requirements come sorted by key, as `labels.Parse` returns them. Argo then decides (executor
`matchConditions`): if *any* failure requirement matches, the resource failed (so a comma in a
failureCondition reads as OR); otherwise success needs *every* success requirement to match
(comma = AND), which an empty success condition trivially does. Values are compared as strings,
`>`/`<` as 64-bit integers (a value that is not an integer never matches). Keys must be valid
label keys and values valid label values, else the condition does not parse; the messages name
the condition and what is wrong with it.

gjson paths here are what label keys allow: `.`-separated names, a number indexes an array.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from .errors import ResourceError

__all__ = ["Requirement", "Verdict", "evaluate", "gjson_get", "parse_condition"]

_OPS = ("==", "!=", "=", "notin", "in", ">", "<", "exists", "!")
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_INT = re.compile(r"^[+-]?[0-9]+$")


class Requirement(msgspec.Struct, frozen=True):
    """One `key op values` of a selector; `operator` is one of `_OPS` (`!` = does not exist)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        # `labels.Requirement.String()`: no spaces around = == != > <, set values sorted
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator == "exists":
            return self.key
        op = {"in": " in ", "notin": " notin "}.get(self.operator, self.operator)
        vals = ",".join(sorted(self.values)) if len(self.values) > 1 else "".join(self.values)
        return f"{self.key}{op}({vals})" if self.operator in ("in", "notin") else f"{self.key}{op}{vals}"

    def matches(self, obj: Any, /) -> bool:
        found, value = gjson_get(obj, self.key)
        if self.operator == "exists":
            return found
        if self.operator == "!":
            return not found
        if self.operator in ("=", "==", "in"):
            return found and value in self.values
        if self.operator in ("!=", "notin"):
            return not found or value not in self.values
        # > and <: Kubernetes parses both sides with strconv.ParseInt(s, 10, 64)
        if not found or not _INT.match(value):
            return False
        left, right = int(value), int(self.values[0])
        if not -2**63 <= left < 2**63:
            return False
        return left > right if self.operator == ">" else left < right


class Verdict(msgspec.Struct, frozen=True):
    """`failed` (with the requirement that matched) or `succeeded`; neither means keep waiting."""

    failed: bool = False
    succeeded: bool = False
    message: str = ""


def _check_key(key: str, text: str) -> None:
    prefix, _, name = key.rpartition("/")
    bad = []
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS1123.match(prefix)):
        bad.append("prefix part must be a lowercase DNS subdomain")
    if not name or len(name) > 63 or not _NAME.match(name):
        bad.append("name part must be at most 63 characters of alphanumerics, '-', '_' or '.', "
                   "starting and ending with an alphanumeric")
    if bad:
        raise ResourceError(text, f"invalid key {key!r}: {'; '.join(bad)}")


def _check_value(value: str, text: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise ResourceError(text, f"invalid value {value!r}: must be at most 63 characters of alphanumerics, "
                                  "'-', '_' or '.', starting and ending with an alphanumeric")


_TOKEN = re.compile(r"\s*(==|!=|=|>|<|!|\(|\)|,|[^\s=!<>(),]+)")


def parse_condition(text: str, /, *, where: str = "condition") -> tuple[Requirement, ...]:
    """`labels.Parse`: the requirements of `text`, sorted by key. ResourceError names `where`."""
    if not isinstance(text, str):
        raise ResourceError(where, f"expected a string, got {type(text).__name__}")
    tokens: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space character
            raise ResourceError(where, f"cannot read {stripped[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
    reqs: list[Requirement] = []
    i = 0

    def fail(message: str) -> ResourceError:
        return ResourceError(where, f"{text!r} does not parse: {message}")

    def take() -> str | None:
        nonlocal i
        tok = tokens[i] if i < len(tokens) else None
        i += 1
        return tok

    while i < len(tokens):
        tok = take()
        if tok == "!":
            key = take()
            if key is None or key in _OPS or key in "(),":
                raise fail("'!' must be followed by a key")
            _check_key(key, where)
            reqs.append(Requirement(key, "!"))
        elif tok is None or tok in ("==", "!=", "=", ">", "<", "(", ")", ","):
            raise fail(f"found {tok!r}, expected a key")
        else:
            key = tok
            _check_key(key, where)
            op = tokens[i] if i < len(tokens) else None
            if op is None or op == ",":
                reqs.append(Requirement(key, "exists"))
            elif op in ("==", "!=", "=", ">", "<"):
                i += 1
                value = tokens[i] if i < len(tokens) and tokens[i] not in (",", "(", ")", "==", "!=", "=", ">", "<", "!") else ""
                if value:
                    i += 1
                if op in (">", "<"):
                    if not _INT.match(value):
                        raise fail(f"for '{op}' the value must be an integer, got {value!r}")
                else:
                    _check_value(value, where)
                reqs.append(Requirement(key, op, (value,)))
            elif op in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise fail(f"'{op}' must be followed by a parenthesised list of values")
                values: list[str] = []
                while True:
                    tok2 = take()
                    if tok2 == ")":
                        if not values:
                            values.append("")  # `x in ()`: one empty value, as Kubernetes reads it
                        break
                    if tok2 == ",":
                        values.append("")
                        continue
                    if tok2 is None or tok2 in ("(", "==", "!=", "=", ">", "<", "!"):
                        raise fail(f"unterminated value list after '{op}'")
                    _check_value(tok2, where)
                    values.append(tok2)
                    nxt = take()
                    if nxt == ")":
                        break
                    if nxt != ",":
                        raise fail(f"expected ',' or ')' in the value list, found {nxt!r}")
                reqs.append(Requirement(key, op, tuple(dict.fromkeys(values))))
            else:
                raise fail(f"found {op!r}, expected an operator (=, ==, !=, in, notin, >, <) or ','")
        if i < len(tokens):
            if tokens[i] != ",":
                raise fail(f"found {tokens[i]!r}, expected ','")
            i += 1
            if i >= len(tokens):
                raise fail("a ',' must be followed by a requirement")
    return tuple(sorted(reqs, key=lambda r: r.key))


def _gjson_string(value: Any) -> str:
    """gjson `Result.String()`: strings raw, numbers as written, objects/arrays as JSON, null ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def gjson_get(obj: Any, path: str, /) -> tuple[bool, str]:
    """(exists, value as a string) of the dotted `path` in `obj` (gjson's `a.b.0.c`)."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                return False, ""
            cur = cur[part]
        elif isinstance(cur, Sequence) and not isinstance(cur, str) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return False, ""
            cur = cur[idx]
        else:
            return False, ""
    return True, _gjson_string(cur)


def evaluate(obj: Any, /, *, success: Sequence[Requirement], failure: Sequence[Requirement]) -> Verdict:
    """Argo `matchConditions`: any failure requirement fails; all success requirements succeed."""
    for req in failure:
        if req.matches(obj):
            return Verdict(failed=True, message=f"failure condition '{req}' evaluated true")
    if all(req.matches(obj) for req in success):
        return Verdict(succeeded=True)
    return Verdict()
