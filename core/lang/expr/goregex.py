r"""Go (RE2) regular expressions on Python, without catastrophic backtracking.

Go's engine runs in linear time; Python's `re` backtracks, so a pattern like `(a+)+$` on a
30-character string can take minutes — unacceptable for a controller evaluating user text.
`compile_go(pattern)` therefore:

* translates Go-only syntax (`\z`, POSIX classes `[[:alpha:]]`) and rejects what RE2 lacks
  (backreferences, lookaround, atomic groups) with `Fail`, as Go's `regexp.Compile` would;
* classifies the pattern: if no repetition contains another repetition or an alternation, Python's
  `re` (in ASCII mode, Go's meaning of `\d \w \s \b`) cannot blow up and is used directly;
* otherwise boolean matching (`matches`, `=~`, `regexMatch`) runs a Thompson-NFA simulation over
  the parsed pattern — linear in the text — and span-returning operations (find, replace, split)
  refuse the pattern with `Fail` rather than risk an unbounded search.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

try:  # the stdlib's own regex parser; private but stable since 3.11
    import re._constants as _c
    import re._parser as _p
except ImportError:  # pragma: no cover - older layouts
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

from .values import Fail

__all__ = ["GoRegex", "compile_go", "nfa_search"]

_MAX_INSTRUCTIONS = 20_000
_POSIX = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
          "lower": "a-z", "space": r"\t\n\v\f\r ", "xdigit": "0-9A-Fa-f", "word": r"\w",
          "punct": r"!-/:-@\[-`{-~", "blank": r" \t", "cntrl": r"\x00-\x1f\x7f",
          "print": r" -~", "graph": r"!-~", "ascii": r"\x00-\x7f"}
_UNSUPPORTED = {_c.GROUPREF, _c.GROUPREF_EXISTS, _c.ASSERT, _c.ASSERT_NOT}
for _name in ("ATOMIC_GROUP", "POSSESSIVE_REPEAT", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE",
              "GROUPREF_UNI_IGNORE"):
    if hasattr(_c, _name):
        _UNSUPPORTED.add(getattr(_c, _name))
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT} | ({_c.POSSESSIVE_REPEAT} if hasattr(_c, "POSSESSIVE_REPEAT") else set())


def _translate(pattern: str) -> str:
    out = pattern.replace(r"\z", r"\Z")
    out = re.sub(r"\[:(\^?)(\w+):\]", lambda m: _posix(m), out)
    return out if re.search(r"\(\?[a-zA-Z]*m", out) else _dollar_is_end(out)


def _dollar_is_end(pattern: str) -> str:
    """Go's `$` (without `m`) matches only at the end of the text; Python's also before a final
    newline. Rewrite unescaped `$` outside classes as Python's end-of-text escape."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append("\\Z" if c == "$" and not in_class else c)
        i += 1
    return "".join(out)


def _posix(m: re.Match[str]) -> str:
    cls = _POSIX.get(m.group(2))
    if cls is None:
        raise Fail(f"error parsing regexp: invalid character class range: `[:{m.group(2)}:]`")
    if m.group(1):
        raise Fail("error parsing regexp: negated POSIX classes are not supported by tiphys")
    return cls


def _walk_unsafe(items: Any, inside_repeat: bool) -> bool:
    """True when a repetition contains a repetition or alternation (exponential backtracking)."""
    for op, av in items:
        if op in _UNSUPPORTED:
            raise Fail("error parsing regexp: invalid or unsupported Perl syntax")
        if op in _REPEATS:
            lo, hi, sub = av
            variable = hi != lo
            if inside_repeat and variable:
                return True
            if _walk_unsafe(sub, inside_repeat or hi > 1):
                return True
        elif op is _c.SUBPATTERN:
            if _walk_unsafe(av[-1], inside_repeat):
                return True
        elif op is _c.BRANCH:
            if inside_repeat:
                return True
            if any(_walk_unsafe(alt, inside_repeat) for alt in av[1]):
                return True
    return False


