"""Golden table for expr-lang: source → value, over a fixed environment (expr v1.17 semantics)."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from tiphys.core.lang import (ExprEvalError, ExprLimitExceeded, ExprSyntaxError, Limits,
                              UnknownName, build_env, compile_expr)
from tiphys.core.lang.expr import Duration

from .conftest import NOW

SCOPE = {
    "inputs.parameters.n": "21",
    "inputs.parameters.f": "2.5",
    "inputs.parameters.my-param": "dash",
    "inputs.parameters.msg": "  Hello World  ",
    "inputs.parameters.cfg": '{"db": {"host": "pg", "port": 5432}, "tags": ["a", "b"]}',
    "steps.a-b.outputs.result": "ab",
    "steps.gen.outputs.result": '[1, 2, 3]',
    "steps.gen.status": "Succeeded",
    "steps.maybe.outputs.parameters.x": None,
    "tasks.t-1.outputs.parameters.p": "tp",
    "workflow.parameters.json": '[{"name":"x","value":"true"}]',
    "workflow.parameters.x": "true",
    "workflow.status": "Running",
    "retries": "2",
    "lastRetry.exitCode": "1",
    "item": "7",
    "cronworkflow.failed": 3,
    "cronworkflow.lastScheduledTime": dt.datetime(2024, 5, 6, 7, 0, 0, tzinfo=dt.timezone.utc),
}
ENV = build_env(SCOPE, now=NOW)

CASES = [
    # literals
    ("1", 1), ("1.5", 1.5), ("1_000", 1000), ("0x1F", 31), ("0o17", 15), ("0b101", 5),
    ("1e3", 1000.0), ("'single'", "single"), ('"dq\\n"', "dq\n"), ("`raw\\n`", "raw\\n"),
    ('"\\u00e9"', "é"), ('"\\x41"', "A"), ("true", True), ("false", False), ("nil", None),
    ("[1, 'a', nil]", [1, "a", None]), ("[]", []), ("{a: 1, 'b': 2}", {"a": 1, "b": 2}),
    ("{}", {}), ("[1, 2,]", [1, 2]), ("{('a' + 'b'): 1}", {"ab": 1}),
    ("{1: 2}", {"1": 2}),
    # arithmetic
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("6 / 3", 2.0), ("7 % 3", 1),
    ("-7 % 3", -1), ("7 % -3", 1), ("2 ** 10", 1024.0), ("2 ^ 3", 8.0), ("2 ** 3 ** 2", 512.0),
    ("-2 ** 2", -4.0), ("1 + 1.5", 2.5), ("10 - 2.5", 7.5), ("3 * 0.5", 1.5), ("-(-3)", 3),
    ("+3", 3), ("1 - -1", 2), ("9223372036854775807 + 1", -9223372036854775808),
    ("'a' + 'b'", "ab"), ("1 / 0", math.inf), ("-1 / 0", -math.inf),
    # comparison and logic
    ("1 < 2", True), ("2 <= 2", True), ("3 > 4", False), ("'a' < 'b'", True),
    ("1 == 1.0", True), ("inputs.parameters.n == 21", False), ("nil == nil", True), ("[1] == [1]", True),
    ("{a: 1} == {a: 1}", True), ("1 != 2", True), ("1 < 2 < 3", True), ("3 > 2 > 2", False),
    ("true && false", False), ("true and true", True), ("false || true", True),
    ("false or false", False), ("!true", False), ("not false", True),
    ("not true == false", True), ("false && (1 / 0 > 0)", False), ("true || 1 > 0", True),
    # ternary and nil handling
    ("1 > 0 ? 'yes' : 'no'", "yes"), ("false ? 1 : true ? 2 : 3", 2),
    ("nil ?? 'd'", "d"), ("'v' ?? 'd'", "v"), ("inputs.parameters.nothere ?? 'fb'", "fb"),
    ("steps.maybe.outputs.parameters.x ?? 'none'", "none"),
    ("steps.nothere?.outputs?.result ?? 'missing'", "missing"),
    ("steps?.nothere?.outputs", None), ("{a: nil}.a?.b", None),
    # membership and strings
    ("2 in [1, 2]", True), ("'k' in {k: 1}", True), ("'z' not in ['a']", True),
    ("'abc' contains 'b'", True), ("'abc' startsWith 'ab'", True), ("'abc' endsWith 'bc'", True),
    ("'abc' matches '^a.c$'", True), ("'abc' not matches 'x'", True), ("1..3", [1, 2, 3]),
    ("3..1", []), ("'hello'[1:3]", "el"), ("[1,2,3,4][1:]", [2, 3, 4]), ("[1,2,3][:-1]", [1, 2]),
    ("[1,2,3][-1]", 3), ("steps['a-b'].outputs.result[0]", 97), ("[1,2,3][5:9]", []),
    # member access from the Argo env
    ("inputs.parameters.n", "21"), ("inputs.parameters['my-param']", "dash"),
    ('inputs.parameters["my-param"]', "dash"), ("steps['a-b'].outputs.result", "ab"),
    ("tasks['t-1'].outputs.parameters['p']", "tp"), ("steps.gen.status == 'Succeeded'", True),
    ("workflow.parameters.x == 'true'", True), ("cronworkflow.failed + 1", 4),
    ("inputs.parameters.missing", None),
    # builtins
    ("len([1, 2])", 2), ("len('héllo')", 5), ("len({a: 1})", 1), ("abs(-3)", 3), ("abs(-2.5)", 2.5),
    ("int('42')", 42), ("int(3.9)", 3), ("int(-3.9)", -3), ("float('2.5')", 2.5), ("float(2)", 2.0),
    ("string(12)", "12"), ("string(1.5)", "1.5"), ("string(1e6)", "1e+06"), ("string(true)", "true"),
    ("string([1, 'a'])", "[1 a]"), ("string(nil)", "<nil>"), ("string({b: 2, a: 1})", "map[a:1 b:2]"),
    ("upper('abc')", "ABC"), ("lower('ABC')", "abc"), ("trim('  x  ')", "x"), ("trim('xxaxx', 'x')", "a"),
    ("trimPrefix('prefix-x', 'prefix-')", "x"), ("trimSuffix('x.txt', '.txt')", "x"),
    ("split('a,b,c', ',')", ["a", "b", "c"]), ("split('a,b,c', ',', 2)", ["a", "b,c"]),
    ("splitAfter('a,b', ',')", ["a,", "b"]), ("replace('aaa', 'a', 'b')", "bbb"),
    ("repeat('ab', 3)", "ababab"), ("join(['a', 'b'], '-')", "a-b"), ("join(['a', 'b'])", "ab"),
    ("indexOf('hello', 'l')", 2), ("lastIndexOf('hello', 'l')", 3), ("hasPrefix('abc', 'a')", True),
    ("hasSuffix('abc', 'c')", True), ("max(1, 5, 3)", 5), ("min(2.5, 1)", 1), ("max([4, 9])", 9),
    ("mean([1, 2, 3, 4])", 2.5), ("median([3, 1, 2])", 2.0), ("ceil(1.2)", 2.0), ("floor(1.8)", 1.0),
    ("round(2.5)", 3.0), ("round(-2.5)", -3.0), ("first([1, 2])", 1), ("last([1, 2])", 2),
    ("first([])", None), ("get({a: 1}, 'a')", 1), ("get([1], 5)", None), ("take([1, 2, 3], 2)", [1, 2]),
    # Go iterates maps in random order; tiphys returns keys sorted so results are reproducible
    ("keys({b: 1, a: 2})", ["a", "b"]), ("values({b: 1, a: 2})", [2, 1]), ("max([])", None),
    ("toPairs({a: 1})", [["a", 1]]), ("fromPairs([['a', 1]])", {"a": 1}),
    ("reverse([1, 2, 3])", [3, 2, 1]), ("uniq([1, 1, 2])", [1, 2]), ("concat([1], [2, 3])", [1, 2, 3]),
    ("flatten([1, [2, [3]]])", [1, 2, 3]), ("sort([3, 1, 2])", [1, 2, 3]),
    ("sort(['b', 'a'], 'desc')", ["b", "a"]), ("toJSON([1, 2])", "[\n  1,\n  2\n]"),
    ("toJSON({a: 'x'})", '{\n  "a": "x"\n}'), ("fromJSON('[1, 2]')", [1.0, 2.0]),
    ("fromJSON('{\"a\": {\"b\": true}}').a.b", True), ("toBase64('hi')", "aGk="),
    ("fromBase64('aGk=')", "hi"), ("type(1)", "int"), ("type('s')", "string"), ("type([])", "array"),
    ("bitand(12, 10)", 8), ("bitor(12, 10)", 14), ("bitxor(12, 10)", 6), ("bitshl(1, 4)", 16),
    ("bitshr(16, 2)", 4), ("bitnot(0)", -1), ("bitushr(-1, 60)", 15),
    # predicates
    ("all([1, 2], # > 0)", True), ("any([1, 2], # > 1)", True), ("none([1, 2], # > 5)", True),
    ("one([1, 2], # > 1)", True), ("filter([1, 2, 3], # % 2 == 1)", [1, 3]),
    ("map([1, 2], # * 10)", [10, 20]), ("map([1, 2], {# * 10})", [10, 20]),
    ("find([1, 2, 3], # > 1)", 2), ("findIndex([1, 2, 3], # > 1)", 1),
    ("findLast([1, 2, 3], # < 3)", 2), ("findLastIndex([1, 2, 3], # < 3)", 1),
    ("count([1, 2, 3], # > 1)", 2), ("sum([1, 2, 3])", 6), ("sum([1, 2.5])", 3.5),
    ("sum([1, 2], # * 2)", 6), ("groupBy([1, 2, 3], # % 2)", {1: [1, 3], 0: [2]}),
    ("sortBy([{k: 2}, {k: 1}], .k)", [{"k": 1}, {"k": 2}]),
    ("sortBy([{k: 2}, {k: 1}], #.k, 'desc')", [{"k": 2}, {"k": 1}]),
    ("reduce([1, 2, 3], #acc + #)", 6), ("reduce([1, 2, 3], #acc + #, 10)", 16),
    ("map(['a', 'b'], #index)", [0, 1]), ("filter([{n: 'x'}, {n: 'y'}], .n == 'y')", [{"n": "y"}]),
    ("map([[1, 2], [3]], len(#))", [2, 1]), ("all([], false)", True),
    ("map([1, 2], map([10], # + 1))", [[11], [11]]),
    # pipes and let
    ("[3, 1, 2] | sort()", [1, 2, 3]), ("'a,b' | split(',') | len()", 2),
    ("steps.gen.outputs.result | fromJSON() | len()", 3), ("[1, 2] | map(# + 1)", [2, 3]),
    ("let x = 2; x * x", 4), ("let x = 1; let y = x + 1; y", 2),
    # Argo functions and sprig
    ("asInt(inputs.parameters.n) * 2", 42), ("asFloat(inputs.parameters.f) * 2", 5.0),
    ("toJson({b: [1, 2], a: '<'})", '{"a":"\\u003c","b":[1,2]}'), ("toJson('x')", '"x"'),
    ("jsonpath(inputs.parameters.cfg, '$.db.host')", "pg"),
    ("jsonpath(inputs.parameters.cfg, '$.db.port')", 5432.0),
    ("jsonpath(inputs.parameters.cfg, '$.tags[*]')", ["a", "b"]),
    ("jsonpath(workflow.parameters.json, '$[0].value') == 'true'", True),
    ("sprig.upper(inputs.parameters.msg)", "  HELLO WORLD  "), ("sprig.trim(inputs.parameters.msg)", "Hello World"),
    ("sprig.default('d', '')", "d"), ("sprig.default('d', 'v')", "v"), ("sprig.int('x')", 0),
    ("sprig.int('12')", 12), ("sprig.add(1, 2, 3.9)", 6), ("sprig.max(1, 7, 3)", 7), ("sprig.min(4, 2)", 2),
    ("sprig.b64dec('aGk=')", "hi"), ("sprig.b64enc('hi')", "aGk="), ("sprig.replace('a', 'b', 'aa')", "bb"),
    ("sprig.title('hello world')", "Hello World"), ("sprig.trunc(2, 'abc')", "ab"),
    ("sprig.contains('b', 'abc')", True), ("sprig.splitList(',', 'a,b')", ["a", "b"]),
    ("sprig.join('-', ['a', 'b'])", "a-b"), ("sprig.list(1, 2)", [1, 2]), ("sprig.dict('k', 'v')", {"k": "v"}),
    ("sprig.seq(3)", "1 2 3"), ("sprig.until(3)", [0, 1, 2]), ("sprig.sha256sum('')",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("sprig.date('2006-01-02', 0)", "1970-01-01"), ("sprig.regexMatch('^a', 'abc')", True),
    ("sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')", "-W-xxW-"), ("sprig.quote('a')", '"a"'),
    ("sprig.empty('')", True), ("sprig.ternary('y', 'n', true)", "y"), ("sprig.snakecase('FirstName')", "first_name"),
    ("sprig.kebabcase('FirstName')", "first-name"), ("sprig.nospace('a b c')", "abc"),
    ("sprig.indent(2, 'a\\nb')", "  a\n  b"), ("sprig.toJson([1])", "[1]"),
    ("sprig.fromJson('{\"a\": 1}').a", 1.0), ("sprig.hasKey({a: 1}, 'a')", True), ("sprig.mod(7, 3)", 1),
    ("sprig.div(7, 2)", 3), ("sprig.sub(1, 3)", -2), ("sprig.mul(2, 3, 4)", 24), ("sprig.addf(1.5, 1)", 2.5),
    ("sprig.base('/a/b.txt')", "b.txt"), ("sprig.ext('b.tar.gz')", ".gz"), ("sprig.dir('/a/b')", "/a"),
    ("sprig.noSuchFunction == nil", True),
    # time
    ("now() == now()", True), ("(now() - cronworkflow.lastScheduledTime).Seconds()", 489.0),
    ("cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime).Seconds() > 360", True),
    ("duration('1h30m').Minutes()", 90.0), ("string(duration('90s'))", "1m30s"),
    ("now() > date('2024-01-01T00:00:00Z')", True), ("now().Year()", 2024),
    ("date('2024-05-06T07:00:00Z').Unix()", 1714978800),
]


@pytest.mark.parametrize(("src", "expected"), [pytest.param(s, e, id=s) for s, e in CASES])
def test_expr_golden(src: str, expected: object) -> None:
    """Each expression evaluates to the value expr-lang gives in Argo's environment."""
    got = compile_expr(src).evaluate(ENV, now=NOW)
    assert got == expected
    assert type(got) is type(expected) or expected is None


