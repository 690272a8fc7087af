"""The Cython `depends` parser against the pure-Python reference (STYLE 9, PEP 399): on any text
the same postfix or the same error at the same column, and on any index the same program.

The suite in test_dag_depends.py runs on both parsers; these are the differential tests, and
what only the Cython parser has to show (long texts past its stack buffers, any nesting depth)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.core.dag import DependsSyntaxError, compile_dag
from tiphys.core.dag import depends as dep
from tiphys.core.dag.depends import BARE_MASK, PARSERS, compile_program, references
from tiphys.core.dag.outcome import RESULT_NAMES

from .test_dag_differential import make_graph

pytestmark = pytest.mark.skipif("native" not in PARSERS, reason="Cython extension tiphys.core._fast._depends "
                                "not built; run `pip install --no-build-isolation -e .`")

PY = PARSERS["python"]
NATIVE = PARSERS.get("native")


def _outcome(call, *args):
    """What a call gives: its value, or the error that matters (syntax: message and column)."""
    try:
        return "ok", call(*args)
    except DependsSyntaxError as err:
        return "syntax", err.message, err.column, str(err)
    except KeyError as err:
        return "unknown", err.args


def test_result_names_and_ops_agree_with_the_reference():
    """The Cython module repeats the result bits and operator codes; they must not drift."""
    from tiphys.core._fast import _depends
    assert {name: 1 << k for k, name in enumerate(_depends.RESULT_NAMES)} == RESULT_NAMES
    assert _depends.postfix("!(a && b || c)") == [("a", None), ("b", None), dep.OP_AND, ("c", None), dep.OP_OR,
                                                   dep.OP_NOT]


# Fragments chosen to hit every tokenizer branch: names with dashes and digits, good and bad
# results, every operator, their single-character halves, blanks Argo skips and blanks it does
# not (\v, NBSP), non-ASCII letters in 1-, 2- and 4-byte strings, and stray punctuation.
_FRAGMENTS = ["a", "b-1", "0x", "t-", "c", ".Succeeded", ".AllFailed", ".Omitted", ".Bogus", ".succeeded", ".",
              "&&", "||", "&", "|", "!", "(", ")", " ", "\t", "\r\n", "\x0b", "\u00a0", "é", "ж", "\U0001F600",
              "_", "-", ",", "'", '"', "x y", "and", "1"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=24))
def test_any_text_same_postfix_or_same_error(pieces):
    """Random texts: identical postfix, or identical message and column."""
    text = "".join(pieces)
    assert _outcome(NATIVE.postfix, text) == _outcome(PY.postfix, text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_unicode_same_outcome(text):
    """Arbitrary code points (surrogates and controls included) change nothing."""
    assert _outcome(NATIVE.postfix, text) == _outcome(PY.postfix, text)


def _expr(draw, names: list[str], depth: int) -> str:
    """A random well-formed expression, with random blanks and redundant parentheses."""
    blank = draw(st.sampled_from(["", " ", "  ", "\n"]))
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(names))
        result = draw(st.sampled_from([None, *RESULT_NAMES]))
        atom = name if result is None else f"{name}.{result}"
    else:
        op = draw(st.sampled_from(["&&", "||"]))
        atom = f"{_expr(draw, names, depth + 1)}{blank}{op}{blank}{_expr(draw, names, depth + 1)}"
    if draw(st.booleans()):
        atom = f"({blank}{atom}{blank})"
    return "!" * draw(st.sampled_from([0, 0, 0, 1, 2])) + atom


@st.composite
def programs(draw):
    names = [f"t{k}" for k in range(draw(st.integers(1, 6)))] + ["u-1", "9z"]
    text = _expr(draw, names, 0)
    # Some names are unknown to the index (KeyError expected); bare masks vary by task.
    known = [n for n in names if draw(st.integers(0, 9)) > 0]
    index = {n: k for k, n in enumerate(known)}
    bare = [BARE_MASK | draw(st.sampled_from([0, 2, 4, 6])) for _ in known]
    return text, index, bare


@settings(max_examples=600, deadline=None)
@given(programs())
def test_compile_same_program_as_reference_and_tree(case):
    """compile(text) is identical in both parsers, and equals compiling the reference's tree with
    the dependencies read off the program and the conjunction rule applied by hand."""
    text, index, bare = case
    got = _outcome(NATIVE.compile, text, index, bare)
    assert got == _outcome(PY.compile, text, index, bare)
    tree = PY.parse(text)
    missing = [n for n in references(tree) if n not in index]
    if missing:
        assert got == ("unknown", (missing[0],))
        return
    words, depth = compile_program(tree, index=index, bare_mask=lambda n: bare[index[n]])
    ids = list(dict.fromkeys(index[n] for n in references(tree)))
    preds: list[int] = []
    k, ops = 0, set()
    while k < len(words):
        if words[k] >= 0:
            preds.append(words[k + 1])
            k += 2
        else:
            ops.add(words[k])
            k += 1
    conj = preds if ops <= {dep.OP_AND} and len(preds) == len(ids) else None
    assert got == ("ok", (words, depth, ids, conj))


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "zz", 3, None]), max_size=30), st.randoms())
def test_compile_names_same_as_reference(names, rng):
    """`dependencies:` lists: duplicates kept once in order, unknown and non-string names raise
    KeyError naming the first; both implementations alike, long lists (set path) included."""
    index = {n: k for k, n in enumerate("abcd")}
    bare = [rng.choice([BARE_MASK, BARE_MASK | 2, BARE_MASK | 4]) for _ in range(4)]
    long_names = [f"n{k}" for k in range(40)] + names + [f"n{k}" for k in range(0, 40, 3)]
    long_index = {**index, **{f"n{k}": 4 + k for k in range(40)}}
    long_bare = bare + [BARE_MASK] * 40
    for args in ((names, index, bare), (long_names, long_index, long_bare), ([["a"]], index, bare)):
        assert _outcome(NATIVE.compile_names, *args) == _outcome(PY.compile_names, *args)


def test_long_texts_use_the_heap_path():
    """Texts longer than the on-stack buffers (64 code points) parse and fail alike."""
    names = [f"task-{k}" for k in range(300)]
    index = {n: k for k, n in enumerate(names)}
    text = " && ".join(f"({n}.Succeeded || {n}.Skipped)" if k % 2 else n for k, n in enumerate(names))
    assert NATIVE.compile(text, index, [BARE_MASK] * 300) == PY.compile(text, index, [BARE_MASK] * 300)
    for bad in (text + " &&", text + " )", "(" + text, text[:-1] + ".Nope)", text + " ж"):
        assert _outcome(NATIVE.postfix, bad) == _outcome(PY.postfix, bad)
        assert _outcome(NATIVE.postfix, bad)[0] == "syntax"


def test_nesting_depth_is_unbounded_in_c():
    """The Cython parser keeps its own stack: 100,000 nested parentheses or `!`s parse. (The
    reference recurses, so it stops at Python's recursion limit; only the fallback has that limit.)"""
    deep = "(" * 100_000 + "a" + ")" * 100_000
    assert NATIVE.compile(deep, {"a": 0}, [BARE_MASK]) == ([0, BARE_MASK], 1, [0], [BARE_MASK])
    assert NATIVE.compile("!" * 100_001 + "a", {"a": 0}, [BARE_MASK])[0] == [0, BARE_MASK] + [dep.OP_NOT] * 100_001
    assert _outcome(NATIVE.postfix, "(" * 5000 + "a")[1:3] == ("unclosed '(' (expression ended)", 5002)


@pytest.mark.parametrize("seed", range(12))
def test_compile_dag_identical_with_either_parser(seed, monkeypatch):
    """Whole random graphs (depends text and dependencies lists) compile to identical arrays."""
    n = random.Random(seed).randint(1, 400)
    for tasks in (make_graph(seed, n, depends=True, max_deps=4), make_graph(seed, n, depends=False, max_deps=4)):
        compiled = {}
        for name in ("python", "native"):
            monkeypatch.setattr(dep, "PARSER", PARSERS[name])
            compiled[name] = compile_dag(tasks)
        assert compiled["python"] == compiled["native"]