# --- Thompson NFA over the parsed pattern -------------------------------------------------
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_CATEGORY: dict[Any, Callable[[str], bool]] = {
    _c.CATEGORY_DIGIT: lambda ch: "0" <= ch <= "9",
    _c.CATEGORY_NOT_DIGIT: lambda ch: not "0" <= ch <= "9",
    _c.CATEGORY_SPACE: lambda ch: ch in "\t\n\f\r\v ",
    _c.CATEGORY_NOT_SPACE: lambda ch: ch not in "\t\n\f\r\v ",
    _c.CATEGORY_WORD: lambda ch: ch in _WORD,
    _c.CATEGORY_NOT_WORD: lambda ch: ch not in _WORD,
}


class _Prog:
    """Instructions: ("char", pred) | ("split", a, b) | ("jmp", a) | ("assert", kind) | ("match",)."""

    def __init__(self, flags: int) -> None:
        self.code: list[list[Any]] = []
        self.icase = bool(flags & _c.SRE_FLAG_IGNORECASE)
        self.dotall = bool(flags & _c.SRE_FLAG_DOTALL)
        self.multiline = bool(flags & _c.SRE_FLAG_MULTILINE)

    def emit(self, *ins: Any) -> int:
        if len(self.code) >= _MAX_INSTRUCTIONS:
            raise Fail("error parsing regexp: expression too large")
        self.code.append(list(ins))
        return len(self.code) - 1

    def literal(self, code: int, negate: bool = False) -> Callable[[str], bool]:
        ch = chr(code)
        if self.icase:
            low = ch.lower()
            return (lambda c: c.lower() != low) if negate else (lambda c: c.lower() == low)
        return (lambda c: c != ch) if negate else (lambda c: c == ch)

    def charset(self, items: Any) -> Callable[[str], bool]:
        negate = False
        tests: list[Callable[[str], bool]] = []
        for op, av in items:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                tests.append(self.literal(av))
            elif op is _c.RANGE:
                lo, hi = av
                if self.icase:
                    tests.append(lambda c, lo=lo, hi=hi: any(lo <= ord(x) <= hi for x in {c, c.lower(), c.upper()}))
                else:
                    tests.append(lambda c, lo=lo, hi=hi: lo <= ord(c) <= hi)
            elif op is _c.CATEGORY:
                tests.append(_CATEGORY[av])
            else:
                raise Fail(f"error parsing regexp: unsupported class item {op}")
        if negate:
            return lambda c: not any(t(c) for t in tests)
        return lambda c: any(t(c) for t in tests)

    def compile(self, items: Any) -> None:
        for op, av in items:
            self.node(op, av)

    def node(self, op: Any, av: Any) -> None:
        if op is _c.LITERAL:
            self.emit("char", self.literal(av))
        elif op is _c.NOT_LITERAL:
            self.emit("char", self.literal(av, negate=True))
        elif op is _c.ANY:
            self.emit("char", (lambda c: True) if self.dotall else (lambda c: c != "\n"))
        elif op is _c.IN:
            self.emit("char", self.charset(av))
        elif op is _c.SUBPATTERN:
            self.compile(av[-1])
        elif op is _c.AT:
            self.emit("assert", av)
        elif op is _c.CATEGORY:
            self.emit("char", _CATEGORY[av])
        elif op is _c.BRANCH:
            alts = av[1]
            jumps = []
            for i, alt in enumerate(alts):
                if i < len(alts) - 1:
                    split = self.emit("split", None, None)
                    self.code[split][1] = len(self.code)
                    self.compile(alt)
                    jumps.append(self.emit("jmp", None))
                    self.code[split][2] = len(self.code)
                else:
                    self.compile(alt)
            for j in jumps:
                self.code[j][1] = len(self.code)
        elif op in _REPEATS:
            lo, hi, sub = av
            for _ in range(lo):
                self.compile(sub)
            if hi == _c.MAXREPEAT:
                split = self.emit("split", None, None)
                self.code[split][1] = len(self.code)
                self.compile(sub)
                self.emit("jmp", split)
                self.code[split][2] = len(self.code)
            else:
                ends = []
                for _ in range(hi - lo):
                    split = self.emit("split", None, None)
                    self.code[split][1] = len(self.code)
                    ends.append(split)
                    self.compile(sub)
                for split in ends:
                    self.code[split][2] = len(self.code)
        else:
            raise Fail(f"error parsing regexp: unsupported construct {op}")

    def check(self, kind: Any, text: str, i: int) -> bool:
        n = len(text)
        if kind in (_c.AT_BEGINNING, _c.AT_BEGINNING_LINE):
            return i == 0 or (self.multiline and text[i - 1] == "\n")
        if kind is _c.AT_BEGINNING_STRING:
            return i == 0
        if kind in (_c.AT_END, _c.AT_END_LINE):
            return i == n or (self.multiline and text[i] == "\n")
        if kind is _c.AT_END_STRING:
            return i == n
        before = i > 0 and text[i - 1] in _WORD
        after = i < n and text[i] in _WORD
        if kind is _c.AT_BOUNDARY:
            return before != after
        if kind is _c.AT_NON_BOUNDARY:
            return before == after
        raise Fail(f"error parsing regexp: unsupported assertion {kind}")

    def search(self, text: str) -> bool:
        code = self.code
        current: list[int] = []
        for i in range(len(text) + 1):
            seen: set[int] = set()
            nxt: list[int] = []
            stack = list(reversed(current)) + [0]  # a new thread may start at every position
            while stack:
                pc = stack.pop()
                if pc in seen:
                    continue
                seen.add(pc)
                ins = code[pc]
                kind = ins[0]
                if kind == "match":
                    return True
                if kind == "jmp":
                    stack.append(ins[1])
                elif kind == "split":
                    stack.append(ins[2])
                    stack.append(ins[1])
                elif kind == "assert":
                    if self.check(ins[1], text, i):
                        stack.append(pc + 1)
                else:
                    nxt.append(pc)
            if i == len(text):
                break
            ch = text[i]
            current = [pc + 1 for pc in nxt if code[pc][1](ch)]
        return False