ERRORS = [
    ("1 +", ExprSyntaxError, 3), ("(1", ExprSyntaxError, 2), ("'abc", ExprSyntaxError, 5),
    ("a b", ExprSyntaxError, 3), ("1 ?? 2 + 3", ExprSyntaxError, 8), ("@", ExprSyntaxError, 1),
    ("{a 1}", ExprSyntaxError, 4), ("1..", ExprSyntaxError, 3), ('"\\q"', ExprSyntaxError, 3),
    ("unknown + 1", UnknownName, 1), ("1 + 'a'", ExprEvalError, 3), ("'a' < 1", ExprEvalError, 5),
    ("1 and true", ExprEvalError, 3), ("not 1", ExprEvalError, 1), ("[1][5]", ExprEvalError, 4),
    ("nil.x", ExprEvalError, 5), ("7 % 0", ExprEvalError, 3), ("int('x')", ExprEvalError, 1),
    ("len(1)", ExprEvalError, 1), ("filter(1, # > 0)", ExprEvalError, 1),
    ("'a' matches '('", ExprEvalError, 5), ("fromJSON('{')", ExprEvalError, 1),
    ("jsonpath('{', '$.a')", ExprEvalError, 1), ("jsonpath('{\"a\": 1}', '$.b')", ExprEvalError, 1),
    # tiphys refuses sprig's random/crypto functions (Go would run them)
    ("sprig.genCA('x', 1)", ExprEvalError, 6), ("asInt('1.5')", ExprEvalError, 1),
    ("undefinedName ?? 'fb'", UnknownName, 1), ("steps.nothere.outputs.result ?? 'x'", ExprEvalError, 15),
    ("{(1 + 1): 'two'}", ExprEvalError, 1), ("int(' 42')", ExprEvalError, 1), ("max()", ExprEvalError, 1),
    ("inputs.parameters.n.x.y", ExprEvalError, 21), ("1 in 2", ExprEvalError, 3),
    ("'a' matches '(a)\\\\1'", ExprEvalError, 5),
]


