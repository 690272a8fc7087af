"""What the planner knows of the Workflow object itself (not its spec): identity and labels."""
from __future__ import annotations

import msgspec

__all__ = ["WorkflowMeta", "PodSettings"]


class WorkflowMeta(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    namespace: str
    uid: str
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    creation_timestamp: str = ""  # RFC3339
    instance_id: str = ""


# Argo's own test image, used throughout its examples without a command
KNOWN_IMAGES: dict[str, dict[str, list[str]]] = {
    "argoproj/argosay:v2": {"entrypoint": ["/argosay"], "cmd": []},
    "argoproj/argosay:v1": {"entrypoint": ["/argosay"], "cmd": []},
}


class PodSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Controller settings that shape workflow pods (from the controller ConfigMap and flags)."""

    executor_image: str = "quay.io/tiphys/tiphys:v0.1.0"
    executor_image_pull_policy: str = ""
    # the executor's entry point inside its image (Argo: argoexec)
    executor_command: tuple[str, ...] = ("tiphys-executor",)
    # the static main-container wrapper, copied by `init` into /var/run/argo (Argo: /var/run/argo/argoexec emissary)
    wrapper_path: str = "/var/run/argo/argoexec"
    pod_name_format: str = "v2"
    default_service_account: str = ""
    # ConfigMap `executor.securityContext`; None = tiphys' PSS-restricted default (see podspec)
    executor_security_context: dict | None = None
    # ConfigMap `executor.resources`
    executor_resources: dict = {}
    # ConfigMap `mainContainer`: strategic-merged under user main containers
    main_container: dict = {}
    # ConfigMap `images`: image -> {"entrypoint": [...], "cmd": [...]} for containers without a command
    images: dict[str, dict[str, list[str]]] = msgspec.field(default_factory=lambda: dict(KNOWN_IMAGES))
    # tiphys: give the user's containers (main, sidecars, init) the `restricted` Pod Security
    # Standard's settings where the template sets none, so workflow pods run in namespaces that
    # enforce it (runAsNonRoot as UID 8737, no privilege escalation, no capabilities, RuntimeDefault
    # seccomp). Off by default, as in Argo: images that expect root would break.
    restricted_pods: bool = False
    # extra environment of the executor's containers (init, wait): e.g. TIPHYS_ARTIFACT_DIR, the
    # embedded default's local artifact repository
    executor_env: dict[str, str] = {}
    # ConfigMap `podGCDeleteDelayDuration`, used in the pod-gc-strategy annotation when podGC has none
    pod_gc_delete_delay: str = "5s"
    # ConfigMap `podGCGracePeriodSeconds`: the grace period of pod GC deletes (None: the pod's own)
    pod_gc_grace_period_seconds: int | None = None
    # the agent pod's ARGO_AGENT_PATCH_RATE: at most one task-set status patch per this duration.
    # Argo's default is DEFAULT_REQUEUE_TIME (10s); tiphys reacts to each task-set event at once, so
    # it patches sooner (the agent sends a result alone at once, a burst batched per this rate)
    agent_patch_rate: str = "1s"
    # ConfigMap `disableAgentPodCreation` (inverted): False leaves HTTP tasks to an agent run elsewhere
    agent_pod_creation: bool = True
