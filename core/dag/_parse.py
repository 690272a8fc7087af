"""The reference `depends` parser: recursive descent over regex tokens, in pure Python.

This is the grammar's specification (see `depends` for the grammar itself) and the fallback when
the Cython twin `tiphys.core._fast._depends` is not built. Both modules offer the same three
names, so `depends.DependsParser` can wrap either and one test suite runs over both (STYLE 9):

    postfix(text)                    → [("a", None), ("b", "Failed"), OP_OR, ...]
    compile_text(text, index, bare)  → (words, max_stack, ids, conjunction)
    compile_names(names, index, bare)  the same for `dependencies: [a, b]`, i.e. `a && b`
    ParseFault(message, pos)         the syntax error, `pos` 0-based (depends adds task and path)

Postfix is the parse result rather than a tree because it is what both consumers want in the end:
`depends` folds it into a tree in a few lines, and `compile_text` turns it into a program (the
same post-order walk `compile_program` makes of a tree) without building one.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .outcome import RESULT_NAMES

__all__ = ["ParseFault", "postfix", "compile_text", "compile_names", "OP_AND", "OP_OR", "OP_NOT"]

OP_AND = -1
OP_OR = -2
OP_NOT = -3

#: (program words, max stack depth, distinct dependencies in order of first appearance, the masks
#: of `p1 && p2 && ...` over those dependencies when the program is that shape else None)
Program = tuple[list[int], int, list[int], "list[int] | None"]
Item = tuple[str, "str | None"] | int


class ParseFault(ValueError):
    """A syntax error: `message` as users read it, `pos` 0-based into the text."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


# One token per match: an operator, or a name with an optional `.Result` (validated by the parser,
# so that an earlier syntax error is reported first), or any other single character (an error
# whose message depends on where the parser meets it).
_TOKEN = re.compile(r"[ \t\r\n]*(?:(&&|\|\||[!()])|([a-zA-Z0-9][-a-zA-Z0-9]*)(?:\.([A-Za-z]*))?|([^ \t\r\n]))")
_OP, _NAME, _BAD = 0, 1, 2


class _Parser:
    """Recursive descent over tokens `(kind, text, pos, result)`; `pos` is 0-based into `text`.
    Each rule appends its postfix form to `out`."""

    def __init__(self, text: str) -> None:
        self.text = text
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
        self.out: list[Item] = []

    def at(self, op: str) -> bool:
        i = self.i
        return i < len(self.tokens) and self.tokens[i][0] == _OP and self.tokens[i][1] == op

    def parse(self) -> list[Item]:
        if not self.tokens:
            raise ParseFault("empty expression", len(self.text))
        self.parse_or()
        if self.i < len(self.tokens):
            _, tok, pos, _ = self.tokens[self.i]
            raise ParseFault(f"unexpected {tok[0]!r}", pos)
        return self.out

    def parse_or(self) -> None:
        self.parse_and()
        while self.at("||"):
            self.i += 1
            self.parse_and()
            self.out.append(OP_OR)

    def parse_and(self) -> None:
        self.parse_unary()
        while self.at("&&"):
            self.i += 1
            self.parse_unary()
            self.out.append(OP_AND)

    def parse_unary(self) -> None:
        if self.at("!"):
            self.i += 1
            self.parse_unary()
            self.out.append(OP_NOT)
            return
        self.parse_primary()

    def parse_primary(self) -> None:
        if self.i == len(self.tokens):
            raise ParseFault("expected a task name, '!' or '(' but the expression ended", len(self.text))
        kind, tok, pos, result = self.tokens[self.i]
        self.i += 1
        if kind == _NAME:
            if result is not None and result not in RESULT_NAMES:
                raise ParseFault(f"unknown result {result!r} (expected one of {', '.join(RESULT_NAMES)})",
                                 pos + len(tok) + 1)
            self.out.append((tok, result))
            return
        if kind == _OP and tok == "(":
            self.parse_or()
            if not self.at(")"):
                if self.i == len(self.tokens):
                    raise ParseFault("unclosed '(' (expression ended)", len(self.text))
                raise ParseFault("expected ')'", self.tokens[self.i][2])
            self.i += 1
            return
        raise ParseFault(f"expected a task name, '!' or '(' but found {tok[0]!r}", pos)


def postfix(text: str, /) -> list[Item]:
    """The postfix form of `text`: `(name, result or None)` per atom, OP_* per operator."""
    try:
        return _Parser(text).parse()
    except RecursionError:  # the recursive reference; the Cython parser has no depth limit
        raise ParseFault("expression nested too deeply for the pure-Python parser", 0) from None


def compile_text(text: str, index: Mapping[str, int], bare: Sequence[int], /) -> Program:
    """Parse and compile `text`: names resolve through `index` (a missing one raises KeyError,
    the first in text order), a bare reference to task `j` gets mask `bare[j]`."""
    words: list[int] = []
    ids: dict[int, None] = {}
    masks: list[int] = []
    depth = max_depth = 0
    conj = True
    for item in postfix(text):
        if type(item) is int:
            words.append(item)
            if item != OP_NOT:
                depth -= 1
            conj = conj and item == OP_AND
            continue
        name, result = item  # type: ignore[misc]
        j = index[name]
        mask = RESULT_NAMES[result] if result is not None else bare[j]
        words += (j, mask)
        masks.append(mask)
        ids.setdefault(j)
        depth += 1
        max_depth = max(max_depth, depth)
    return words, max_depth, list(ids), masks if conj and len(masks) == len(ids) else None


def compile_names(names: Sequence[str], index: Mapping[str, int], bare: Sequence[int], /) -> Program:
    """`dependencies: [a, b, ...]` as the program of `a && b && ...` over distinct bare names,
    without a parse. The first name missing from `index` (or unhashable) raises KeyError."""
    ids: dict[int, None] = {}
    for name in names:
        try:
            ids.setdefault(index[name])
        except TypeError:
            raise KeyError(name) from None
    words: list[int] = []
    masks = [bare[j] for j in ids]
    for k, j in enumerate(ids):
        words += (j, masks[k]) if k == 0 else (j, masks[k], OP_AND)
    return words, min(len(ids), 2), list(ids), masks
