"""Property tests: the three parsers never crash or hang on arbitrary input, and print → parse
round-trips for tags, govaluate and expr-lang ASTs."""
from __future__ import annotations

import string
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiphys.core.lang import (LangError, Limits, Tag, build_env, compile_expr, compile_template,
                              evaluate_when, parse_when, substitute, substitute_object)
from tiphys.core.lang import govaluate as G
from tiphys.core.lang._govaluate_lexer import parse_time
from tiphys.core.lang.expr import ast as A
from tiphys.core.lang.expr import parse, shape, to_source
from tiphys.core.lang.expr.parser import PREDICATE_BUILTINS

from .conftest import NOW

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_steps=5_000, max_string=10_000, max_items=1_000)

# text biased towards each language's punctuation so the parsers are actually exercised
_PUNCT = "{}[]()=!<>&|?:.,#'\"`\\+-*/%^~ $_"
TEXT = st.lists(
    st.sampled_from(list(string.ascii_letters[:8] + string.digits[:4] + _PUNCT)
                    + ["{{", "}}", "{{=", "&&", "||", "??", "?.", "..", "==", " in ", " not ",
                       "true", "nil", "#", "map(", "é", "\n", "x.y", "'s'", "1.5"]),
    max_size=30).map("".join)
ANY_TEXT = st.one_of(TEXT, st.text(max_size=60))

SCOPE = {"x": "1", "x.y": "2", "a": "abc", "steps.s.outputs.result": "[1,2]",
         "inputs.parameters.p": "v", "nil": None}
ENV = build_env(SCOPE, now=NOW)


# --- tags --------------------------------------------------------------------------------------
@SETTINGS
@given(ANY_TEXT)
def test_tags_never_crash(text: str) -> None:
    """Arbitrary text: segments or TagSyntaxError; substitution raises only LangError."""
    try:
        segs = compile_template(text)
    except LangError:
        return
    rebuilt = "".join(s if isinstance(s, str) else s.raw for s in segs)
    assert rebuilt == text
    for strict in (False, True):
        try:
            out = substitute(text, SCOPE, strict=strict, limits=LIMITS, now=NOW)
        except LangError:
            continue
        assert isinstance(out, str)


LITERAL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10).filter(
    lambda s: "{{" not in s and "}}" not in s and not s.endswith("{") and not s.startswith("}"))
NAME = st.text(alphabet=string.ascii_letters + string.digits + ".-_", min_size=1, max_size=12)


@SETTINGS
@given(st.lists(st.one_of(LITERAL, NAME.map(lambda n: Tag(n, 0, "{{" + n + "}}"))), max_size=8))
def test_tags_print_parse_round_trip(parts: list[Any]) -> None:
    """Printing segments and compiling the text gives back the same tag names in order."""
    text = "".join(p if isinstance(p, str) else p.raw for p in parts)
    names = [p.name for p in parts if isinstance(p, Tag)]
    assert [s.name for s in compile_template(text) if isinstance(s, Tag)] == names


@SETTINGS
@given(st.text(max_size=80), st.text(max_size=20))
def test_any_value_is_substituted_verbatim(value: str, around: str) -> None:
    """Whatever a value contains, it is inserted as-is and never re-interpreted."""
    around = around.replace("{", "(").replace("}", ")")
    assert substitute("{{v}}", {"v": value}) == value
    assert substitute(around + "{{v}}" + around, {"v": value}) == around + value + around
    obj = {"k": ["{{v}}", {"n": "{{ v }}"}], "{{v}}": 1}
    assert substitute_object(obj, {"v": value}) == {"k": [value, {"n": value}], value: 1}


# --- govaluate ---------------------------------------------------------------------------------
@SETTINGS
@given(ANY_TEXT)
def test_when_never_crashes(text: str) -> None:
    """Arbitrary `when` text gives a bool or a WhenError."""
    try:
        assert isinstance(evaluate_when(text), bool)
    except G.WhenSyntaxError:
        pass
    except G.WhenEvalError:
        pass


def _no_date(s: str) -> bool:
    return parse_time(s) is None


W_STR = st.text(alphabet=string.ascii_letters + " -_'\"\\", max_size=8).filter(_no_date)
W_LEAF = st.one_of(
    st.builds(G.Lit, st.floats(min_value=0, max_value=1e15, allow_nan=False), st.just("num")),
    st.builds(G.Lit, st.booleans(), st.just("bool")),
    st.builds(G.Lit, W_STR, st.just("str")),
    st.builds(G.Accessor, st.from_regex(r"[a-z][a-z0-9]{0,3}\.[A-Z][a-z]{0,3}", fullmatch=True)),
)
W_OPS = sorted({op for level in G._LEVELS for op in level})
W_TREE = st.recursive(W_LEAF, lambda kids: st.one_of(
    st.builds(G.Prefix, st.sampled_from(["-", "!", "~"]), kids),
    st.builds(G.Infix, st.sampled_from(W_OPS), kids, kids),
    st.builds(G.ListNode, st.lists(kids, min_size=2, max_size=3).map(tuple)),
), max_leaves=12)


def _wshape(node: Any) -> Any:
    if isinstance(node, tuple):
        return tuple(_wshape(x) for x in node)
    if isinstance(node, msgspec.Struct):
        return (type(node).__name__,) + tuple(_wshape(getattr(node, f))
                                              for f in node.__struct_fields__ if f != "column")
    return node


@SETTINGS
@given(W_TREE)
def test_when_print_parse_round_trip(tree: Any) -> None:
    """parse_when(to_source(t)) == t for every govaluate AST."""
    text = G.to_source(tree)
    assert _wshape(parse_when(text)) == _wshape(tree)


