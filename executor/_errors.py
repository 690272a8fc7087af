"""Typed errors of the executor.

Every failure the executor can report names the place it happened: the template field
(`$.outputs.parameters[1].valueFrom.path`), the artifact, or the file. Callers branch on the type,
never on the message (STYLE.md §13).
"""
from __future__ import annotations

__all__ = [
    "ArtifactConfigError",
    "ArtifactError",
    "ArtifactNotFound",
    "ExecutorError",
    "NoTaskResultDestination",
    "OutputError",
    "S3Error",
    "TemplateError",
    "UnsafeArchive",
    "WaitTimeout",
    "WrapperBuildError",
]


class ExecutorError(Exception):
    """Base of everything the executor raises on purpose."""


class NoTaskResultDestination(ExecutorError):
    """Neither the node agent's file relay nor an in-cluster API is there to take a task result."""


class WrapperBuildError(ExecutorError):
    """The C wrapper could not be compiled."""


class TemplateError(ExecutorError):
    """The template handed to the executor is malformed; `where` is a JSON path into it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} - at {where!r}")
        self.where = where


class OutputError(ExecutorError):
    """An output could not be collected (missing file without a default, unreadable, ...)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} - at {where!r}")
        self.where = where


class WaitTimeout(ExecutorError):
    """The main containers did not finish in time."""


class ArtifactError(ExecutorError):
    """Loading or saving an artifact failed; `artifact` names it when known."""

    def __init__(self, message: str, *, artifact: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.artifact = artifact  # may be filled in later by a caller that knows the name

    def __str__(self) -> str:
        return f"artifact {self.artifact!r}: {self.message}" if self.artifact else self.message


class ArtifactNotFound(ArtifactError):
    """The artifact's object (key, URL, file) does not exist."""


class ArtifactConfigError(ArtifactError):
    """The artifact's location or the repository configuration is unusable."""


class UnsafeArchive(ArtifactError):
    """An archive member would land outside the destination (traversal, absolute path, link escape)."""

    def __init__(self, message: str, *, member: str, artifact: str | None = None) -> None:
        super().__init__(f"unsafe archive member {member!r}: {message}", artifact=artifact)
        self.member = member


class S3Error(ArtifactError):
    """An S3-compatible server answered with an error status; `code` is its XML error code."""

    def __init__(self, message: str, *, status: int, code: str | None, artifact: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status}{', ' + code if code else ''})", artifact=artifact)
        self.status = status
        self.code = code
