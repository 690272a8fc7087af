"""Compile an AST once into nested Python closures and run it many times, within a budget.

`compile_expr(src)` (cached) parses and compiles; `Program.evaluate(env)` runs against an
environment dict such as `build_env(scope)` returns. There is no `eval`/`exec`: every node becomes
a small closure over its children.

The budget (`Limits`) makes every run finite and small: node count is bounded by the source, and
everything that loops — predicate iterations, builtins over collections, ranges, string building —
is charged to `max_steps` or capped by `max_string` / `max_items`, raising `ExprLimitExceeded`.
`now()` reads the `now` passed to `evaluate` (the core has no clock).
"""
from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Callable
from typing import Any

import msgspec

from .._go import format_float_g
from ..errors import ExprError, ExprEvalError, ExprLimitExceeded, UnknownName
from . import ast as A
from .access import Namespace, fetch
from .checker import check_equalities, equality_nodes
from .parser import parse
from .goregex import compile_go
from .values import (Duration, Fail, Overrun, arith, compare, equal, truthy_bool,
                     type_name)

__all__ = ["Limits", "Program", "compile_expr", "Context"]


class Limits(msgspec.Struct, frozen=True):
    """Per-evaluation budget."""

    max_steps: int = 200_000
    max_string: int = 1 << 20
    max_items: int = 100_000


_DEFAULT_LIMITS = Limits()


class Context:
    """State of one evaluation: env, predicate stack, let bindings, remaining budget."""

    __slots__ = ("env", "steps", "limits", "now", "source", "ptr", "lets")

    def __init__(self, env: dict[str, Any], limits: Limits, now: Any, source: str) -> None:
        self.env = env
        self.steps = limits.max_steps
        self.limits = limits
        self.now = now
        self.source = source
        self.ptr: list[tuple[Any, int, Any]] = []
        self.lets: dict[str, Any] = {}

    def charge(self, n: int = 1) -> None:
        self.steps -= n
        if self.steps < 0:
            raise Overrun("evaluation step budget exhausted")

    def check_str(self, s: str) -> str:
        if len(s) > self.limits.max_string:
            raise Overrun(f"string result longer than {self.limits.max_string} characters")
        return s

    def check_list(self, v: list[Any]) -> list[Any]:
        if len(v) > self.limits.max_items:
            raise Overrun(f"collection larger than {self.limits.max_items} items")
        return v


Fn = Callable[[Context], Any]


def _guard(fn: Fn, pos: int) -> Fn:
    def run(ctx: Context) -> Any:
        try:
            return fn(ctx)
        except Fail as exc:
            msg = str(exc)
            cls = ExprLimitExceeded if isinstance(exc, Overrun) else ExprEvalError
            raise cls(msg, source=ctx.source, column=pos) from None
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, AttributeError,
                RecursionError, UnicodeError, re.error) as exc:
            # builtins and sprig are written against expr's types; a wrong-typed argument
            # surfaces as one of these and becomes an evaluation error at this node
            raise ExprEvalError(f"{type(exc).__name__}: {exc}", source=ctx.source,
                                column=pos) from None
    return run


class Program:
    """A compiled expression: `identifiers` for Argo's readiness checks, `evaluate` to run it."""

    __slots__ = ("source", "ast", "identifiers", "_fn", "_equalities")

    def __init__(self, source: str, tree: A.Node) -> None:
        self.source = source
        self.ast = tree
        self.identifiers = A.identifiers(tree)
        self._fn = _compile(tree, frozenset())
        self._equalities = equality_nodes(tree)

    def evaluate(self, env: dict[str, Any], /, *, limits: Limits | None = None,
                 now: _dt.datetime | None = None) -> Any:
        """Run against `env`; errors are `ExprError`s with a column, never other exceptions."""
        if self._equalities:
            check_equalities(self._equalities, env, self.source)
        ctx = Context(env, limits or _DEFAULT_LIMITS, now, self.source)
        try:
            result = self._fn(ctx)
        except ExprError:
            raise
        except RecursionError:
            raise ExprLimitExceeded("evaluation nested too deeply", source=self.source) from None
        if type(result) is str and len(result) > ctx.limits.max_string:
            raise ExprLimitExceeded("string result too long", source=self.source)
        return result

    def __repr__(self) -> str:
        return f"Program({self.source!r})"


@functools.lru_cache(maxsize=8192)
def compile_expr(src: str, /) -> Program:
    """Parse and compile once (cached by source text)."""
    return Program(src, parse(src))


# --- node compilers --------------------------------------------------------------------------

def _compile(node: A.Node, bound: frozenset[str]) -> Fn:
    return _COMPILERS[type(node)](node, bound)


def _const(value: Any) -> Fn:
    return lambda ctx: value


def _c_ident(node: A.Ident, bound: frozenset[str]) -> Fn:
    name = node.name
    if name in bound:
        return lambda ctx: ctx.lets[name]

    def run(ctx: Context) -> Any:
        env = ctx.env
        if name in env:
            return env[name]
        raise UnknownName(name, node.pos, source=ctx.source)
    return run


