"""Parser for the expr-lang subset: precedence climbing over `lexer` tokens, as expr's own parser.

Binary precedence (expr v1.17 `parser/operator`): `|` 0 (pipe: `x | f(a)` is `f(x, a)`),
`or ||` 10, `and &&` 15, comparisons/`in`/`matches`/`contains`/`startsWith`/`endsWith` 20,
`..` 25, `+ -` 30, `* / %` 60, `** ^` 100 (right-associative), `??` 500. Unary `not !` bind at
50, `- +` at 90. The ternary `c ? a : b` is lowest. `not in`, `not matches`… negate the operator;
`a < b < c` means `a < b and b < c`. Mixing `??` with another operator without parentheses is an
error, as in expr. Predicate builtins (`filter`, `map`, `all`, …) take closures `{ # > 1 }`
(braces optional) in which `#` is the element and `.name` means `#.name`.

Nesting is bounded (`MAX_DEPTH`) so hostile input fails with `ExprSyntaxError`, never with
`RecursionError`.
"""
from __future__ import annotations

from ..errors import ExprSyntaxError
from . import ast as A
from .lexer import Token, tokenize

__all__ = ["parse", "PREDICATE_BUILTINS", "MAX_DEPTH"]

MAX_DEPTH = 120

_BINARY = {
    "|": (0, "L"), "or": (10, "L"), "||": (10, "L"), "and": (15, "L"), "&&": (15, "L"),
    "==": (20, "L"), "!=": (20, "L"), "<": (20, "L"), ">": (20, "L"), ">=": (20, "L"),
    "<=": (20, "L"), "in": (20, "L"), "matches": (20, "L"), "contains": (20, "L"),
    "startsWith": (20, "L"), "endsWith": (20, "L"), "..": (25, "L"), "+": (30, "L"),
    "-": (30, "L"), "*": (60, "L"), "/": (60, "L"), "%": (60, "L"), "**": (100, "R"),
    "^": (100, "R"), "??": (500, "L"),
}
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_COMPARISON = frozenset({"<", ">", "<=", ">="})