@pytest.mark.parametrize(("src", "error", "column"), [pytest.param(*c, id=c[0]) for c in ERRORS])
def test_expr_errors_name_the_column(src: str, error: type, column: int) -> None:
    """Bad expressions raise the module's typed error naming the column."""
    with pytest.raises(error) as info:
        compile_expr(src).evaluate(ENV, now=NOW)
    assert info.value.column == column


def test_now_without_clock_is_an_error() -> None:
    """The core has no clock: `now()` needs the caller's `now`."""
    with pytest.raises(ExprEvalError):
        compile_expr("now()").evaluate(ENV)


@pytest.mark.parametrize("src", [
    pytest.param("map(1..100000, map(1..100000, #))", id="nested-range"),
    pytest.param("repeat('x', 100000000)", id="repeat"),
    pytest.param("1..100000000", id="range"),
    pytest.param("reduce(1..50000, #acc + string(#), '')", id="string-growth"),
    pytest.param("sprig.repeat(100000000, 'x')", id="sprig-repeat"),
])
def test_evaluation_is_bounded(src: str) -> None:
    """Expensive expressions stop with ExprLimitExceeded (or a typed eval error), quickly."""
    limits = Limits(max_steps=20_000, max_string=100_000, max_items=50_000)
    with pytest.raises(ExprEvalError):
        compile_expr(src).evaluate(ENV, limits=limits, now=NOW)


def test_step_budget_is_typed() -> None:
    """Running out of steps is ExprLimitExceeded specifically."""
    with pytest.raises(ExprLimitExceeded):
        compile_expr("map(1..1000, #)").evaluate(ENV, limits=Limits(max_steps=100))


def test_duration_type() -> None:
    """Time arithmetic yields Go durations."""
    d = compile_expr("now() - cronworkflow.lastScheduledTime").evaluate(ENV, now=NOW)
    assert isinstance(d, Duration) and d.go_string() == "8m9s"


def test_compile_once_evaluate_many() -> None:
    """A Program is reusable across environments."""
    prog = compile_expr("asInt(inputs.parameters.n) + 1")
    assert compile_expr("asInt(inputs.parameters.n) + 1") is prog
    for n in range(5):
        assert prog.evaluate(build_env({"inputs.parameters.n": str(n)})) == n + 1
