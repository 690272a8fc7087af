"""tiphys.controller.nodeagent: a kubelet without images for one machine.

`NodeAgent` binds and runs pods through the API boundary as host processes, each container in
its own mount namespace where possible (`sandbox`), with images mapped to host programs
(`images.ImageMap`), and reports pod status as a kubelet does (`status`). See `agent` for the
control flow and `podrun` for one pod's lifecycle.
"""
from .agent import TERMINATE_ANNOTATION, NodeAgent, ensure_wrapper
from .errors import ContainerConfigError, ImageNotMapped, NodeAgentError, VolumeError
from .images import DEFAULT_EXECUTOR_IMAGE, HostImage, ImageMap, ResolvedCommand, normalize_image
from .podrun import PodRun, RunContext
from .sandbox import Isolation, Mount, probe_isolation

__all__ = [
    "NodeAgent", "TERMINATE_ANNOTATION", "ensure_wrapper",
    "NodeAgentError", "ImageNotMapped", "ContainerConfigError", "VolumeError",
    "HostImage", "ImageMap", "ResolvedCommand", "normalize_image", "DEFAULT_EXECUTOR_IMAGE",
    "PodRun", "RunContext", "Isolation", "Mount", "probe_isolation",
]
