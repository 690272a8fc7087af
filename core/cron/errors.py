"""Typed errors of the cron package: each names the field path it is about."""
from __future__ import annotations

__all__ = ["CronSpecError"]


class CronSpecError(ValueError):
    """A CronWorkflow field that cannot be used (bad schedule, unknown zone, bad policy...).

    `path` is a JSONPath-like place (`$.spec.schedules[1]`), `message` the problem alone.
    """

    def __init__(self, path: str, message: str, /) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