# Builtins whose arguments after the first are predicates (closures).
PREDICATE_BUILTINS = frozenset({
    "all", "none", "any", "one", "filter", "map", "find", "findIndex", "findLast",
    "findLastIndex", "count", "sum", "groupBy", "sortBy", "reduce",
})


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks: list[Token] = tokenize(src)
        self.i = 0
        self.depth = 0

    # -- token helpers ------------------------------------------------------------------------
    @property
    def cur(self) -> Token:
        return self.toks[self.i]

    def error(self, msg: str, tok: Token | None = None) -> ExprSyntaxError:
        tok = tok or self.cur
        return ExprSyntaxError(msg, source=self.src, column=tok[2])

    def is_(self, kind: str, value: object = None) -> bool:
        k, v, _ = self.toks[self.i]
        return k == kind and (value is None or v == value)

    def expect(self, kind: str, value: object = None) -> Token:
        if not self.is_(kind, value):
            want = value if value is not None else kind
            raise self.error(f"unexpected token {self._show(self.cur)}, expected {want}")
        tok = self.cur
        self.i += 1
        return tok

    @staticmethod
    def _show(tok: Token) -> str:
        return "end of input" if tok[0] == "eof" else repr(tok[1])

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("expression nested too deeply")

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> A.Node:
        node = self.expression(0)
        if not self.is_("eof"):
            raise self.error(f"unexpected token {self._show(self.cur)}")
        return node

    def expression(self, prec: int) -> A.Node:
        self.enter()
        try:
            if prec == 0 and self.is_("op", "let"):
                return self.let()
            left = self.unary()
            prev = ""
            while True:
                kind, value, col = self.cur
                if kind != "op":
                    break
                negate = False
                op = value
                if op == "not":
                    nxt = self.toks[self.i + 1]
                    if nxt[0] == "op" and nxt[1] in _NEGATABLE and _BINARY[nxt[1]][0] >= prec:
                        negate = True
                        self.i += 1
                        op = nxt[1]
                    else:
                        raise self.error(f"unexpected token {self._show(nxt)}", nxt)
                info = _BINARY.get(op)
                if info is None or info[0] < prec:
                    if negate:
                        self.i -= 1
                    break
                self.i += 1
                if op == "|":
                    left = self.pipe(left, col)
                    prev = op
                    continue
                if prev == "??" and op != "??":
                    raise ExprSyntaxError(
                        f"Operator ({op}) and coalesce expressions (??) cannot be mixed. "
                        "Wrap either by parentheses.", source=self.src, column=col)
                if prev and prev != "??" and op == "??":
                    raise ExprSyntaxError(
                        f"Operator ({prev}) and coalesce expressions (??) cannot be mixed. "
                        "Wrap either by parentheses.", source=self.src, column=col)
                right = self.expression(info[0] + 1 if info[1] == "L" else info[0])
                if op in _COMPARISON:
                    left = self.comparison_chain(left, op, right, col, info[0])
                else:
                    left = A.Binary(op, left, right, col)
                if negate:
                    left = A.Unary("not", left, col)
                prev = op
            if prec == 0 and self.is_("punct", "?"):
                left = self.conditional(left)
            return left
        finally:
            self.depth -= 1

    def comparison_chain(self, left: A.Node, op: str, right: A.Node, col: int,
                         prec: int) -> A.Node:
        node: A.Node = A.Binary(op, left, right, col)
        while self.is_("op") and self.cur[1] in _COMPARISON:
            op2, col2 = self.cur[1], self.cur[2]
            self.i += 1
            nxt = self.expression(prec + 1)
            node = A.Binary("&&", node, A.Binary(op2, right, nxt, col2), col2)
            right = nxt
        return node

    def conditional(self, cond: A.Node) -> A.Node:
        col = self.expect("punct", "?")[2]
        then = self.expression(0)
        self.expect("punct", ":")
        other = self.expression(0)
        return A.Conditional(cond, then, other, col)

    def let(self) -> A.Node:
        col = self.expect("op", "let")[2]
        name = self.expect("name")[1]
        self.expect("op", "=")
        value = self.expression(0)
        self.expect("op", ";")
        body = self.expression(0)
        return A.Let(name, value, body, col)

    def pipe(self, left: A.Node, col: int) -> A.Node:
        tok = self.expect("name")
        name = tok[1]
        args: list[A.Node] = [left]
        if self.is_("bracket", "("):
            args.extend(self.call_args(name, piped=True))
        return self.postfix(A.Call(A.Ident(name, tok[2]), tuple(args), col))

    def unary(self) -> A.Node:
        kind, value, col = self.cur
        if kind == "op" and value in _UNARY:
            self.i += 1
            self.enter()
            try:
                operand = self.expression(_UNARY[value])
            finally:
                self.depth -= 1
            return A.Unary(value, operand, col)
        return self.postfix(self.primary())

    def primary(self) -> A.Node:
        kind, value, col = self.cur
        if kind == "num":
            self.i += 1
            return A.Int(value, col) if isinstance(value, int) else A.Float(value, col)
        if kind == "str":
            self.i += 1
            return A.Str(value, col)
        if kind == "pointer":
            self.i += 1
            return A.Pointer(value, col)
        if kind == "name":
            self.i += 1
            if value == "nil":
                return A.Nil(col)
            if value in ("true", "false"):
                return A.Bool(value == "true", col)
            if self.is_("bracket", "("):
                return A.Call(A.Ident(value, col), tuple(self.call_args(value)), col)
            return A.Ident(value, col)
        if kind == "bracket" and value == "(":
            self.i += 1
            node = self.expression(0)
            self.expect("bracket", ")")
            return node
        if kind == "bracket" and value == "[":
            return self.array()
        if kind == "bracket" and value == "{":
            return self.map_literal()
        if kind == "punct" and value == ".":
            # `.name` inside a predicate is `#.name`
            self.i += 1
            name = self.expect("name")
            return A.Member(A.Pointer("", col), A.Str(name[1], name[2]), False, col)
        raise self.error(f"unexpected token {self._show(self.cur)}")

    def call_args(self, name: str, *, piped: bool = False) -> list[A.Node]:
        self.expect("bracket", "(")
        args: list[A.Node] = []
        predicate = name in PREDICATE_BUILTINS
        while not self.is_("bracket", ")"):
            if args:
                self.expect("punct", ",")
                if self.is_("bracket", ")"):
                    break
            if predicate and (args or piped):
                args.append(self.closure())
            else:
                args.append(self.expression(0))
        self.expect("bracket", ")")
        return args

    def closure(self) -> A.Node:
        col = self.cur[2]
        if self.is_("bracket", "{"):
            self.i += 1
            body = self.expression(0)
            self.expect("bracket", "}")
            return A.Closure(body, col)
        if self.is_("str") or self.is_("num"):
            # sortBy(x, .k, "desc"), reduce(x, #acc + #, 0): plain trailing arguments stay values
            return self.expression(0)
        return A.Closure(self.expression(0), col)

    def array(self) -> A.Node:
        col = self.expect("bracket", "[")[2]
        items: list[A.Node] = []
        while not self.is_("bracket", "]"):
            if items:
                self.expect("punct", ",")
                if self.is_("bracket", "]"):
                    break
            items.append(self.expression(0))
        self.expect("bracket", "]")
        return A.Array(tuple(items), col)

    def map_literal(self) -> A.Node:
        col = self.expect("bracket", "{")[2]
        pairs: list[tuple[A.Node, A.Node]] = []
        while not self.is_("bracket", "}"):
            if pairs:
                self.expect("punct", ",")
                if self.is_("bracket", "}"):
                    break
            kind, value, kcol = self.cur
            if kind in ("name", "str") or (kind == "op" and isinstance(value, str) and value.isalpha()):
                self.i += 1
                key: A.Node = A.Str(str(value), kcol)
            elif kind == "num":
                self.i += 1
                key = A.Int(value, kcol) if isinstance(value, int) else A.Float(value, kcol)
            elif kind == "bracket" and value == "(":
                self.i += 1
                key = self.expression(0)
                self.expect("bracket", ")")
            else:
                raise self.error("a map key must be a quoted string, an identifier, a number "
                                 f"or a parenthesized expression, got {self._show(self.cur)}")
            self.expect("punct", ":")
            pairs.append((key, self.expression(0)))
        self.expect("bracket", "}")
        return A.MapLit(tuple(pairs), col)

    def postfix(self, node: A.Node) -> A.Node:
        while True:
            kind, value, col = self.cur
            if kind == "punct" and value in (".", "?."):
                optional = value == "?."
                self.i += 1
                if optional and self.is_("bracket", "["):
                    node = self.index(node, optional=True)
                    continue
                tok = self.cur
                if not (tok[0] == "name" or tok[0] == "op" and str(tok[1]).isalpha()):
                    raise self.error(f"expected name after {value}, got {self._show(tok)}")
                self.i += 1
                # expr reports member errors at the property name
                member = A.Member(node, A.Str(str(tok[1]), tok[2]), optional, tok[2])
                if self.is_("bracket", "("):
                    node = A.Call(member, tuple(self.call_args("")), col)
                else:
                    node = member
            elif kind == "bracket" and value == "[":
                node = self.index(node, optional=False)
            else:
                return node

    def index(self, node: A.Node, *, optional: bool) -> A.Node:
        col = self.expect("bracket", "[")[2]
        self.enter()
        try:
            if self.is_("punct", ":"):
                self.i += 1
                hi = None if self.is_("bracket", "]") else self.expression(0)
                self.expect("bracket", "]")
                return A.Slice(node, None, hi, col)
            first = self.expression(0)
            if self.is_("punct", ":"):
                self.i += 1
                hi = None if self.is_("bracket", "]") else self.expression(0)
                self.expect("bracket", "]")
                return A.Slice(node, first, hi, col)
            self.expect("bracket", "]")
            return A.Member(node, first, optional, col)
        finally:
            self.depth -= 1


def parse(src: str, /) -> A.Node:
    """Parse expr-lang source into an AST, or raise `ExprSyntaxError` naming the column."""
    if not src.strip():
        raise ExprSyntaxError("empty expression", source=src, column=1)
    return _Parser(src).parse()
