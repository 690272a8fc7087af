"""Typed errors of the `resource` command.

`ResourceError` is bad input (the template, a flag, the manifest, a condition) and names the
place; `ResourceFailed` is a failure condition that held. The API server's refusals are
`tiphys.executor.kube`'s `KubeError` family, shared with `wait` and the agent.
"""
from __future__ import annotations

from .._errors import ExecutorError

__all__ = ["ResourceError", "ResourceFailed"]


class ResourceError(ExecutorError):
    """The resource template, a flag or the manifest is unusable; `where` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{message} - at {where!r}")
        self.where = where
        self.message = message


class ResourceFailed(ExecutorError):
    """The failure condition matched the live object, or the object vanished while waited on."""
