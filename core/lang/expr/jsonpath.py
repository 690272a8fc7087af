"""JSONPath for Argo's `jsonpath(json, path)` (evilmonkeyinc/jsonpath semantics, common subset).

Supported: `$`, `.name`, `['name']`, `[n]` (negative from the end), `[*]`/`.*`, unions
`[0,2]`/`['a','b']`, slices `[a:b:c]`, recursive descent `..name`/`..*`, and filters
`[?(@.age > 42 && @.name == "x")]` with `== != < <= > >= =~`, `&& || !`, parentheses, existence
tests (`?(@.key)`) and literals. A path made only of names and indices returns the value itself;
any wildcard, slice, union, filter or descent returns a list. A missing key or index is an error,
as in Argo, where it makes the expression fail.
"""
from __future__ import annotations

import re
from typing import Any

from .goregex import compile_go
from .values import Fail, equal

__all__ = ["jsonpath_get"]

_NAME = re.compile(r"[A-Za-z_$@\-][\w$\-]*|\d+[A-Za-z_$][\w$\-]*")
_MAX_LEN = 4096


class _P:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def err(self, msg: str) -> Fail:
        return Fail(f"jsonpath {self.s!r}: {msg} at position {self.i}")

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def name(self) -> str:
        m = _NAME.match(self.s, self.i)
        if not m:
            raise self.err("expected a name")
        self.i = m.end()
        return m.group(0)

    def segments(self, stop: str = "") -> list[tuple[str, Any]]:
        segs: list[tuple[str, Any]] = []
        while self.i < len(self.s) and (not stop or self.peek() not in stop):
            if self.peek(2) == "..":
                self.i += 2
                if self.peek() == "*":
                    self.i += 1
                    segs.append(("descend", None))
                elif self.peek() == "[":
                    segs.append(("descend", None))
                else:
                    segs.append(("descend", None))
                    segs.append(("key", self.name()))
            elif self.peek() == ".":
                self.i += 1
                if self.peek() == "*":
                    self.i += 1
                    segs.append(("wild", None))
                else:
                    segs.append(("key", self.name()))
            elif self.peek() == "[":
                self.i += 1
                segs.append(self.bracket())
            else:
                break
        return segs

    def bracket(self) -> tuple[str, Any]:
        self.ws()
        if self.peek() == "*":
            self.i += 1
            self.close()
            return ("wild", None)
        if self.peek(2) == "?(":
            self.i += 2
            expr = self.filter_or()
            self.ws()
            if self.peek() != ")":
                raise self.err("expected ')'")
            self.i += 1
            self.close()
            return ("filter", expr)
        items: list[Any] = []
        while True:
            self.ws()
            if self.peek() in ("'", '"'):
                items.append(self.string())
            else:
                m = re.compile(r"(-?\d*)(?::(-?\d*))?(?::(-?\d*))?").match(self.s, self.i)
                text = m.group(0) if m else ""
                if not text:
                    raise self.err("invalid subscript")
                self.i = m.end()
                if ":" in text:
                    parts = [int(p) if p not in ("", "-") else None for p in text.split(":")]
                    items.append(slice(*parts))
                else:
                    items.append(int(text))
            self.ws()
            if self.peek() == ",":
                self.i += 1
                continue
            self.close()
            break
        if len(items) == 1:
            one = items[0]
            if isinstance(one, str):
                return ("key", one)
            if isinstance(one, int):
                return ("index", one)
            return ("slice", one)
        return ("union", items)

    def close(self) -> None:
        self.ws()
        if self.peek() != "]":
            raise self.err("expected ']'")
        self.i += 1

    def string(self) -> str:
        q = self.s[self.i]
        j = self.i + 1
        buf: list[str] = []
        while j < len(self.s) and self.s[j] != q:
            if self.s[j] == "\\" and j + 1 < len(self.s):
                j += 1
            buf.append(self.s[j])
            j += 1
        if j >= len(self.s):
            raise self.err("unterminated string")
        self.i = j + 1
        return "".join(buf)

    # filters: or > and > not > comparison > operand
    def filter_or(self) -> Any:
        left = self.filter_and()
        while True:
            self.ws()
            if self.peek(2) != "||":
                return left
            self.i += 2
            left = ("or", left, self.filter_and())

    def filter_and(self) -> Any:
        left = self.filter_not()
        while True:
            self.ws()
            if self.peek(2) != "&&":
                return left
            self.i += 2
            left = ("and", left, self.filter_not())

    def filter_not(self) -> Any:
        self.ws()
        if self.peek() == "!" and self.peek(2) != "!=":
            self.i += 1
            return ("not", self.filter_not())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.operand()
        self.ws()
        for op in ("==", "!=", "<=", ">=", "=~", "<", ">"):
            if self.s.startswith(op, self.i):
                self.i += len(op)
                return ("cmp", op, left, self.operand())
        return ("exists", left)

    def operand(self) -> Any:
        self.ws()
        c = self.peek()
        if c == "(":
            self.i += 1
            inner = self.filter_or()
            self.ws()
            if self.peek() != ")":
                raise self.err("expected ')'")
            self.i += 1
            return ("group", inner)
        if c in ("@", "$"):
            self.i += 1
            return ("path", c, self.segments(stop=" )=!<>&|"))
        if c in ("'", '"'):
            return ("lit", self.string())
        m = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?").match(self.s, self.i)
        if m:
            self.i = m.end()
            return ("lit", float(m.group(0)))
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return ("lit", value)
        if c == "/":
            j = self.s.find("/", self.i + 1)
            if j < 0:
                raise self.err("unterminated regex")
            pattern = self.s[self.i + 1:j]
            self.i = j + 1
            return ("lit", pattern)
        raise self.err("invalid filter operand")