# --- expr-lang ---------------------------------------------------------------------------------
@SETTINGS
@given(ANY_TEXT)
def test_expr_never_crashes(text: str) -> None:
    """Arbitrary expr text: compile error or a value, only typed errors, always bounded."""
    try:
        program = compile_expr(text)
    except LangError:
        return
    try:
        program.evaluate(ENV, limits=LIMITS, now=NOW)
    except LangError:
        pass


_RESERVED = {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let",
             "nil", "true", "false"}
IDENT = st.from_regex(r"[a-z_$][a-zA-Z0-9_$]{0,5}", fullmatch=True).filter(
    lambda s: s not in _RESERVED and s not in PREDICATE_BUILTINS)
E_STR = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
E_LEAF = st.one_of(
    st.builds(A.Nil), st.builds(A.Bool, st.booleans()),
    st.builds(A.Int, st.integers(min_value=0, max_value=2 ** 63 - 1)),
    st.builds(A.Float, st.floats(min_value=0, allow_nan=False, allow_infinity=False)),
    st.builds(A.Str, E_STR), st.builds(A.Ident, IDENT),
    st.builds(A.Pointer, st.sampled_from(["", "index", "acc"])),
)
E_BINOPS = ["or", "||", "and", "&&", "==", "!=", "<", ">", "<=", ">=", "in", "matches",
            "contains", "startsWith", "endsWith", "..", "+", "-", "*", "/", "%", "**", "^", "??"]


def _extend(kids: Any) -> Any:
    member_prop = st.one_of(st.builds(A.Str, E_STR), kids)
    return st.one_of(
        st.builds(A.Unary, st.sampled_from(["not", "!", "-", "+"]), kids),
        st.builds(A.Binary, st.sampled_from(E_BINOPS), kids, kids),
        st.builds(A.Conditional, kids, kids, kids),
        st.builds(A.Member, kids, member_prop, st.booleans()),
        st.builds(A.Slice, kids, st.none() | kids, st.none() | kids),
        st.builds(A.Call, st.builds(A.Ident, IDENT), st.lists(kids, max_size=3).map(tuple)),
        st.builds(A.Call, st.builds(A.Member, kids, st.builds(A.Str, IDENT)),
                  st.lists(kids, max_size=2).map(tuple)),
        st.builds(lambda name, first, body, extra: A.Call(A.Ident(name), (first, A.Closure(body)) + extra),
                  st.sampled_from(sorted(PREDICATE_BUILTINS)), kids, kids,
                  st.lists(st.builds(A.Str, E_STR), max_size=1).map(tuple)),
        st.builds(A.Array, st.lists(kids, max_size=3).map(tuple)),
        st.builds(A.MapLit, st.lists(st.tuples(st.one_of(st.builds(A.Str, E_STR), kids), kids),
                                     max_size=3).map(tuple)),
        st.builds(A.Let, IDENT, kids, kids),
    )


E_TREE = st.recursive(E_LEAF, _extend, max_leaves=14)


@SETTINGS
@given(E_TREE)
def test_expr_print_parse_round_trip(tree: Any) -> None:
    """parse(to_source(t)) == t (ignoring positions) for every expr AST."""
    text = to_source(tree)
    assert shape(parse(text)) == shape(tree)
    assert to_source(parse(text)) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(E_TREE)
def test_printed_expressions_evaluate_safely(tree: Any) -> None:
    """Evaluating any well-formed expression yields a value or a typed error within budget."""
    try:
        compile_expr(to_source(tree)).evaluate(ENV, limits=LIMITS, now=NOW)
    except LangError:
        pass


# --- every function, any arguments -------------------------------------------------------------
from tiphys.core.lang.expr.builtins import BUILTINS  # noqa: E402
from tiphys.core.lang.expr.sprig import make_sprig  # noqa: E402

VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(),
              st.text(max_size=12)),
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.text(max_size=4), kids, max_size=3)),
    max_leaves=8)
_LITERAL_ENV = build_env({}, now=NOW)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(BUILTINS) + ["sprig." + n for n in sorted(make_sprig(NOW))]),
       st.lists(VALUES, max_size=4))
def test_every_function_any_arguments(name: str, args: list[Any]) -> None:
    """Builtins and sprig functions given arbitrary values return or raise a typed error."""
    env = dict(_LITERAL_ENV)
    env.update({f"a{i}": v for i, v in enumerate(args)})
    src = f"{name}({', '.join(f'a{i}' for i in range(len(args)))})"
    try:
        compile_expr(src).evaluate(env, limits=LIMITS, now=NOW)
    except LangError:
        pass


# --- partial envs are equivalent to the full expansion ----------------------------------------
_KEYS = st.sampled_from(["a", "b", "a.b", "a.c", "a.b.c", "b.x", "b.x.y", "c-d.e", "a.b-c"])
_EXPRS = st.sampled_from([
    "a", "a.b", "a.c", "a.b.c", "a?.z?.q ?? 'n'", "b.x.y", "b?.x?.y", "keys(a)", "toJson(a)",
    "a.b ?? 'z'", "b['x']", "a['b-c']", "c?.d ?? 'n'", "['c-d'] | len()", "toJson(b)", "a.q",
])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, st.one_of(st.none(), st.text(alphabet="xyz", max_size=2)),
                       max_size=6), _EXPRS)
def test_partial_env_matches_full_env(scope: dict[str, Any], expression: str) -> None:
    """A `{{= }}` tag sees the same values through its partial env as through the full one."""
    text = "{{=" + expression + "}}"

    def run(**kw: Any) -> str:
        try:
            return substitute(text, scope, **kw)
        except LangError as exc:
            return f"error {type(exc).__name__}"

    assert run() == run(env=build_env(scope))
