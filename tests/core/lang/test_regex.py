"""Go-style regular expressions: RE2 syntax, linear-time matching of backtracking-prone patterns."""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.core.lang import ExprEvalError, WhenEvalError, build_env, compile_expr, evaluate_when
from tiphys.core.lang.expr.goregex import compile_go, nfa_search
from tiphys.core.lang.expr.values import Fail

CASES = [
    ("^a.c$", "abc", True), ("^a.c$", "abbc", False), ("(?i)^abc", "ABC", True),
    ("[[:digit:]]+x", "12x", True), ("[[:alpha:]]", "123", False), (r"\bfoo\b", "a foo b", True),
    (r"\bfoo\b", "afoob", False), ("x{2,3}y", "xxy", True), ("x{2,3}y", "xy", False),
    (r"(\d+\.)+\d+", "1.2.3", True), (r"(\d+\.)+\d+$", "1.2.", False),
    ("imminent node shutdown|pod deleted", "pod deleted", True), (r"\d", "٣", False),
    (r"a\z", "a\n", False), ("(a+)+$", "a" * 40 + "!", False), ("(a+)+$", "a" * 40, True),
    ("(a|aa)*c", "a" * 60, False), ("(a|aa)*c", "a" * 60 + "c", True), ("(x*)*y", "x" * 50, False),
    ("^(a|b|ab)*$", "ab" * 30, True), ("(.*a){8}", "a" * 30, True), ("(?s)a.b", "a\nb", True),
    ("a.b", "a\nb", False), ("(?m)^b", "a\nb", True), ("^b", "a\nb", False), (r"[^a-c\d]", "abc1", False),
    ("", "anything", True), ("(a*)*$", "b", True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), [pytest.param(*c, id=f"{c[0]}~{c[1][:12]}") for c in CASES])
def test_search(pattern: str, text: str, expected: bool) -> None:
    """Boolean search gives Go's answer, fast even for nested repetitions."""
    start = time.process_time()
    assert compile_go(pattern).search(text) is expected
    assert time.process_time() - start < 1.0


@pytest.mark.parametrize("pattern", [
    pytest.param(r"(a)\1", id="backreference"), pytest.param("(?=a)", id="lookahead"),
    pytest.param("(?<!a)b", id="lookbehind"), pytest.param("(", id="unbalanced"),
    pytest.param("[[:nope:]]", id="posix-unknown"), pytest.param("a{2,1}", id="bad-repeat"),
])
def test_unsupported_or_invalid_patterns(pattern: str) -> None:
    """RE2 has no backreferences or lookaround; errors are typed."""
    with pytest.raises(Fail):
        compile_go(pattern)


def test_span_operations_refuse_nested_repetition() -> None:
    """find/replace with a blow-up-prone pattern is refused rather than risked."""
    env = build_env({})
    assert compile_expr("sprig.regexFind('b+', 'abbbc')").evaluate(env) == "bbb"
    with pytest.raises(ExprEvalError, match="nests repetitions"):
        compile_expr("sprig.regexFind('(a+)+b', 'aaa')").evaluate(env)


def test_catastrophic_patterns_in_every_language() -> None:
    """`matches`, `=~` and sprig.regexMatch all stay linear."""
    evil, text = "(a+)+$", "a" * 5_000 + "!"
    env = build_env({"t": text})
    start = time.process_time()
    assert compile_expr(f"t matches '{evil}'").evaluate(env) is False
    assert compile_expr(f"sprig.regexMatch('{evil}', t)").evaluate(env) is False
    assert evaluate_when(f"'{'a' * 2000}!' =~ '{evil}'") is False
    assert time.process_time() - start < 10
    with pytest.raises(WhenEvalError):
        evaluate_when("a =~ '(a)\\\\1'")


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"(\^)?([ab.]|\[ab\]|\((a|b|ab)\))([*+?]|\{1,2\})?([ab.]([*+?])?){0,3}(\$)?", fullmatch=True),
       st.text(alphabet="ab\n", max_size=12))
def test_nfa_agrees_with_python(pattern: str, text: str) -> None:
    """On simple patterns both engines exist; the NFA must agree with Python's `re`."""
    python_pattern = pattern.replace("$", r"\Z")  # Go's `$` is end of text, Python's is not
    assert nfa_search(pattern, text) is (re.search(python_pattern, text, re.ASCII) is not None)