def _apply(segs: list[tuple[str, Any]], values: list[Any], root: Any, strict: bool) -> list[Any]:
    for kind, arg in segs:
        out: list[Any] = []
        for v in values:
            if kind == "key":
                if isinstance(v, dict) and arg in v:
                    out.append(v[arg])
                elif strict:
                    raise Fail(f"key not found: {arg!r}")
            elif kind == "index":
                if isinstance(v, list) and -len(v) <= arg < len(v):
                    out.append(v[arg])
                elif strict:
                    raise Fail(f"index out of range: {arg}")
            elif kind == "wild":
                out.extend(_children(v))
            elif kind == "slice":
                if isinstance(v, list):
                    out.extend(v[arg])
                elif strict:
                    raise Fail("slice of a non-array")
            elif kind == "union":
                for item in arg:
                    sub = ("key" if isinstance(item, str) else "index" if isinstance(item, int)
                           else "slice", item)
                    out.extend(_apply([sub], [v], root, False))
            elif kind == "descend":
                out.extend(_descendants(v, 0))
            elif kind == "filter":
                out.extend(c for c in _children(v) if _truth(arg, c, root))
        values = out
        if len(values) > 100_000:
            raise Fail("jsonpath result too large")
    return values


def _children(v: Any) -> list[Any]:
    if isinstance(v, dict):
        return [v[k] for k in sorted(v)]
    if isinstance(v, list):
        return list(v)
    return []


def _descendants(v: Any, depth: int) -> list[Any]:
    if depth > 200:
        raise Fail("jsonpath: document nested too deeply")
    out = [v]
    for c in _children(v):
        out.extend(_descendants(c, depth + 1))
    return out


def _value(node: Any, current: Any, root: Any) -> tuple[bool, Any]:
    if node[0] == "lit":
        return True, node[1]
    if node[0] == "group":
        return True, _truth(node[1], current, root)
    base = current if node[1] == "@" else root
    found = _apply(node[2], [base], root, False)
    return (True, found[0]) if found else (False, None)


def _truth(node: Any, current: Any, root: Any) -> bool:
    kind = node[0]
    if kind == "or":
        return _truth(node[1], current, root) or _truth(node[2], current, root)
    if kind == "and":
        return _truth(node[1], current, root) and _truth(node[2], current, root)
    if kind == "not":
        return not _truth(node[1], current, root)
    if kind == "exists":
        ok, v = _value(node[1], current, root)
        return ok and v is not None and v is not False
    _, op, l_node, r_node = node
    lok, left = _value(l_node, current, root)
    rok, right = _value(r_node, current, root)
    if not (lok and rok):
        return False
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if op == "=~":
        return isinstance(left, str) and isinstance(right, str) and \
            compile_go(right).search(left)
    num = (int, float)
    if isinstance(left, num) and isinstance(right, num) and not isinstance(left, bool) \
            and not isinstance(right, bool) or isinstance(left, str) and isinstance(right, str):
        return {"<": left < right, "<=": left <= right, ">": left > right,
                ">=": left >= right}[op]
    return False


def jsonpath_get(path: str, doc: Any) -> Any:
    """Evaluate `path` over a decoded JSON document."""
    if len(path) > _MAX_LEN:
        raise Fail("jsonpath: path too long")
    p = _P(path.strip())
    if p.peek() != "$":
        raise p.err("path must start with '$'")
    p.i = 1
    segs = p.segments()
    if p.i != len(p.s):
        raise p.err("unexpected character")
    definite = all(kind in ("key", "index") for kind, _ in segs)
    found = _apply(segs, [doc], doc, strict=definite)
    if definite:
        return found[0]
    return found
