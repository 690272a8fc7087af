"""The API server's refusals, typed once from the HTTP status (STYLE.md §13).

`KubeError` carries the status, the Kubernetes `reason` and the server's message; its
subclasses are the statuses callers branch on (`KubeGone`: a watch's resourceVersion is too old,
relist). `from_status` types a `Status` the server sent, in a response body or a watch's ERROR
event alike. `transient` says whether the same request may
succeed later (429, 5xx, a connection lost before an answer): the client retries reads on it,
and task-result reports retry on it, because their create-then-patch is safe to repeat.
"""
from __future__ import annotations

from .._errors import ExecutorError

__all__ = ["KubeAlreadyExists", "KubeConflict", "KubeError", "KubeGone", "KubeNotFound", "KubeUnsupportedMediaType",
           "NotInCluster", "from_status"]


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


class KubeGone(KubeError):
    """410: the resourceVersion a watch asked for is no longer in the server's window
    (`too old resource version`); list again and watch from the list's version."""


def from_status(status: int, body: object, /, *, fallback: str = "") -> KubeError:
    """The typed error for HTTP `status` and a decoded `Status` body (any other body: `fallback`
    is the message). A watch's ERROR event carries its status as the body's `code`."""
    doc = body if isinstance(body, dict) else {}
    reason = str(doc.get("reason") or "")
    message = str(doc.get("message") or fallback or f"HTTP {status}")
    if status == 404:
        return KubeNotFound(message, status=status, reason=reason or "NotFound")
    if status == 409:
        cls = KubeAlreadyExists if reason == "AlreadyExists" else KubeConflict
        return cls(message, status=status, reason=reason or "Conflict")
    if status == 410:
        return KubeGone(message, status=status, reason=reason or "Gone")
    if status == 415:
        return KubeUnsupportedMediaType(message, status=status, reason=reason or "UnsupportedMediaType")
    return KubeError(message, status=status, reason=reason or f"HTTP {status}")
