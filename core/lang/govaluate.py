"""`when:` conditions: Knetic/govaluate as Argo uses it, after tag substitution (§3.6).

Argo lexes the substituted text with govaluate, re-types every VARIABLE token to a STRING token
(so `heads == heads` compares two strings and KFP's `'{{…}}' != true` works), then evaluates
with no parameters and demands a boolean. This module reproduces that pipeline: `tokenize`
(govaluate's lexer, including its quirks: a string ends at *either* quote character, `\\` escapes
the next character everywhere, quoted text that parses as a date becomes Unix seconds, words
with dots are accessors that can never resolve), `parse_when` (precedence as govaluate's stage
planner, left-associative), `to_source` (canonical printer for round trips) and `evaluate_when`
(the whole pipeline, returning a bool or raising `WhenSyntaxError` / `WhenEvalError` with the
column). The lexer lives in `_govaluate_lexer`.

Precedence, lowest first: `,` (lists) < `? : ??` < `||` < `&&` < comparators
(`== != < <= > >= =~ !~ in`) < `& | ^` < `<< >>` < `+ -` < `* / %` < `**` < prefix `- ! ~`.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Union

import msgspec

from ._go import go_sprint
from ._govaluate_lexer import PREFIX_OPS, WhenToken, tokenize
from .errors import WhenEvalError, WhenSyntaxError
from .expr.goregex import compile_go
from .expr.values import Fail

__all__ = ["tokenize", "parse_when", "evaluate_when", "to_source", "WhenToken", "WhenNode",
           "Lit", "Accessor", "Prefix", "Infix", "ListNode"]

_PREFIX = PREFIX_OPS
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"?", ":", "??"}), frozenset({"||"}), frozenset({"&&"}),
    frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"}),
    frozenset({"&", "|", "^"}), frozenset({"<<", ">>"}), frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}), frozenset({"**"}),
)
_MAX_DEPTH = 100


# --- AST ------------------------------------------------------------------------------------
class Lit(msgspec.Struct, frozen=True):
    """A literal: number (float), bool, string (incl. re-typed bare words) or time (float)."""

    value: Any
    kind: str = "str"
    column: int = 0


class Accessor(msgspec.Struct, frozen=True):
    """`foo.Bar`: govaluate parameter access, which can never resolve in `when` (no params)."""

    path: str
    column: int = 0


class Prefix(msgspec.Struct, frozen=True):
    op: str
    operand: "WhenNode"
    column: int = 0


class Infix(msgspec.Struct, frozen=True):
    op: str
    left: "WhenNode"
    right: "WhenNode"
    column: int = 0


class ListNode(msgspec.Struct, frozen=True):
    """`a, b, c` — only meaningful as the right side of `in`."""

    items: tuple["WhenNode", ...]
    column: int = 0


WhenNode = Union[Lit, Accessor, Prefix, Infix, ListNode]


class _Parser:
    def __init__(self, src: str, toks: list[WhenToken]) -> None:
        self.src, self.toks, self.i, self.depth = src, toks, 0, 0

    def err(self, msg: str, tok: WhenToken | None = None) -> WhenSyntaxError:
        col = tok.column if tok else (self.toks[self.i].column if self.i < len(self.toks)
                                      else len(self.src) + 1)
        return WhenSyntaxError(msg, source=self.src, column=col)

    def peek(self) -> WhenToken | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> WhenNode:
        if not self.toks:
            raise WhenSyntaxError("empty expression", source=self.src, column=1)
        node = self.separator()
        tok = self.peek()
        if tok is not None:
            raise self.err(f"Cannot transition token types: unexpected {tok.value!r}", tok)
        return node

    def separator(self) -> WhenNode:
        first = self.level(0)
        tok = self.peek()
        if tok is None or tok.kind != "sep":
            return first
        items = [first]
        while (tok := self.peek()) is not None and tok.kind == "sep":
            self.i += 1
            items.append(self.level(0))
        return ListNode(tuple(items), items[0].column if hasattr(items[0], "column") else 0)

    def level(self, k: int) -> WhenNode:
        if k == len(_LEVELS):
            return self.prefix()
        left = self.level(k + 1)
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.value in _LEVELS[k]:
            self.i += 1
            left = Infix(tok.value, left, self.level(k + 1), tok.column)
        return left

    def prefix(self) -> WhenNode:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.value in _PREFIX:
            self.i += 1
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.err("expression nested too deeply", tok)
            try:
                return Prefix(tok.value, self.prefix(), tok.column)
            finally:
                self.depth -= 1
        return self.value()

    def value(self) -> WhenNode:
        tok = self.peek()
        if tok is None:
            raise self.err("Unexpected end of expression")
        self.i += 1
        if tok.kind == "open":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.err("expression nested too deeply", tok)
            inner = self.separator()
            self.depth -= 1
            close = self.peek()
            if close is None or close.kind != "close":
                raise self.err("Unbalanced parenthesis", tok)
            self.i += 1
            return inner
        if tok.kind in ("num", "bool", "str", "time"):
            return Lit(tok.value, tok.kind, tok.column)
        if tok.kind == "var":
            return Lit(tok.value, "str", tok.column)  # Argo's re-typing VARIABLE → STRING
        if tok.kind == "accessor":
            return Accessor(tok.value, tok.column)
        raise self.err(f"Cannot transition token types: unexpected {tok.value!r}", tok)


def parse_when(text: str, /) -> WhenNode:
    """Tokenise and parse a substituted `when` expression."""
    return _Parser(text, tokenize(text)).parse()


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'


def to_source(node: WhenNode, /) -> str:
    """Canonical fully parenthesised text that parses back to `node`."""
    if isinstance(node, Lit):
        if node.kind == "bool":
            return "true" if node.value else "false"
        if node.kind in ("num", "time"):
            v = float(node.value)
            if node.kind == "time" or v < 0 or not math.isfinite(v):
                raise ValueError("only non-negative finite numbers have a literal form")
            # govaluate numbers have no exponent form: print the shortest decimal in full
            text = format(Decimal(repr(v)), "f")
            return text if "." in text else text + ".0"
        return _quote(node.value)
    if isinstance(node, Accessor):
        return node.path
    if isinstance(node, Prefix):
        return f"({node.op}{to_source(node.operand)})"
    if isinstance(node, Infix):
        return f"({to_source(node.left)} {node.op} {to_source(node.right)})"
    return "(" + ", ".join(to_source(i) for i in node.items) + ")"


# --- evaluation -----------------------------------------------------------------------------
def _typename(v: Any) -> str:
    return "nil" if v is None else {bool: "bool", float: "number", str: "string",
                                    list: "list"}.get(type(v), type(v).__name__)


def _need(kind: str, v: Any, op: str, what: str) -> None:
    ok = type(v) is float if kind == "num" else type(v) is bool
    if not ok:
        raise Fail(f"Value '{go_sprint(v)}' cannot be used with the {what} '{op}', it is not a "
                   f"{'number' if kind == 'num' else 'bool'}")


def _i64(v: float) -> int:
    return int(v) if math.isfinite(v) else 0


def _eval(node: WhenNode, src: str) -> Any:
    if isinstance(node, Lit):
        return float(node.value) if node.kind == "time" else node.value
    if isinstance(node, Accessor):
        root = node.path.split(".")[0]
        raise WhenEvalError(f"No parameter '{root}' found.", source=src, column=node.column)
    if isinstance(node, ListNode):
        return [_eval(i, src) for i in node.items]
    try:
        if isinstance(node, Prefix):
            v = _eval(node.operand, src)
            if node.op == "!":
                _need("bool", v, "!", "prefix")
                return not v
            _need("num", v, node.op, "prefix")
            return -v if node.op == "-" else float(~_i64(v))
        return _infix(node, src)
    except Fail as exc:
        raise WhenEvalError(str(exc), source=src, column=node.column) from None


def _infix(node: Infix, src: str) -> Any:
    op = node.op
    left = _eval(node.left, src)
    if op in ("&&", "||"):
        _need("bool", left, op, "logical operator")
        if (op == "&&" and not left) or (op == "||" and left):
            return left
        right = _eval(node.right, src)
        _need("bool", right, op, "logical operator")
        return right
    if op == "?":
        _need("bool", left, op, "ternary operator")
        return _eval(node.right, src) if left else None
    if op == ":":
        return left if left is not None else _eval(node.right, src)
    if op == "??":
        return left if left is not None else _eval(node.right, src)
    right = _eval(node.right, src)
    if op == "==":
        return type(left) is type(right) and left == right
    if op == "!=":
        return not (type(left) is type(right) and left == right)
    if op in ("<", "<=", ">", ">="):
        if not ((type(left) is float and type(right) is float)
                or (type(left) is str and type(right) is str)):
            raise Fail(f"Value '{go_sprint(left)}' cannot be used with the comparator '{op}', "
                       "it is not a number")
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if op in ("=~", "!~"):
        if type(left) is not str or type(right) is not str:
            raise Fail(f"Value '{go_sprint(right)}' cannot be used with the comparator '{op}', "
                       "it is not a string")
        hit = compile_go(right).search(left)
        return hit if op == "=~" else not hit
    if op == "in":
        if type(right) is not list:
            raise Fail(f"Value '{go_sprint(right)}' cannot be used with the comparator 'in', "
                       "it is not an array")
        return any(type(left) is type(x) and left == x for x in right)
    if op == "+":
        if type(left) is float and type(right) is float:
            return left + right
        if type(left) is str or type(right) is str:
            return _text(left) + _text(right)
        raise Fail(f"Value '{go_sprint(left)}' cannot be used with the modifier '+', it is not a number")
    _need("num", left, op, "modifier")
    _need("num", right, op, "modifier")
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            return math.copysign(math.inf, left) if left else math.nan
        return left / right
    if op == "%":
        if right == 0:
            return math.nan
        return math.fmod(left, right)
    if op == "**":
        try:
            return math.pow(left, right)
        except (OverflowError, ValueError):
            return math.inf if left > 0 else math.nan
    a, b = _i64(left), _i64(right)
    if op == "&":
        return float(a & b)
    if op == "|":
        return float(a | b)
    if op == "^":
        return float(a ^ b)
    if op == "<<":
        return float(((a << min(max(b, 0), 64)) + 2 ** 63) % 2 ** 64 - 2 ** 63)
    return float(a >> min(max(b, 0), 64))


def _text(v: Any) -> str:
    return go_sprint(v)


def evaluate_when(text: str, /) -> bool:
    """Argo's `shouldExecute`: empty → True; otherwise a boolean or a typed error."""
    if text == "":
        return True
    if not text.strip():  # no tokens: govaluate evaluates to nil, which is not a boolean
        raise WhenEvalError(f"Expected boolean evaluation for '{text}'. Got <nil>", source=text)
    try:
        node = parse_when(text)
    except WhenSyntaxError as exc:
        hint = (" (hint: try wrapping the affected expression in quotes (\"))"
                if exc.message.startswith("Invalid token") else "")
        raise WhenSyntaxError(f"Invalid 'when' expression '{text}': {exc.message}{hint}",
                              source=text, column=exc.column) from None
    result = _eval(node, text)
    if type(result) is not bool:
        raise WhenEvalError(f"Expected boolean evaluation for '{text}'. Got {go_sprint(result)}",
                            source=text)
    return result
