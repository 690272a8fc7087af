"""Label and field selectors: the apiserver's string syntax, parsed once, matched many times.

Label selectors follow `k8s.io/apimachinery/pkg/labels.Parse`: comma-separated requirements
`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist),
`k>n`, `k<n` (integers). `k!=v` and `notin` also match objects without the label, as in
Kubernetes. Field selectors follow `fields.ParseSelector`: `path=v`, `path==v`, `path!=v`; a
missing field compares as the empty string, booleans as `true`/`false`.

Parse errors raise `BadRequest` naming the selector and the offending position, as the apiserver
does. Which field paths a resource supports is the caller's business (`Resource.supports_field`).
`label_selector_string` turns a `metav1.LabelSelector` dict (matchLabels/matchExpressions) into
the string form so both spellings reach the same parser.
"""
from __future__ import annotations

import re
from typing import Any

import msgspec

from .errors import BadRequest

__all__ = ["LabelRequirement", "LabelSelector", "FieldRequirement", "FieldSelector",
           "parse_label_selector", "parse_field_selector", "label_selector_string"]

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# One requirement: optional `!`, a key, then an operator and its operand (or nothing).
_REQ = re.compile(r"\s*(?P<neg>!)?\s*(?P<key>[^\s=!<>(),]+)\s*"
                  r"(?:(?P<op>==|=|!=|>|<|(?<=\s)in\b|(?<=\s)notin\b)\s*(?P<rest>\([^)]*\)|[^,]*))?\s*")


class LabelRequirement(msgspec.Struct, frozen=True):
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str], /) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        try:  # ">" / "<": a non-integer label value simply does not match
            number = int(value) if present else None
        except ValueError:
            return False
        if number is None:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == ">" else number < bound


class LabelSelector(msgspec.Struct, frozen=True):
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: dict[str, str] | None, /) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


class FieldRequirement(msgspec.Struct, frozen=True):
    path: str
    negate: bool
    value: str

    def matches(self, obj: dict[str, Any], /) -> bool:
        return (_field_value(obj, self.path) == self.value) != self.negate


class FieldSelector(msgspec.Struct, frozen=True):
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any], /) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(r.path for r in self.requirements)


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _bad(selector: str, part: str, why: str) -> BadRequest:
    return BadRequest(f"unable to parse requirement {part.strip()!r} in selector {selector!r}: {why}")


def _check_value(selector: str, part: str, value: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise _bad(selector, part, f"invalid label value {value!r}")
    return value


def parse_label_selector(selector: str | None, /) -> LabelSelector:
    """Parse a label selector string (None or blank: match everything)."""
    if selector is None or not selector.strip():
        return LabelSelector()
    requirements: list[LabelRequirement] = []
    for part in _split_top(selector):
        m = _REQ.fullmatch(part)
        if not part.strip() or m is None:
            raise _bad(selector, part, "expected `key`, `!key`, `key<op>value` or `key in (...)`")
        key, op, rest = m["key"], (m["op"] or "").strip(), (m["rest"] or "").strip()
        if len(key) > 316 or not _KEY.match(key):
            raise _bad(selector, part, f"invalid label key {key!r}")
        if m["neg"]:
            if op:
                raise _bad(selector, part, "`!` takes a bare key")
            requirements.append(LabelRequirement(key, "!"))
            continue
        if not op:
            requirements.append(LabelRequirement(key, "exists"))
        elif op in ("in", "notin"):
            if not (rest.startswith("(") and rest.endswith(")")):
                raise _bad(selector, part, f"`{op}` needs a parenthesised value list")
            values = tuple(_check_value(selector, part, v.strip()) for v in rest[1:-1].split(","))
            requirements.append(LabelRequirement(key, op, values))
        elif op in (">", "<"):
            if not re.fullmatch(r"-?\d+", rest):
                raise _bad(selector, part, f"`{op}` needs an integer, got {rest!r}")
            requirements.append(LabelRequirement(key, op, (rest,)))
        else:
            requirements.append(LabelRequirement(key, "!=" if op == "!=" else "=",
                                                 (_check_value(selector, part, rest),)))
    return LabelSelector(tuple(requirements))


def parse_field_selector(selector: str | None, /) -> FieldSelector:
    """Parse a field selector string (None or blank: match everything)."""
    if selector is None or not selector.strip():
        return FieldSelector()
    requirements: list[FieldRequirement] = []
    for part in selector.split(","):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(==|!=|=)\s*(.*?)\s*", part)
        if m is None:
            raise BadRequest(f"invalid field selector {selector!r}: cannot parse {part.strip()!r}"
                             " (expected `path=value`, `path==value` or `path!=value`)")
        requirements.append(FieldRequirement(m[1], m[2] == "!=", m[3]))
    return FieldSelector(tuple(requirements))


def label_selector_string(selector: dict[str, Any], /) -> str:
    """`metav1.LabelSelector` (matchLabels + matchExpressions) → selector string."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for i, expr in enumerate(selector.get("matchExpressions") or ()):
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise BadRequest(f"labelSelector.matchExpressions[{i}].operator: unsupported {op!r}")
    return ",".join(parts)
