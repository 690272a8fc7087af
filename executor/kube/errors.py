"""The API server's refusals, typed once from the HTTP status (STYLE.md §13).

`KubeError` carries the status, the Kubernetes `reason` and the server's message; its
subclasses are the statuses callers branch on. `transient` says whether the same request may
succeed later (429, 5xx, a connection lost before an answer): the client retries reads on it,
and task-result reports retry on it, because their create-then-patch is safe to repeat.
"""
from __future__ import annotations

from .._errors import ExecutorError

__all__ = ["KubeAlreadyExists", "KubeConflict", "KubeError", "KubeNotFound", "KubeUnsupportedMediaType",
           "NotInCluster"]


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


class NotInCluster(KubeError):
    """No in-cluster configuration: KUBERNETES_SERVICE_HOST unset, or no service-account token.

    Not transient, though its status is 0: retrying cannot mount a token."""

    @property
    def transient(self) -> bool:
        return False


class KubeNotFound(KubeError):
    pass


class KubeAlreadyExists(KubeError):
    pass


class KubeConflict(KubeError):
    pass


class KubeUnsupportedMediaType(KubeError):
    """415: e.g. a strategic merge patch sent for a custom resource."""
