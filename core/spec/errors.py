"""Errors that name their place: file, line, document and field path."""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["Location", "Path", "SpecError", "SpecErrors"]

Path = tuple  # of str (field) and int (index) parts


class Location(NamedTuple):
    source: str
    line: int | None
    path: Path
    document: int = 0

    def describe(self) -> str:
        from tiphys.core.spec.load import format_path  # load imports us

        where = self.source if self.line is None else f"{self.source}:{self.line}"
        dotted = format_path(self.path)
        return f"{where}: {dotted}" if dotted else where


class SpecError(ValueError):
    """One problem with a document. `severity` is "error" or "warning"."""

    def __init__(self, location: Location, message: str, *, severity: str = "error", rule: str = "") -> None:
        super().__init__(f"{location.describe()}: {message}")
        self.location = location
        self.message = message
        self.severity = severity
        self.rule = rule

    @property
    def path(self) -> str:
        from tiphys.core.spec.load import format_path

        return format_path(self.location.path)

    def as_dict(self) -> dict:
        return {"file": self.location.source, "line": self.location.line, "document": self.location.document,
                "path": self.path, "severity": self.severity, "rule": self.rule, "message": self.message}


class SpecErrors(ValueError):
    """Every problem found in one input, reported at once."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
