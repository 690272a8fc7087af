"""The `depends` compiler: Argo's enhanced-depends text → a tree → a postfix program over ints.

Argo evaluates `depends` by rewriting it into an expr-lang string, mangling `-` into `_` in task
names, and running expr-lang against a map of results on every reconcile (argo-semantics §3.7;
STYLE anti-pattern 4). Here it is parsed once, when the template is compiled:

    text ──parse_depends──► Ref/Not/And/Or tree ──compile_program──► [task, mask, task, mask, AND]
    text ──PARSER.compile─────────────────────────────────────────► the same words (compile_dag)

The parser comes twice, with one grammar, one set of messages and one output (postfix):
`_parse` in pure Python is the reference and the fallback, `tiphys.core._fast._depends` its Cython
twin; `PARSERS` holds both when built and `PARSER` is the one in use. `compile_dag` goes straight
from text to program words through `PARSER.compile` — at 100,000 tasks the tree and a Python
tokenizer were two thirds of compile time.

Grammar (Argo's, §3.7): an atom is `task` or `task.Result`, task names match
`[a-zA-Z0-9][-a-zA-Z0-9]*`, `Result` is one of `Succeeded Failed Errored Skipped Omitted Daemoned
AnySucceeded AllFailed`; atoms combine with `!`, `&&`, `||` and parentheses, with expr-lang's
precedence (`!` binds tightest, then `&&`, then `||`). Only these operators: Argo extracts
dependency names with a regex, so expr-lang's `and`/`or`/`not` words would be read as task names
and rejected as unknown dependencies there; here they make two names in a row, a syntax error.

A bare `task` means `task.Succeeded || task.Skipped || task.Daemoned`, plus `|| task.Errored` /
`|| task.Failed` when *that dependency* has `continueOn.error` / `continueOn.failed`; it becomes a
single predicate whose mask has all those bits. `dependencies: [a, b]` is `a && b`.

Program encoding (int words, evaluated by both schedulers with a small stack): a word `w >= 0` is
a predicate "outcome[w] & next_word != 0" and consumes the mask word after it; `OP_AND`, `OP_OR`
and `OP_NOT` (negative) pop operands. An empty program is true (a task without dependencies).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from . import _parse
from ._parse import OP_AND, OP_NOT, OP_OR, Program
from .errors import DependsSyntaxError
from .outcome import RESULT_NAMES, Outcome

try:
    from tiphys.core._fast import _depends as _native
except ImportError:  # not built: the reference parser is the same grammar, only slower
    _native = None

__all__ = [
    "Ref", "Not", "And", "Or", "Expr", "Program", "OP_AND", "OP_OR", "OP_NOT", "BARE_MASK",
    "DependsParser", "PARSERS", "PARSER", "parse_depends", "placed", "from_dependencies", "references",
    "to_text", "compile_program", "evaluate",
]

#: What a bare `task` accepts before `continueOn` widens it.
BARE_MASK = int(Outcome.SUCCEEDED | Outcome.SKIPPED | Outcome.DAEMONED)


class Ref(msgspec.Struct, frozen=True):
    """`task` (result None: the bare form) or `task.Result`."""

    task: str
    result: str | None = None


class Not(msgspec.Struct, frozen=True):
    operand: "Expr"


class And(msgspec.Struct, frozen=True):
    left: "Expr"
    right: "Expr"


class Or(msgspec.Struct, frozen=True):
    left: "Expr"
    right: "Expr"


Expr = Ref | Not | And | Or


def _tree(items: list[_parse.Item]) -> Expr:
    """Fold a parser's postfix output into a tree."""
    stack: list[Expr] = []
    for item in items:
        if type(item) is tuple:
            stack.append(Ref(*item))
        elif item == OP_NOT:
            stack[-1] = Not(stack[-1])
        else:
            right = stack.pop()
            stack[-1] = (And if item == OP_AND else Or)(stack[-1], right)
    return stack[0]


class DependsParser:
    """`depends` text → tree or program through one implementation: the pure-Python `_parse`
    module or its Cython twin `tiphys.core._fast._depends` (same functions, same faults)."""

    __slots__ = ("name", "_postfix", "_compile", "_fault", "compile_names")

    def __init__(self, name: str, impl: Any, /) -> None:
        self.name = name
        self._postfix = impl.postfix
        self._compile = impl.compile_text
        self._fault = impl.ParseFault
        #: `compile_names(names, index, bare)`: `dependencies: [a, b, ...]`, i.e. `a && b && ...`
        #: over distinct bare names, as `compile` returns it (no parse, so no syntax errors).
        self.compile_names: Callable[[Sequence[str], dict[str, int], list[int]], Program] = impl.compile_names

    def __repr__(self) -> str:
        return f"<DependsParser {self.name}>"

    def postfix(self, text: str, /) -> list[_parse.Item]:
        """The postfix form: `(name, result or None)` per atom, OP_* per operator."""
        try:
            return self._postfix(text)
        except self._fault as fault:
            raise _syntax_error(fault, text) from None

    def parse(self, text: str, /) -> Expr:
        """The tree of `text`; raises DependsSyntaxError (without task or path)."""
        return _tree(self.postfix(text))

    def compile(self, text: str, index: dict[str, int], bare: list[int], /) -> Program:
        """Parse and compile `text` to `(words, max_stack, ids, conjunction)` without a tree.

        Names resolve through `index`: the first unknown one (in text order) raises KeyError, for
        the caller to turn into its typed error. A bare reference to task `j` gets mask `bare[j]`.
        `ids` are the distinct dependencies in order of first appearance; `conjunction` is the
        list of predicate masks when the program is `p1 && p2 && ...` over distinct tasks, else
        None. Raises DependsSyntaxError (without task or path)."""
        try:
            return self._compile(text, index, bare)
        except self._fault as fault:
            raise _syntax_error(fault, text) from None


