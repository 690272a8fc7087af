"""`when:` golden table: govaluate semantics after substitution, as Argo's shouldExecute runs it."""
from __future__ import annotations

import pytest

from tiphys.core.lang import WhenEvalError, WhenSyntaxError, evaluate_when, parse_when, substitute
from tiphys.core.lang.govaluate import tokenize

TRUE_FALSE = [
    ("", True),
    ("heads == heads", True), ("heads == tails", False), ("heads != tails", True),
    ("Succeeded == Succeeded", True), ("Failed == Succeeded", False),
    ("7 > 5", True), ("7 < 5", False), ("5 >= 5", True), ("5 <= 4", False),
    ("10 > 9", True), ("'10' > '9'", False), ("abc < abd", True), ("b > a", True),
    ("1 == 1.0", True), ("1.5 == 1.50", True), ("true == true", True), ("true != false", True),
    ("true", True), ("false", False), ("!false", True), ("!(1 == 1)", False),
    ("'quoted string' == 'quoted string'", True), ('"dq" == dq', True), ("'a' == \"a\"", True),
    ("YES == YES", True), ("yes == YES", False),
    ("1 != 1 && 2 != 2", False), ("3 != 1 && 3 != 2", True), ("1 == 1 || x == y", True),
    ("false || false", False), ("true && true && true", True), ("false && 1", False),
    ("true || 1", True), ("(1 == 1) && (2 == 2)", True), ("((true))", True),
    ("abc =~ '^a'", True), ("abc =~ '^b'", False), ("heads =~ hea", True), ("tails =~ hea", False),
    ("abc !~ x", True), ("'a.b' =~ 'a\\\\.b'", True),
    ("a in ('a', 'b')", True), ("c in ('a', 'b')", False), ("1 in (1, 2)", True), ("x IN (x, y)", True),
    ("1 + 2 == 3", True), ("2 * 3 == 6", True), ("7 / 2 == 3.5", True), ("7 % 4 == 3", True),
    ("2 ** 3 == 8", True), ("-1 < 0", True), ("- 1 == -1", True), ("10 - 2 - 3 == 5", True),
    ("2 + 3 * 4 == 14", True), ("(2 + 3) * 4 == 20", True), ("a + b == ab", True),
    ("'x' + 1 == x1", True), ("6 & 3 == 2", True), ("6 | 3 == 7", True), ("6 ^ 3 == 5", True),
    ("1 << 3 == 8", True), ("16 >> 2 == 4", True), ("~0 == -1", True),
    (".5 == 0.5", True), ("5. == 5", True),
    ("true ? true : false", True), ("false ? true : false", False), ("1 > 2 ? false : true", True),
    ("false ?? true", False), ("(false ? 1 : 2) == 2", True),
    ("'2024-01-01' < '2024-02-01'", True), ("'2024-01-01T00:00:00Z' == '2024-01-01'", True),
    ("'2024-01-01 10:00' > '2024-01-01'", True), ("'3:04PM' < '4:00PM'", True),
    ("'Mon Jan  2 15:04:05 2006' == '2006-01-02 15:04:05'", True),
    ("[weird var] == 'weird var'", True), ("a\\ b == 'a b'", True),
    ("Running != Succeeded", True), ("Error == Error", True),
    ("true == 'true'", False), ("1 == '1'", False), ("'' == ''", True),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=t or "empty") for t, e in TRUE_FALSE])
def test_when_golden(text: str, expected: bool) -> None:
    """The substituted `when` evaluates as Argo evaluates it."""
    assert evaluate_when(text) is expected


