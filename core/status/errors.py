"""Typed errors of the status codec.

The controller tells them apart by type, never by message: `StatusTooLarge` becomes a workflow
failure (Argo's "workflow is longer than maximum allowed size"), `CorruptStatus` means a stored
status could not be read back and names the stage that failed.
"""
from __future__ import annotations

__all__ = ["StatusError", "CorruptStatus", "StatusTooLarge"]


class StatusError(Exception):
    """Base of every status codec error."""


class CorruptStatus(StatusError):
    """A stored status could not be decoded; `stage` says where (base64, zstd, json, compact...)."""

    def __init__(self, stage: str, detail: str, /) -> None:
        super().__init__(f"corrupt node status ({stage}): {detail}")
        self.stage = stage
        self.detail = detail


class StatusTooLarge(StatusError):
    """Even the densest format exceeds the hard limit; the workflow must fail, not the controller."""

    def __init__(self, size: int, limit: int, /, *, form: str) -> None:
        super().__init__(f"workflow is longer than maximum allowed size: {size} bytes with the {form} "
                         f"node status > limit {limit}")
        self.size = size
        self.limit = limit
        self.form = form
