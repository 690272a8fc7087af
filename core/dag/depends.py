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


def _is_name_start(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _is_name_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "-")


class _Parser:
    """Recursive descent over the raw text; `pos` is a 0-based index into `text`."""

    def __init__(self, text: str, task: str, path: str) -> None:
        self.text = text
        self.task = task
        self.path = path
        self.pos = 0

    def error(self, message: str, pos: int) -> DependsSyntaxError:
        return DependsSyntaxError(message, text=self.text, column=pos + 1, task=self.task, path=self.path)

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def peek(self, token: str) -> bool:
        self.skip_space()
        return self.text.startswith(token, self.pos)

    def parse(self) -> Expr:
        self.skip_space()
        if self.pos == len(self.text):
            raise self.error("empty expression", self.pos)
        node = self.parse_or()
        self.skip_space()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r}", self.pos)
        return node

    def parse_or(self) -> Expr:
        node = self.parse_and()
        while self.peek("||"):
            self.pos += 2
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> Expr:
        node = self.parse_unary()
        while self.peek("&&"):
            self.pos += 2
            node = And(node, self.parse_unary())
        return node

    def parse_unary(self) -> Expr:
        if self.peek("!"):
            self.pos += 1
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Expr:
        self.skip_space()
        text, start = self.text, self.pos
        if start == len(text):
            raise self.error("expected a task name, '!' or '(' but the expression ended", start)
        if text[start] == "(":
            self.pos += 1
            node = self.parse_or()
            if not self.peek(")"):
                raise self.error("expected ')'" if self.pos < len(text) else
                                 "unclosed '(' (expression ended)", self.pos)
            self.pos += 1
            return node
        if not _is_name_start(text[start]):
            raise self.error(f"expected a task name, '!' or '(' but found {text[start]!r}", start)
        end = start + 1
        while end < len(text) and _is_name_char(text[end]):
            end += 1
        name = text[start:end]
        result = None
        if end < len(text) and text[end] == ".":
            rstart = end + 1
            rend = rstart
            while rend < len(text) and text[rend].isascii() and text[rend].isalpha():
                rend += 1
            result = text[rstart:rend]
            if result not in RESULT_NAMES:
                raise self.error(f"unknown result {result!r} (expected one of {', '.join(RESULT_NAMES)})",
                                 rstart)
            end = rend
        self.pos = end
        return Ref(name, result)


def parse_depends(text: str, /, *, task: str = "", path: str = "") -> Expr:
    """Parse a `depends` expression; `task` and `path` only decorate errors."""
    return _Parser(text, task, path).parse()


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