def _c_pointer(node: A.Pointer, bound: frozenset[str]) -> Fn:
    which = node.name

    def run(ctx: Context) -> Any:
        if not ctx.ptr:
            raise Fail(f"#{which} is only valid inside a predicate")
        elem, index, acc = ctx.ptr[-1]
        if which == "":
            return elem
        if which == "index":
            return index
        if which == "acc":
            return acc
        raise Fail(f"unknown pointer #{which}")
    return _guard(run, node.pos)


def _c_unary(node: A.Unary, bound: frozenset[str]) -> Fn:
    inner = _compile(node.operand, bound)
    op = node.op
    if op in ("not", "!"):
        def run(ctx: Context) -> Any:
            return not truthy_bool(op, inner(ctx))
    else:
        sign = -1 if op == "-" else 1

        def run(ctx: Context) -> Any:
            v = inner(ctx)
            if type(v) is int:
                return arith("*", v, sign)
            if type(v) is float:
                return -v if sign < 0 else v
            if type(v) is Duration:
                return Duration(sign * v.ns)
            raise Fail(f"invalid operation: {op}{type_name(v)}")
    return _guard(run, node.pos)


def _in(a: Any, b: Any) -> bool:
    if type(b) is list:
        return any(equal(a, x) for x in b)
    if type(b) is dict:
        try:
            return a in b
        except TypeError:
            raise Fail(f"cannot use {type_name(a)} as map key") from None
    if b is None:
        return False
    raise Fail(f'operator "in" not defined on {type_name(b)}')