def _build_nfa(parsed: Any) -> _Prog:
    prog = _Prog(parsed.state.flags)
    prog.compile(list(parsed))
    prog.emit("match")
    return prog


def nfa_search(pattern: str, text: str, /) -> bool:
    """Boolean search through the NFA whatever the pattern (for cross-checking against `re`)."""
    try:
        parsed = _p.parse(_translate(pattern), re.ASCII)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise Fail(f"error parsing regexp: {exc}") from None
    _walk_unsafe(list(parsed), False)  # rejects unsupported syntax
    return _build_nfa(parsed).search(text)


class GoRegex:
    """A compiled Go pattern: `search` is always linear; span operations need a safe pattern."""

    __slots__ = ("pattern", "_re", "_nfa", "safe")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        text = _translate(pattern)
        try:
            parsed = _p.parse(text, re.ASCII)
            self._re = re.compile(text, re.ASCII)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            raise Fail(f"error parsing regexp: {exc}") from None
        self.safe = not _walk_unsafe(list(parsed), False)
        self._nfa = None if self.safe else _build_nfa(parsed)

    def search(self, text: str) -> bool:
        if self._nfa is not None:
            return self._nfa.search(text)
        return self._re.search(text) is not None

    def python(self) -> re.Pattern[str]:
        """The Python pattern for span operations (find/replace/split), if it cannot blow up."""
        if not self.safe:
            raise Fail(f"regexp {self.pattern!r} nests repetitions; tiphys only supports it for "
                       "boolean matching")
        return self._re


@functools.lru_cache(maxsize=1024)
def compile_go(pattern: str, /) -> GoRegex:
    """Compile (cached) a Go regular expression; errors are `Fail` like Go's compile errors."""
    return GoRegex(pattern)
