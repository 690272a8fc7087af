"""The `depends` parser, Argo's bare-name expansion, and compiled programs against the tree.

Tests taking `parser` run on the pure-Python reference and on the Cython parser, installed as the
one `parse_depends` uses (see conftest)."""
from __future__ import annotations

import itertools

import pytest

from tiphys.core.dag import DependsSyntaxError, Outcome, parse_depends
from tiphys.core.dag.depends import (BARE_MASK, PARSERS, And, Not, Or, Ref, compile_program, evaluate,
                                     from_dependencies, references, to_text)

from .conftest import PARSER_NAMES

S, F, E, SK, O, D = (int(x) for x in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ERRORED,
                                      Outcome.SKIPPED, Outcome.OMITTED, Outcome.DAEMONED))


@pytest.mark.parametrize("text, tree", [
    pytest.param("a", Ref("a"), id="bare"),
    pytest.param("a-b.Succeeded", Ref("a-b", "Succeeded"), id="dash-name"),
    pytest.param("0x.AllFailed", Ref("0x", "AllFailed"), id="digit-start"),
    pytest.param("a && b || c", Or(And(Ref("a"), Ref("b")), Ref("c")), id="and-binds-tighter"),
    pytest.param("a || b && c", Or(Ref("a"), And(Ref("b"), Ref("c"))), id="and-binds-tighter-right"),
    pytest.param("!a && b", And(Not(Ref("a")), Ref("b")), id="not-binds-tightest"),
    pytest.param("!(a || b)", Not(Or(Ref("a"), Ref("b"))), id="not-parens"),
    pytest.param(" ( a.Failed||b.Errored )&&\n c.Daemoned ",
                 And(Or(Ref("a", "Failed"), Ref("b", "Errored")), Ref("c", "Daemoned")), id="whitespace"),
    pytest.param("a && b && c", And(And(Ref("a"), Ref("b")), Ref("c")), id="left-assoc"),
    pytest.param("!!a.Omitted", Not(Not(Ref("a", "Omitted"))), id="double-not"),
])
def test_parse(parser, text, tree):
    """Argo's grammar parses with expr-lang precedence."""
    assert parser.parse(text) == tree
    assert parse_depends(text) == tree


@pytest.mark.parametrize("text, column, fragment", [
    pytest.param("", 1, "empty", id="empty"),
    pytest.param("   ", 4, "empty", id="blank"),
    pytest.param("a &&", 5, "ended", id="dangling-and"),
    pytest.param("a.Foo", 3, "unknown result 'Foo'", id="bad-result"),
    pytest.param("a.succeeded", 3, "unknown result 'succeeded'", id="result-case"),
    pytest.param("a.", 3, "unknown result ''", id="empty-result"),
    pytest.param("(a || b", 8, "unclosed", id="unclosed"),
    pytest.param("a b", 3, "unexpected 'b'", id="juxtaposed"),
    pytest.param("a)", 2, "unexpected ')'", id="stray-paren"),
    pytest.param("-a", 1, "found '-'", id="leading-dash"),
    pytest.param("a_b", 2, "unexpected '_'", id="underscore"),
    pytest.param("a & b", 3, "unexpected '&'", id="single-amp"),
    pytest.param("a || !", 7, "ended", id="dangling-not"),
    pytest.param("a.Succeeded.Failed", 12, "unexpected '.'", id="double-result"),
])
def test_syntax_errors_name_the_column(parser, text, column, fragment):
    """Bad expressions raise DependsSyntaxError with a 1-based column and the task named."""
    with pytest.raises(DependsSyntaxError) as info:
        parser.parse(text)
    assert info.value.column == column and fragment in info.value.message and not info.value.task
    with pytest.raises(DependsSyntaxError) as info:
        parse_depends(text, task="t1", path="tasks[3].depends")
    err = info.value
    assert err.column == column
    assert fragment in str(err)
    assert err.task == "t1" and err.path == "tasks[3].depends" and isinstance(err, ValueError)
    assert "'t1'" in str(err) and f"column {column}" in str(err)


def test_dependencies_become_bare_and():
    """`dependencies: [a, b, c]` is `a && b && c` (Argo joins the bare names with ` && `)."""
    assert from_dependencies(["a", "b", "c"]) == parse_depends("a && b && c")
    assert from_dependencies([]) is None


def test_bare_expansion_follows_continue_on_of_the_dependency():
    """A bare name gains Errored/Failed from *that dependency's* continueOn (§3.7)."""
    cont = {"a": (False, False), "b": (True, False), "c": (False, True), "d": (True, True)}
    tree = parse_depends("a && b && c && d.Succeeded")
    assert to_text(tree, continue_on=cont.__getitem__) == (
        "(a.Succeeded || a.Skipped || a.Daemoned) && (b.Succeeded || b.Skipped || b.Daemoned || b.Failed)"
        " && (c.Succeeded || c.Skipped || c.Daemoned || c.Errored) && d.Succeeded")


