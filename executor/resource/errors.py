"""Typed errors of the `resource` command.

`ResourceError` is bad input (the template, a flag, the manifest, a condition) and names the
place; `KubeError` and its subclasses are the API server's refusals, mapped once from the HTTP
status by the client (STYLE.md §13); `ResourceFailed` is a failure condition that held.
"""
from __future__ import annotations

from .._errors import ExecutorError

__all__ = ["KubeAlreadyExists", "KubeConflict", "KubeError", "KubeNotFound", "KubeUnsupportedMediaType",
           "ResourceError", "ResourceFailed"]


class ResourceError(ExecutorError):
    """The resource template, a flag or the manifest is unusable; `where` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} - at {where!r}")
        self.where = where
        self.message = message


class ResourceFailed(ExecutorError):
    """The failure condition matched the live object, or the object vanished while waited on."""


class KubeError(ExecutorError):
    """An API server refusal: HTTP `status`, Kubernetes `reason`, the server's `message`.

    `str()` reads as kubectl prints it: `Error from server (NotFound): pods "x" not found`.
    `transient` says a retry may succeed (429, 5xx, a lost connection).
    """

    def __init__(self, message: str, /, *, status: int = 0, reason: str = "") -> None:
        super().__init__(f"Error from server ({reason}): {message}" if reason else message)
        self.status, self.reason, self.message = status, reason, message
        self.retry_after: float | None = None  # seconds, when the server said (429, 503)

    @property
    def transient(self) -> bool:
        return self.status == 429 or self.status >= 500 or self.status == 0


class KubeNotFound(KubeError):
    pass


class KubeAlreadyExists(KubeError):
    pass


class KubeConflict(KubeError):
    pass


class KubeUnsupportedMediaType(KubeError):
    """415: e.g. a strategic merge patch sent for a custom resource."""
