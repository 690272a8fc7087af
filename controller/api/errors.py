"""Typed errors of the API boundary, mapped once from Kubernetes' `Status` (STYLE.md entry 13).

Every implementation of `tiphys.controller.api.base.Api` raises these and nothing else for API
failures, so callers branch on the type and its fields, never on `str(exc)`:

    NotFound 404      AlreadyExists 409 (reason AlreadyExists)   Conflict 409 (stale resourceVersion)
    Gone 410          Invalid 422 (with field `causes`)          TooManyRequests 429 (`retry_after`)
    BadRequest 400    Forbidden 403   MethodNotAllowed 405   UnsupportedMediaType 415
    ServerTimeout 504 (incl. "too large resource version")   InternalError 500

`AlreadyExists` and `Conflict` share the status code but not the meaning: a retry-on-conflict loop
must not swallow a duplicate create, so neither subclasses the other. `from_status` is the one
place that turns a wire `Status` (or a bare HTTP code) into a typed error; `to_status` goes back,
for watch ERROR events.
"""
from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "StatusCause", "ApiError", "BadRequest", "Unauthorized", "Forbidden", "NotFound",
    "MethodNotAllowed", "AlreadyExists", "Conflict", "Gone", "UnsupportedMediaType", "Invalid",
    "TooManyRequests", "InternalError", "ServerTimeout", "from_status", "to_status",
]


class StatusCause(msgspec.Struct, frozen=True):
    """One field-level cause of an `Invalid` (Kubernetes `StatusCause`)."""

    field: str
    reason: str
    message: str


class ApiError(Exception):
    """Base of every API failure: HTTP `status`, machine `reason`, human `message`."""

    status: int = 500
    default_reason: str = "InternalError"

    def __init__(self, message: str, /, *, status: int | None = None, reason: str | None = None,
                 causes: tuple[StatusCause, ...] = (), retry_after: float | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.reason = reason if reason is not None else self.default_reason
        self.message = message
        self.causes = tuple(causes)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, reason={self.reason!r}, message={self.message!r})"


class BadRequest(ApiError):
    status, default_reason = 400, "BadRequest"


class Unauthorized(ApiError):
    status, default_reason = 401, "Unauthorized"


class Forbidden(ApiError):
    status, default_reason = 403, "Forbidden"


class NotFound(ApiError):
    status, default_reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    status, default_reason = 405, "MethodNotAllowed"


class AlreadyExists(ApiError):
    status, default_reason = 409, "AlreadyExists"


class Conflict(ApiError):
    status, default_reason = 409, "Conflict"


class Gone(ApiError):
    """410: the requested resourceVersion was compacted away; relist (reason `Expired` or `Gone`)."""

    status, default_reason = 410, "Expired"


class UnsupportedMediaType(ApiError):
    status, default_reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    """422: the object failed validation; `causes` name each offending field."""

    status, default_reason = 422, "Invalid"


class TooManyRequests(ApiError):
    """429: back off for `retry_after` seconds (None when the server gave no hint)."""

    status, default_reason = 429, "TooManyRequests"


class InternalError(ApiError):
    status, default_reason = 500, "InternalError"


class ServerTimeout(ApiError):
    """504 (reason `Timeout`); also "too large resource version" (cause `ResourceVersionTooLarge`)."""

    status, default_reason = 504, "Timeout"


# reason first (it separates AlreadyExists from Conflict), then the code.
_BY_REASON: dict[str, type[ApiError]] = {
    "AlreadyExists": AlreadyExists, "Conflict": Conflict, "Expired": Gone, "Gone": Gone,
    "Invalid": Invalid, "NotFound": NotFound, "TooManyRequests": TooManyRequests,
    "BadRequest": BadRequest, "Unauthorized": Unauthorized, "Forbidden": Forbidden,
    "MethodNotAllowed": MethodNotAllowed, "UnsupportedMediaType": UnsupportedMediaType,
    "Timeout": ServerTimeout, "InternalError": InternalError,
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 410: Gone, 415: UnsupportedMediaType, 422: Invalid, 429: TooManyRequests,
    500: InternalError, 504: ServerTimeout,
}


def from_status(status: dict[str, Any] | int, /, *, retry_after: float | None = None) -> ApiError:
    """Map a Kubernetes `Status` object (or a bare HTTP status code) to its typed error.

    `retry_after` (from a `Retry-After` header) wins over `details.retryAfterSeconds`.
    """
    if isinstance(status, int):
        cls = _BY_CODE.get(status, ApiError)
        return cls(f"HTTP {status}", status=status)
    code = int(status.get("code") or 500)
    reason = str(status.get("reason") or "")
    details = status.get("details") or {}
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code, ApiError)
    causes = tuple(StatusCause(str(c.get("field", "")), str(c.get("reason", "")), str(c.get("message", "")))
                   for c in details.get("causes") or ())
    if retry_after is None and details.get("retryAfterSeconds") is not None:
        retry_after = float(details["retryAfterSeconds"])
    return cls(str(status.get("message") or reason or f"HTTP {code}"), status=code,
               reason=reason or None, causes=causes, retry_after=retry_after)


def to_status(error: ApiError, /) -> dict[str, Any]:
    """The wire `Status` for `error` (inverse of `from_status`)."""
    details: dict[str, Any] = {}
    if error.causes:
        details["causes"] = [{"field": c.field, "reason": c.reason, "message": c.message} for c in error.causes]
    if error.retry_after is not None:
        details["retryAfterSeconds"] = int(error.retry_after)
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": error.message, "reason": error.reason, "code": error.status}
    if details:
        status["details"] = details
    return status