ERRORS = [
    ("'7' > 5", WhenEvalError, 5),
    ("hello world == x", WhenSyntaxError, 7),
    ("my-value == x", WhenEvalError, 3),
    ("it's == x", WhenSyntaxError, 3),
    ("foo.bar == x", WhenEvalError, 1),
    ("foo.Bar == x", WhenEvalError, 1),
    ("foo. == x", WhenSyntaxError, 1),
    ("1.2.3 == 1", WhenSyntaxError, 1),
    ("a = b", WhenSyntaxError, 3),
    ("a === b", WhenSyntaxError, 3),
    ("1 +", WhenSyntaxError, 4),
    ("(1 == 1", WhenSyntaxError, 1),
    ("1 == 1)", WhenSyntaxError, 7),
    ("5", WhenEvalError, None),
    ("heads", WhenEvalError, None),
    ("1 + 1", WhenEvalError, None),
    ("1 && true", WhenEvalError, 3),
    ("!x", WhenEvalError, 1),
    ("a < 1", WhenEvalError, 3),
    ("1 ? true : false", WhenEvalError, 3),
    ("a in b", WhenEvalError, 3),
    ("x =~ '('", WhenEvalError, 3),
    ("'unclosed", WhenSyntaxError, 1),
    ("[unclosed", WhenSyntaxError, 1),
    ("a @ b", WhenSyntaxError, 3),
    ("heads == heads tails", WhenSyntaxError, 16),
    ("f(x) == 1", WhenSyntaxError, 2),
    ("   ", WhenEvalError, None),
    # a string ends at either quote character: `"it'` closes early and `s"` opens a new one
    ("it\\'s == \"it's\"", WhenSyntaxError, 15),
]


@pytest.mark.parametrize(("text", "error", "column"), [pytest.param(*c, id=c[0]) for c in ERRORS])
def test_when_errors(text: str, error: type, column: int | None) -> None:
    """Errors are typed and name the column; parse errors quote the expression like Argo."""
    with pytest.raises(error) as info:
        evaluate_when(text)
    assert info.value.column == column
    if error is WhenSyntaxError and text.strip():
        assert info.value.message.startswith(f"Invalid 'when' expression '{text}'")


def test_invalid_token_hint() -> None:
    """Argo adds a quoting hint to "Invalid token" errors."""
    with pytest.raises(WhenSyntaxError) as info:
        evaluate_when("a = b")
    assert "hint: try wrapping" in info.value.message


SUBSTITUTED = [
    ("{{steps.flip-coin.outputs.result}} == heads", {"steps.flip-coin.outputs.result": "heads"}, True),
    ("{{steps.flip-coin.outputs.result}} == tails", {"steps.flip-coin.outputs.result": "heads"}, False),
    ("{{inputs.parameters.num}} != 1 && {{inputs.parameters.num}} != 2", {"inputs.parameters.num": "3"}, True),
    ("{{steps.iterate-counter.outputs.result}} < {{inputs.parameters.limit}}",
     {"steps.iterate-counter.outputs.result": "4", "inputs.parameters.limit": "10"}, True),
    ("{{item.evenness}} == even", {"item.evenness": "even"}, True),
    ("{{workflow.status}} != Succeeded", {"workflow.status": "Failed"}, True),
    ("'{{inputs.parameters.v}}' != true", {"inputs.parameters.v": "false"}, True),
    ("{{inputs.parameters.should-print}} == true", {"inputs.parameters.should-print": "true"}, True),
    ("{{= inputs.parameters['should-print'] == 'true'}}", {"inputs.parameters.should-print": "true"}, True),
    ("{{item}} =~ '^a'", {"item": "abc"}, True),
]


@pytest.mark.parametrize(("when", "scope", "expected"), [pytest.param(*c, id=c[0]) for c in SUBSTITUTED])
def test_when_after_substitution(when: str, scope: dict[str, str], expected: bool) -> None:
    """The full pipeline: substitute tags, then govaluate."""
    assert evaluate_when(substitute(when, scope)) is expected


def test_variables_are_retyped_to_strings() -> None:
    """Bare words lex as VARIABLE and are compared as strings."""
    kinds = [t.kind for t in tokenize("heads == 'x' && 1 < 2.5 && true")]
    assert kinds == ["var", "op", "str", "op", "num", "op", "num", "op", "bool"]
    assert parse_when("heads").value == "heads"


def test_quoted_dates_become_unix_seconds() -> None:
    """govaluate turns date-like strings into TIME tokens (float seconds)."""
    (tok,) = tokenize("'2024-01-01'")
    assert tok.kind == "time" and tok.value == 1704067200.0
