"""kubectl's JSONPath templates (`kubectl get -o jsonpath=...`), for `valueFrom.jsonPath`.

Argo runs `kubectl get <kind>/<name> -o jsonpath=<template>`; this is client-go's
`util/jsonpath` with kubectl's default `--allow-missing-template-keys=true`, for the subset that
matters on one object:

* text outside `{...}` is printed as is (a template without braces prints itself);
* `{.a.b}`, `{$.a}`, `{.a['b.c']}`, `{.a["b"]}`, `{.a\\.b}` (escaped dot), `{.a[0]}`, `{.a[-1]}`,
  `{.a[1:3]}`, `{.a[*]}`, `{.a.*}`, `{..name}` (recursive descent), unions `{.a['x','y']}`,
  filters `{.a[?(@.type=="Ready")].status}` with `== != < > <= >=` against a quoted string, a
  number or another `@` path, and `[?(@.x)]` (exists);
* `{range .items[*]}...{end}` repeats its body per result, `@`/`.x` being that element;
* `{"\\n"}` / `{'x'}` print a literal.

Several results of one action are separated by a space. Strings print raw, numbers and booleans
as Go prints them, maps and lists as compact JSON. A missing key prints nothing (no error).
Malformed templates raise `JsonPathError` with the position.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ExecutorError

__all__ = ["JsonPathError", "compile_template", "render"]


class JsonPathError(ExecutorError):
    """The template does not parse."""


_Node = tuple  # ("text", str) | ("expr", steps) | ("range", steps, body)


def _split_actions(template: str) -> list[tuple[str, str]]:
    """[("text"|"action", content)]; braces inside quoted strings do not end an action."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(template)
    text_start = 0
    while i < n:
        if template[i] != "{":
            i += 1
            continue
        if i > text_start:
            out.append(("text", template[text_start:i]))
        j, quote = i + 1, ""
        while j < n:
            ch = template[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == "}":
                break
            j += 1
        if j >= n:
            raise JsonPathError(f"unclosed action at position {i} in {template!r}")
        out.append(("action", template[i + 1:j].strip()))
        i = text_start = j + 1
    if text_start < n:
        out.append(("text", template[text_start:]))
    return out


def compile_template(template: str, /) -> list[_Node]:
    if not isinstance(template, str):
        raise JsonPathError(f"expected a string template, got {type(template).__name__}")
    stack: list[list[_Node]] = [[]]
    ranges: list[list[Any]] = []
    for kind, content in _split_actions(template):
        if kind == "text":
            stack[-1].append(("text", content))
        elif content == "end":
            if not ranges:
                raise JsonPathError(f"'end' without 'range' in {template!r}")
            body = stack.pop()
            steps = ranges.pop()
            stack[-1].append(("range", steps, body))
        elif content.startswith("range ") or content == "range":
            ranges.append(_parse_expr(content[5:].strip(), template))
            stack.append([])
        elif content[:1] in "\"'":
            stack[-1].append(("text", _literal(content, template)))
        elif content == "":
            continue
        else:
            stack[-1].append(("expr", _parse_expr(content, template)))
    if ranges:
        raise JsonPathError(f"'range' without 'end' in {template!r}")
    return stack[0]


def _literal(content: str, template: str) -> str:
    quote = content[0]
    if len(content) < 2 or content[-1] != quote:
        raise JsonPathError(f"unterminated string {content!r} in {template!r}")
    inner = content[1:-1]
    if quote == "'":
        return inner
    try:
        return json.loads(content, strict=False)
    except ValueError:
        raise JsonPathError(f"bad string literal {content!r} in {template!r}") from None


_NAME_END = re.compile(r"(?<!\\)[.\[]")


def _parse_expr(text: str, template: str) -> list[tuple]:
    """Steps: ("field", name) ("all",) ("recurse",) ("index", [ints|names]) ("slice", a, b, c) ("filter", ...)."""
    steps: list[tuple] = []
    i, n = 0, len(text)
    if text[:1] == "$":
        steps.append(("root",))  # `$` is the whole object, also inside a range
    if text[:1] in "$@":
        i = 1
    if i >= n:
        return steps
    while i < n:
        if text.startswith("..", i):
            steps.append(("recurse",))
            i += 2
            if i < n and text[i] == "[":
                continue
            i = _field(text, i, steps, template)
        elif text[i] == ".":
            i = _field(text, i + 1, steps, template)
        elif text[i] == "[":
            i = _bracket(text, i, steps, template)
        else:
            if i == 0:  # `{metadata.name}`: client-go reads a bare name as a field too
                i = _field(text, 0, steps, template)
                continue
            raise JsonPathError(f"unexpected {text[i]!r} at {i} in {text!r} of {template!r}")
    return steps


def _field(text: str, i: int, steps: list[tuple], template: str) -> int:
    m = _NAME_END.search(text, i)
    end = m.start() if m else len(text)
    name = text[i:end].replace("\\.", ".")
    if name == "*":
        steps.append(("all",))
    elif name:
        steps.append(("field", name))
    elif end < len(text) and text[end] == "[":
        pass  # `.[0]` reads as `[0]`
    else:
        raise JsonPathError(f"empty field name at {i} in {text!r} of {template!r}")
    return end


def _bracket(text: str, i: int, steps: list[tuple], template: str) -> int:
    depth, j, quote = 0, i, ""
    while j < len(text):
        ch = text[j]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    if j >= len(text):
        raise JsonPathError(f"unclosed '[' at {i} in {text!r} of {template!r}")
    inner = text[i + 1:j].strip()
    if inner == "*":
        steps.append(("all",))
    elif inner.startswith("?(") and inner.endswith(")"):
        steps.append(_filter(inner[2:-1].strip(), template))
    elif ":" in inner and inner[:1] not in "\"'":
        parts = [p.strip() for p in inner.split(":")]
        if len(parts) > 3:
            raise JsonPathError(f"bad slice [{inner}] in {template!r}")
        try:
            nums = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
        except ValueError:
            raise JsonPathError(f"bad slice [{inner}] in {template!r}") from None
        steps.append(("slice", *nums))
    else:
        keys: list[Any] = []
        for part in _split_union(inner):
            if part[:1] in "\"'" and part[-1:] == part[:1] and len(part) >= 2:
                keys.append(part[1:-1])
            else:
                try:
                    keys.append(int(part))
                except ValueError:
                    raise JsonPathError(f"bad subscript [{inner}] in {template!r}") from None
        steps.append(("index", keys))
    return j + 1


def _split_union(inner: str) -> list[str]:
    parts, cur, quote = [], "", ""
    for ch in inner:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch == ",":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


_FILTER = re.compile(r"^(?P<left>@[^\s=!<>]*)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<right>.+))?$")


def _filter(expr: str, template: str) -> tuple:
    m = _FILTER.match(expr)
    if m is None:
        raise JsonPathError(f"bad filter ?({expr}) in {template!r}")
    left = _parse_expr(m.group("left"), template)
    if m.group("op") is None:
        return ("filter", left, None, None)
    raw = m.group("right").strip()
    right: Any
    if raw[:1] in "\"'":
        if raw[-1:] != raw[:1] or len(raw) < 2:
            raise JsonPathError(f"unterminated string in filter ?({expr}) of {template!r}")
        right = ("value", raw[1:-1])
    elif raw.startswith("@"):
        right = ("path", _parse_expr(raw, template))
    else:
        try:
            right = ("value", float(raw) if any(c in raw for c in ".eE") else int(raw))
        except ValueError:
            if raw in ("true", "false"):
                right = ("value", raw == "true")
            else:
                raise JsonPathError(f"bad operand {raw!r} in filter ?({expr}) of {template!r}") from None
    return ("filter", left, m.group("op"), right)


def _descend(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, Mapping):
        for k in sorted(value):
            out += _descend(value[k])
    elif isinstance(value, list):
        for v in value:
            out += _descend(v)
    return out


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return op in ("==", "!=") and ((left == right) == (op == "=="))
    numeric = isinstance(left, (int, float)) and isinstance(right, (int, float))
    if not numeric and not (isinstance(left, str) and isinstance(right, str)):
        return op == "!="
    return {"==": left == right, "!=": left != right, "<": left < right, ">": left > right,
            "<=": left <= right, ">=": left >= right}[op]


def _eval(steps: list[tuple], values: list[Any], root: Any = None) -> list[Any]:
    for step in steps:
        kind = step[0]
        if kind == "root":
            values = [root]
            continue
        out: list[Any] = []
        for v in values:
            if kind == "field":
                if isinstance(v, Mapping) and step[1] in v:
                    out.append(v[step[1]])
            elif kind == "all":
                if isinstance(v, Mapping):
                    out += [v[k] for k in sorted(v)]
                elif isinstance(v, list):
                    out += v
            elif kind == "recurse":
                out += _descend(v)
            elif kind == "index":
                for key in step[1]:
                    if isinstance(key, int) and isinstance(v, list):
                        idx = key + len(v) if key < 0 else key
                        if 0 <= idx < len(v):
                            out.append(v[idx])
                    elif isinstance(key, str) and isinstance(v, Mapping) and key in v:
                        out.append(v[key])
            elif kind == "slice":
                if isinstance(v, list):
                    out += v[slice(*step[1:])]
            elif kind == "filter":
                if not isinstance(v, list):
                    continue
                _, left, op, right = step
                for item in v:
                    lhs = _eval(left, [item], root)
                    if op is None:
                        if lhs:
                            out.append(item)
                        continue
                    rhs = [right[1]] if right[0] == "value" else _eval(right[1], [item], root)
                    if lhs and rhs and _compare(lhs[0], op, rhs[0]):
                        out.append(item)
        values = out
    return values


def _text(value: Any) -> str:
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _render(nodes: Sequence[_Node], root: Any, current: Any, out: list[str]) -> None:
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "expr":
            out.append(" ".join(_text(v) for v in _eval(node[1], [current], root)))
        else:
            for item in _eval(node[1], [current], root):
                _render(node[2], root, item, out)


def render(template: str, obj: Any, /) -> str:
    """The text `kubectl get -o jsonpath=<template>` prints for `obj`."""
    out: list[str] = []
    _render(compile_template(template), obj, obj, out)
    return "".join(out)