def _strings(op: str, a: Any, b: Any) -> tuple[str, str]:
    if type(a) is not str or type(b) is not str:
        raise Fail(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")
    return a, b


def _binary_op(op: str) -> Callable[[Context, Any, Any], Any]:
    if op == "==":
        return lambda ctx, a, b: equal(a, b)
    if op == "!=":
        return lambda ctx, a, b: not equal(a, b)
    if op in ("<", ">", "<=", ">="):
        return lambda ctx, a, b: compare(op, a, b)
    if op == "in":
        return lambda ctx, a, b: _in(a, b)
    if op == "matches":
        def matches(ctx: Context, a: Any, b: Any) -> bool:
            s, pattern = _strings(op, a, b)
            ctx.charge(len(s) // 64 + 1)
            return compile_go(pattern).search(s)
        return matches
    if op == "contains":
        return lambda ctx, a, b: (lambda s, t: t in s)(*_strings(op, a, b))
    if op == "startsWith":
        return lambda ctx, a, b: (lambda s, t: s.startswith(t))(*_strings(op, a, b))
    if op == "endsWith":
        return lambda ctx, a, b: (lambda s, t: s.endswith(t))(*_strings(op, a, b))
    if op == "..":
        def rng(ctx: Context, a: Any, b: Any) -> list[int]:
            if type(a) is not int or type(b) is not int:
                raise Fail(f"invalid operation: .. (mismatched types {type_name(a)} and {type_name(b)})")
            n = max(0, b - a + 1)
            ctx.charge(n)
            if n > ctx.limits.max_items:
                raise Overrun(f"collection larger than {ctx.limits.max_items} items")
            return list(range(a, b + 1))
        return rng
    if op == "+":
        def plus(ctx: Context, a: Any, b: Any) -> Any:
            r = arith("+", a, b)
            if type(r) is str:
                ctx.check_str(r)
            return r
        return plus
    return lambda ctx, a, b: arith(op, a, b)


def _c_binary(node: A.Binary, bound: frozenset[str]) -> Fn:
    op = node.op
    if op == "??":
        # Only a nil *value* is replaced: an unknown name or a nil link in a member chain is an
        # error, as in expr (`?.` is the operator that makes chains nil-safe).
        left = _compile(node.left, bound)
        right = _compile(node.right, bound)

        def coalesce(ctx: Context) -> Any:
            v = left(ctx)
            return right(ctx) if v is None else v
        return coalesce
    left = _compile(node.left, bound)
    right = _compile(node.right, bound)
    if op in ("and", "&&"):
        def land(ctx: Context) -> Any:
            return right(ctx) if truthy_bool(op, left(ctx)) else False
        return _guard(land, node.pos)
    if op in ("or", "||"):
        def lor(ctx: Context) -> Any:
            return True if truthy_bool(op, left(ctx)) else right(ctx)
        return _guard(lor, node.pos)
    fn = _binary_op(op)

    def run(ctx: Context) -> Any:
        return fn(ctx, left(ctx), right(ctx))
    return _guard(run, node.pos)


def _c_conditional(node: A.Conditional, bound: frozenset[str]) -> Fn:
    cond, then, other = (_compile(n, bound) for n in (node.cond, node.then, node.other))

    def run(ctx: Context) -> Any:
        return then(ctx) if truthy_bool("?:", cond(ctx)) else other(ctx)
    return _guard(run, node.pos)


def _c_member(node: A.Member, bound: frozenset[str]) -> Fn:
    obj = _compile(node.obj, bound)
    prop = _compile(node.prop, bound)
    optional = node.optional

    def run(ctx: Context) -> Any:
        o = obj(ctx)
        if o is None and optional:
            return None
        return fetch(o, prop(ctx))
    return _guard(run, node.pos)


def _c_slice(node: A.Slice, bound: frozenset[str]) -> Fn:
    obj = _compile(node.obj, bound)
    lo = _compile(node.lo, bound) if node.lo is not None else None
    hi = _compile(node.hi, bound) if node.hi is not None else None

    def run(ctx: Context) -> Any:
        o = obj(ctx)
        if type(o) not in (list, str):
            raise Fail(f"cannot slice {type_name(o)}")
        seq: Any = o if type(o) is list else o.encode()
        n = len(seq)
        a = lo(ctx) if lo else 0
        b = hi(ctx) if hi else n
        if type(a) is not int or type(b) is not int:
            raise Fail("slice bounds must be int")
        a = max(0, a + n if a < 0 else a)
        b = min(n, max(0, b + n if b < 0 else b))
        a = min(a, b)
        ctx.charge((b - a) // 64 + 1)
        return seq[a:b] if type(o) is list else seq[a:b].decode("utf-8", "replace")
    return _guard(run, node.pos)


def _c_array(node: A.Array, bound: frozenset[str]) -> Fn:
    items = [_compile(i, bound) for i in node.items]
    return lambda ctx: [f(ctx) for f in items]


def _c_map(node: A.MapLit, bound: frozenset[str]) -> Fn:
    # Map literals are map[string]any: number keys are taken as their text, computed keys must
    # evaluate to strings.
    pairs = [(_const(str(k.value) if type(k) is A.Int else format_float_g(k.value))
              if type(k) in (A.Int, A.Float) else _compile(k, bound), _compile(v, bound))
             for k, v in node.pairs]

    def run(ctx: Context) -> Any:
        out: dict[str, Any] = {}
        for k, v in pairs:
            key = k(ctx)
            if type(key) is not str:
                raise Fail(f"interface conversion: map key is {type_name(key)}, not string")
            out[key] = v(ctx)
        return out
    return _guard(run, node.pos)


def _c_let(node: A.Let, bound: frozenset[str]) -> Fn:
    value = _compile(node.value, bound)
    body = _compile(node.body, bound | {node.name})
    name = node.name

    def run(ctx: Context) -> Any:
        missing = object()
        old = ctx.lets.get(name, missing)
        ctx.lets[name] = value(ctx)
        try:
            return body(ctx)
        finally:
            if old is missing:
                del ctx.lets[name]
            else:
                ctx.lets[name] = old
    return run


def _c_closure(node: A.Closure, bound: frozenset[str]) -> Fn:
    body = _compile(node.body, bound)
    return lambda ctx: body  # a predicate evaluates to its compiled body; builtins call it


def _c_call(node: A.Call, bound: frozenset[str]) -> Fn:
    from .builtins import BUILTINS, PREDICATES  # cycle: builtins use Context helpers from here
    args = [_compile(a, bound) for a in node.args]
    callee = node.callee
    if type(callee) is A.Ident and callee.name not in bound:
        name = callee.name
        if name in PREDICATES:
            pred = PREDICATES[name]
            closures = [a for a in node.args[1:] if type(a) is A.Closure]

            def run_pred(ctx: Context) -> Any:
                ctx.charge()
                return pred(ctx, *[f(ctx) for f in args])
            if not closures and name not in ("sum", "count"):
                def no_predicate(ctx: Context) -> Any:
                    raise Fail(f"{name} needs a predicate argument")
                return _guard(no_predicate, node.pos)
            return _guard(run_pred, node.pos)
        if name in BUILTINS:
            builtin = BUILTINS[name]

            def run_builtin(ctx: Context) -> Any:
                ctx.charge()
                return builtin(ctx, *[f(ctx) for f in args])
            return _guard(run_builtin, node.pos)
        fn = _compile(callee, bound)
    elif type(callee) is A.Member:
        fn = _c_member(callee, bound)
    else:
        fn = _compile(callee, bound)

    def run(ctx: Context) -> Any:
        f = fn(ctx)
        if not callable(f) or isinstance(f, Namespace):
            raise Fail(f"{type_name(f)} is not callable")
        values = [a(ctx) for a in args]
        ctx.charge(1 + sum(len(v) for v in values if type(v) in (str, list, dict)) // 64)
        return f(*values)
    return _guard(run, node.pos)


_COMPILERS: dict[type, Callable[[Any, frozenset[str]], Fn]] = {
    A.Nil: lambda n, b: _const(None),
    A.Bool: lambda n, b: _const(n.value),
    A.Int: lambda n, b: _const(n.value),
    A.Float: lambda n, b: _const(n.value),
    A.Str: lambda n, b: _const(n.value),
    A.Ident: _c_ident,
    A.Pointer: _c_pointer,
    A.Unary: _c_unary,
    A.Binary: _c_binary,
    A.Conditional: _c_conditional,
    A.Member: _c_member,
    A.Slice: _c_slice,
    A.Array: _c_array,
    A.MapLit: _c_map,
    A.Let: _c_let,
    A.Closure: _c_closure,
    A.Call: _c_call,
}
