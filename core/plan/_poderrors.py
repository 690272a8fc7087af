"""Typed errors raised while building a workflow pod or reading a pod's status.

Each error names its place (`where`): the template field, the container or the pod field that was
wrong, so the planner can put a precise message on the node (Argo turns all of these into a node
`Error`). Nothing reads `str(exc)` to classify: the class says what happened.
"""
from __future__ import annotations

__all__ = ["PodSpecError", "VolumeNotFound", "MissingEntrypoint", "InvalidPodSpecPatch", "DeadlineExceeded",
           "PodStatusError"]


class PodSpecError(ValueError):
    """The template (or workflow spec) cannot be turned into a pod."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


class VolumeNotFound(PodSpecError):
    """A volume mount names a volume that neither the template, the workflow nor a claim template defines."""

    def __init__(self, where: str, volume: str) -> None:
        # Argo's text, so users see the same message on the node
        super().__init__(where, f"volume '{volume}' not found in workflow spec")
        self.volume = volume


class MissingEntrypoint(PodSpecError):
    """A wrapped container has no `command` and its image is not in the entrypoint index.

    Argo asks the registry here; a pure planner cannot, so the shell must resolve the image and
    put it into `PodSettings.images` (Argo's ConfigMap `images` index has the same shape).
    """

    def __init__(self, where: str, image: str) -> None:
        super().__init__(where, f"no command given and image {image!r} is not in the entrypoint index")
        self.image = image


class InvalidPodSpecPatch(PodSpecError):
    """`podSpecPatch` is not YAML/JSON of a PodSpec-shaped mapping."""


class DeadlineExceeded(PodSpecError):
    """The deadline leaves no time to run the pod (Argo: `<node> exceeded its deadline`)."""

    def __init__(self, node_name: str) -> None:
        super().__init__("", f"{node_name} exceeded its deadline")
        self.node_name = node_name


class PodStatusError(ValueError):
    """A pod handed to `assess_pod` is not shaped like a v1 Pod."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message