def test_to_text_round_trips(parser):
    """Rendering and re-parsing gives the same tree (parentheses only where precedence needs them)."""
    for text in ["(a || b) && !c.Failed", "a || b && c", "!(a && b)", "!!a", "(a || b) && (c || d)"]:
        tree = parse_depends(text)
        assert parse_depends(to_text(tree)) == tree


def test_references_are_unique_in_order(parser):
    assert references(parse_depends("b.Failed || (a && b) || !c || a")) == ["b", "a", "c"]


def _truth(tree, outcome):
    """Direct semantics of a tree (the oracle the compiled program must match)."""
    if isinstance(tree, Ref):
        mask = BARE_MASK if tree.result is None else {
            "Succeeded": S, "Failed": F, "Errored": E, "Skipped": SK, "Omitted": O, "Daemoned": D,
            "AnySucceeded": int(Outcome.ANY_SUCCEEDED), "AllFailed": int(Outcome.ALL_FAILED)}[tree.result]
        return bool(outcome[tree.task] & mask)
    if isinstance(tree, Not):
        return not _truth(tree.operand, outcome)
    if isinstance(tree, And):
        return _truth(tree.left, outcome) and _truth(tree.right, outcome)
    return _truth(tree.left, outcome) or _truth(tree.right, outcome)


@pytest.mark.parametrize("text", [
    "a", "a.Succeeded", "a.Failed || b", "!(a && b.Skipped)", "a.Omitted && !b.Omitted || c.Daemoned",
    "(a || b) && (b.Errored || !c)", "!!a && !(!b || c.Failed)",
])
def test_program_matches_tree_on_every_outcome(parser, text):
    """The postfix program agrees with the tree for every combination of dependency phases, and
    the parser compiles the text straight to the same program."""
    index = {"a": 0, "b": 1, "c": 2}
    tree = parse_depends(text)
    words, depth = compile_program(tree, index=index, bare_mask=lambda _: BARE_MASK)
    assert depth >= 1
    assert parser.compile(text, index, [BARE_MASK] * 3)[:2] == (words, depth)
    phases = [S, F, E, SK, O, D, D | S]
    for combo in itertools.product(phases, repeat=3):
        outcome = dict(zip("abc", combo))
        assert evaluate(words, combo) == _truth(tree, outcome), (text, combo)


def test_bare_name_semantics(parser):
    """Bare accepts Succeeded/Skipped/Daemoned, never Omitted; `.Succeeded` accepts only Succeeded."""
    words, _ = compile_program(parse_depends("a"), index={"a": 0}, bare_mask=lambda _: BARE_MASK)
    assert [evaluate(words, [o]) for o in (S, F, E, SK, O, D)] == [True, False, False, True, False, True]
    words, _ = compile_program(parse_depends("a.Succeeded"), index={"a": 0}, bare_mask=lambda _: BARE_MASK)
    assert [evaluate(words, [o]) for o in (S, F, E, SK, O, D)] == [True, False, False, False, False, False]


def test_deep_expression_does_not_recurse_in_compile(parser):
    """A long chain compiles iteratively (parsing nests only through parentheses)."""
    names = [f"t{i}" for i in range(3000)]
    index = {n: i for i, n in enumerate(names)}
    tree = parse_depends(" || ".join(names))
    words, depth = compile_program(tree, index=index, bare_mask=lambda _: 1)
    assert depth == 2 and len(words) == 3 * 3000 - 1
    assert parser.compile(" || ".join(names), index, [1] * 3000) == (words, 2, list(range(3000)), None)
    assert evaluate(words, [0] * 2999 + [1]) and not evaluate(words, [0] * 3000)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = ["a", "b-1", "c", ".Succeeded", ".Failed", ".Omitted", ".Bogus", ".", "&&", "||", "&", "|",
           "!", "(", ")", " ", "\n", "_", "-", "x y"]


@pytest.mark.parametrize("name", PARSER_NAMES)
@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=14))
def test_fuzz_parse_never_crashes(name, pieces):
    """Any text either parses (and re-renders to the same tree) or raises DependsSyntaxError
    with a column inside the text (or just past its end)."""
    parser = PARSERS[name]
    text = "".join(pieces)
    try:
        tree = parser.parse(text)
    except DependsSyntaxError as err:
        assert 1 <= err.column <= len(text) + 1
    else:
        assert parser.parse(to_text(tree)) == tree


def test_deep_nesting_is_a_typed_error_or_parses():
    """The Python reference recurses: past its depth it refuses with a DependsSyntaxError, never a
    RecursionError; the Cython parser has no depth limit."""
    text = "(" * 5000 + "a" + ")" * 5000
    for name, parser in PARSERS.items():
        try:
            assert parser.postfix(text) == [("a", None)], name
        except DependsSyntaxError as exc:
            assert name == "python" and "nested too deeply" in str(exc)