def _syntax_error(fault: Any, text: str) -> DependsSyntaxError:
    return DependsSyntaxError(fault.message, text=text, column=fault.pos + 1)


#: Every implementation available here, the reference first.
PARSERS: dict[str, DependsParser] = {"python": DependsParser("python", _parse)}
if _native is not None:
    PARSERS["native"] = DependsParser("native", _native)
#: The one `parse_depends` and `compile_dag` use: the Cython parser when built.
PARSER: DependsParser = PARSERS.get("native", PARSERS["python"])


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Expr:
    return PARSER.parse(text)


def parse_depends(text: str, /, *, task: str = "", path: str = "") -> Expr:
    """Parse a `depends` expression; `task` and `path` only decorate errors. Trees are immutable,
    so equal texts (common: fan-outs all depending on `setup`) are parsed once."""
    try:
        return _parse_cached(text)
    except DependsSyntaxError as err:
        if not (task or path):
            raise
        raise placed(err, task=task, path=path) from None


def placed(err: DependsSyntaxError, /, *, task: str, path: str) -> DependsSyntaxError:
    """The same syntax error, naming the task and the place of its `depends`."""
    return DependsSyntaxError(err.message, text=err.text, column=err.column, task=task, path=path)


def from_dependencies(names: Sequence[str], /) -> Expr | None:
    """The tree Argo builds for `dependencies: [a, b]`: the bare names joined by `&&`."""
    node: Expr | None = None
    for name in names:
        node = Ref(name) if node is None else And(node, Ref(name))
    return node


def references(node: Expr, /) -> list[str]:
    """Task names in `node`, each once, in order of first appearance."""
    seen: dict[str, None] = {}
    stack: list[Expr] = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, Ref):
            seen.setdefault(cur.task)
        elif isinstance(cur, Not):
            stack.append(cur.operand)
        else:
            stack.append(cur.right)
            stack.append(cur.left)
    return list(seen)


def _bare_text(task: str, continue_on: Callable[[str], tuple[bool, bool]]) -> str:
    failed, error = continue_on(task)
    parts = [f"{task}.Succeeded", f"{task}.Skipped", f"{task}.Daemoned"]
    if error:
        parts.append(f"{task}.Errored")
    if failed:
        parts.append(f"{task}.Failed")
    return "(" + " || ".join(parts) + ")"


def to_text(node: Expr, /, *, continue_on: Callable[[str], tuple[bool, bool]] | None = None) -> str:
    """Render `node` back to `depends` text, with bare names expanded as Argo does when
    `continue_on(task) -> (failed, error)` is given; used in messages and tests."""
    if isinstance(node, Ref):
        if node.result is not None:
            return f"{node.task}.{node.result}"
        return node.task if continue_on is None else _bare_text(node.task, continue_on)
    if isinstance(node, Not):
        inner = to_text(node.operand, continue_on=continue_on)
        return f"!{inner}" if isinstance(node.operand, (Ref, Not)) else f"!({inner})"
    op, this = (" && ", And) if isinstance(node, And) else (" || ", Or)
    sides = []
    for side in (node.left, node.right):
        text = to_text(side, continue_on=continue_on)
        # `||` under `&&` needs parentheses; the reverse does not (precedence).
        sides.append(f"({text})" if isinstance(side, Or) and this is And else text)
    return op.join(sides)


def compile_program(node: Expr | None, /, *, index: Mapping[str, int],
                    bare_mask: Callable[[str], int]) -> tuple[list[int], int]:
    """Compile `node` to program words; return (words, max stack depth).

    `index` maps task names to dense ints (unknown names raise KeyError: the caller checks them
    first and raises its typed error); `bare_mask(task)` is the mask a bare reference to `task` gets.
    """
    if node is None:
        return [], 0
    words: list[int] = []
    depth = 0
    max_depth = 0
    # Iterative post-order walk: (node, visited) pairs, so deep expressions do not recurse.
    stack: list[tuple[Expr, bool]] = [(node, False)]
    while stack:
        cur, visited = stack.pop()
        if isinstance(cur, Ref):
            mask = RESULT_NAMES[cur.result] if cur.result is not None else bare_mask(cur.task)
            words += (index[cur.task], mask)
            depth += 1
            max_depth = max(max_depth, depth)
        elif isinstance(cur, Not):
            if visited:
                words.append(OP_NOT)
            else:
                stack += ((cur, True), (cur.operand, False))
        elif visited:
            words.append(OP_AND if isinstance(cur, And) else OP_OR)
            depth -= 1
        else:
            stack += ((cur, True), (cur.right, False), (cur.left, False))
    return words, max_depth


def evaluate(words: Sequence[int], outcomes: Sequence[int], /) -> bool:
    """Run a program against per-task outcome bits (the reference evaluator; C does the same)."""
    stack: list[bool] = []
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        if w >= 0:
            stack.append(outcomes[w] & words[i + 1] != 0)
            i += 2
            continue
        if w == OP_NOT:
            stack[-1] = not stack[-1]
        else:
            right = stack.pop()
            stack[-1] = (stack[-1] and right) if w == OP_AND else (stack[-1] or right)
        i += 1
    return stack[-1] if stack else True
