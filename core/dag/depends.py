"""The `depends` compiler: Argo's enhanced-depends text → a tree → a postfix program over ints.

Argo evaluates `depends` by rewriting it into an expr-lang string, mangling `-` into `_` in task
names, and running expr-lang against a map of results on every reconcile (argo-semantics §3.7;
STYLE anti-pattern 4). Here it is parsed once, when the template is compiled:

    text ──parse_depends──► Ref/Not/And/Or tree ──compile_program──► [task, mask, task, mask, AND]

Grammar (Argo's, §3.7): an atom is `task` or `task.Result`, task names match
`[a-zA-Z0-9][-a-zA-Z0-9]*`, `Result` is one of `Succeeded Failed Errored Skipped Omitted Daemoned
AnySucceeded AllFailed`; atoms combine with `!`, `&&`, `||` and parentheses, with expr-lang's
precedence (`!` binds tightest, then `&&`, then `||`). Only these operators: Argo extracts
dependency names with a regex, so expr-lang's `and`/`or`/`not` words would be read as task names
and rejected as unknown dependencies there; we reject them as unknown dependencies too.

A bare `task` means `task.Succeeded || task.Skipped || task.Daemoned`, plus `|| task.Errored` /
`|| task.Failed` when *that dependency* has `continueOn.error` / `continueOn.failed`; it becomes a
single predicate whose mask has all those bits. `dependencies: [a, b]` is `a && b`.

Program encoding (int words, evaluated by both schedulers with a small stack): a word `w >= 0` is
a predicate "outcome[w] & next_word != 0" and consumes the mask word after it; `OP_AND`, `OP_OR`
and `OP_NOT` (negative) pop operands. An empty program is true (a task without dependencies).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence

import msgspec

from .errors import DependsSyntaxError
from .outcome import RESULT_NAMES, Outcome

__all__ = [
    "Ref", "Not", "And", "Or", "Expr", "OP_AND", "OP_OR", "OP_NOT", "BARE_MASK",
    "parse_depends", "from_dependencies", "references", "to_text", "compile_program", "evaluate",
]

OP_AND = -1
OP_OR = -2
OP_NOT = -3

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


# One token per match: an operator, or a name with an optional `.Result` (validated by the parser,
# so that an earlier syntax error is reported first), or any other single character (an error
# whose message depends on where the parser meets it).
_TOKEN = re.compile(r"[ \t\r\n]*(?:(&&|\|\||[!()])|([a-zA-Z0-9][-a-zA-Z0-9]*)(?:\.([A-Za-z]*))?|([^ \t\r\n]))")
_OP, _NAME, _BAD = 0, 1, 2


class _Parser:
    """Recursive descent over tokens `(kind, text, pos, result)`; `pos` is 0-based into `text`."""

    def __init__(self, text: str, task: str, path: str) -> None:
        self.text = text
        self.task = task
        self.path = path
        tokens = []
        pos, end, match = 0, len(text), _TOKEN.match
        while True:
            m = match(text, pos)
            if m is None:  # only blanks left
                break
            op, name, result, bad = m.groups()
            if op is not None:
                tokens.append((_OP, op, m.start(1), None))
            elif name is not None:
                tokens.append((_NAME, name, m.start(2), result))
            else:
                tokens.append((_BAD, bad, m.start(4), None))
            pos = m.end()
            if pos >= end:
                break
        self.tokens = tokens
        self.i = 0

    def error(self, message: str, pos: int) -> DependsSyntaxError:
        return DependsSyntaxError(message, text=self.text, column=pos + 1, task=self.task, path=self.path)

    def at(self, op: str) -> bool:
        i = self.i
        return i < len(self.tokens) and self.tokens[i][0] == _OP and self.tokens[i][1] == op

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.error("empty expression", len(self.text))
        node = self.parse_or()
        if self.i < len(self.tokens):
            _, tok, pos, _ = self.tokens[self.i]
            raise self.error(f"unexpected {tok[0]!r}", pos)
        return node

    def parse_or(self) -> Expr:
        node = self.parse_and()
        while self.at("||"):
            self.i += 1
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> Expr:
        node = self.parse_unary()
        while self.at("&&"):
            self.i += 1
            node = And(node, self.parse_unary())
        return node

    def parse_unary(self) -> Expr:
        if self.at("!"):
            self.i += 1
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Expr:
        if self.i == len(self.tokens):
            raise self.error("expected a task name, '!' or '(' but the expression ended", len(self.text))
        kind, tok, pos, result = self.tokens[self.i]
        self.i += 1
        if kind == _NAME:
            if result is not None and result not in RESULT_NAMES:
                raise self.error(f"unknown result {result!r} (expected one of {', '.join(RESULT_NAMES)})",
                                 pos + len(tok) + 1)
            return Ref(tok, result)
        if kind == _OP and tok == "(":
            node = self.parse_or()
            if not self.at(")"):
                if self.i == len(self.tokens):
                    raise self.error("unclosed '(' (expression ended)", len(self.text))
                raise self.error("expected ')'", self.tokens[self.i][2])
            self.i += 1
            return node
        raise self.error(f"expected a task name, '!' or '(' but found {tok[0]!r}", pos)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Expr:
    return _Parser(text, "", "").parse()


def parse_depends(text: str, /, *, task: str = "", path: str = "") -> Expr:
    """Parse a `depends` expression; `task` and `path` only decorate errors. Trees are immutable,
    so equal texts (common: fan-outs all depending on `setup`) are parsed once."""
    try:
        return _parse_cached(text)
    except DependsSyntaxError:
        if not (task or path):
            raise
    return _Parser(text, task, path).parse()  # raises again, naming the task and the path


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
