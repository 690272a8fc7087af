"""Typed errors of the template language.

Every error raised by `tiphys.core.lang` derives from `LangError` and carries the offending
`source` text and a 1-based `column` inside it (or `None` when the error concerns the whole
text). Callers branch on the class, never on the message: `UnresolvedVariable` means "try again
later" (a producer has not finished), `AbsentOutput` is terminal, syntax errors are spec errors.
"""
from __future__ import annotations

__all__ = [
    "LangError", "TagSyntaxError", "UnresolvedVariable", "AbsentOutput", "SubstitutionError",
    "OutputTooLarge", "WhenError", "WhenSyntaxError", "WhenEvalError", "ExprError",
    "ExprSyntaxError", "ExprEvalError", "UnknownName", "ExprLimitExceeded", "LoopError",
]


class LangError(Exception):
    """Base class: a message, the text it concerns, a 1-based column (or None) and, when the
    text is a leaf of a substituted object, its JSON path (`$.container.args[1]`)."""

    def __init__(self, message: str, /, *, source: str | None = None, column: int | None = None):
        self.message = message
        self.source = source
        self.column = column
        self.path: str | None = None
        super().__init__(message)

    def __str__(self) -> str:
        where = f" (column {self.column})" if self.column is not None else ""
        text = f" in {self.source!r}" if self.source is not None and len(self.source) <= 200 else ""
        at = f" at {self.path}" if self.path else ""
        return f"{self.message}{where}{text}{at}"


class TagSyntaxError(LangError):
    """A `{{` without its closing `}}`."""


class UnresolvedVariable(LangError):
    """A tag or expression names a variable that is not (yet) in scope."""

    def __init__(self, name: str, column: int | None, /, *, source: str | None = None):
        self.name = name
        super().__init__(f"failed to resolve {{{{{name}}}}}", source=source, column=column)


class AbsentOutput(LangError):
    """A tag references the output of a Skipped/Omitted producer outside a guarded place (§3.4)."""

    def __init__(self, name: str, column: int | None, /, *, source: str | None = None):
        self.name = name
        super().__init__(f"unable to substitute {{{{{name}}}}}: output is an absent optional",
                         source=source, column=column)


class SubstitutionError(LangError):
    """A value cannot be substituted (for example a non-string value in a simple tag)."""


class OutputTooLarge(SubstitutionError):
    """Substitution would produce more text than the configured bound."""


class WhenError(LangError):
    """Base of `when:` (govaluate) errors."""


class WhenSyntaxError(WhenError):
    """The substituted `when` text does not tokenise or parse."""


class WhenEvalError(WhenError):
    """The `when` expression parsed but failed to evaluate, or did not yield a boolean."""


class ExprError(LangError):
    """Base of expr-lang errors."""


class ExprSyntaxError(ExprError):
    """The expression does not lex or parse."""


class ExprEvalError(ExprError):
    """Evaluation failed (type mismatch, bad argument, division by zero...)."""


class UnknownName(ExprEvalError):
    """An identifier is not in the environment."""

    def __init__(self, name: str, column: int | None, /, *, source: str | None = None):
        self.name = name
        super().__init__(f"unknown name {name}", source=source, column=column)


class ExprLimitExceeded(ExprEvalError):
    """Evaluation hit its step, size or depth budget."""


class LoopError(LangError):
    """Bad `withItems` / `withParam` / `withSequence`, or a failed output aggregation."""
