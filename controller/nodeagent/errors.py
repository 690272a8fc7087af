"""Typed errors of the node agent.

A pod the agent cannot run ends up with a container `waiting` reason and a message that names
the place (`where`: `pod <ns>/<name> container <c>`, `... volume <v>`), the same way a kubelet
reports `CreateContainerConfigError` or `ErrImageNeverPull`. The class carries the kubelet reason
so the agent never parses messages to decide what to write.
"""
from __future__ import annotations

__all__ = ["NodeAgentError", "ImageNotMapped", "ContainerConfigError", "VolumeError"]


class NodeAgentError(Exception):
    """Base class: `where` names the pod/container/volume, `reason` is the kubelet waiting reason."""

    reason = "CreateContainerError"

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


class ImageNotMapped(NodeAgentError):
    """No host program stands in for this image (the agent never pulls images)."""

    reason = "ErrImageNeverPull"

    def __init__(self, where: str, image: str, detail: str = "") -> None:
        text = f"image {image} has no host equivalent (configure the image map)"
        super().__init__(where, f"{text}: {detail}" if detail else text)
        self.image = image


class ContainerConfigError(NodeAgentError):
    """The container spec asks for something the agent cannot provide (env source, bad path, ...)."""

    reason = "CreateContainerConfigError"


class VolumeError(NodeAgentError):
    """A volume could not be materialised (missing ConfigMap/Secret key, unsupported source, ...)."""

    reason = "CreateContainerConfigError"

