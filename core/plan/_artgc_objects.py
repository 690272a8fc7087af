"""The objects artifact GC asks for: its WorkflowArtifactGCTasks and its pods (core.plan.artifact_gc).

Both are owned by the Workflow (so they go with it) and labelled with its name; a task also with
`workflows.argoproj.io/artifact-gc-pod=<pod>`, which is how its pod finds it. The pod runs the
executor image's `artifact-gc` command as Argo's GC pod does (restartPolicy Never, non-root, the
executor's minimal container security context), with the repository credentials as Secret
volumes at /argo/secret/<name>, shared with the workflow pods' rules (`_podvolumes`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tiphys.core.plan._podcontainers import executor_container
from tiphys.core.plan._podpatch import parse_patch, strategic_merge
from tiphys.core.plan._podvolumes import secret_volumes
from tiphys.core.plan.meta import PodSettings, WorkflowMeta

__all__ = ["POD_LABEL", "COMPONENT", "gc_task", "gc_pod"]

_P = "workflows.argoproj.io/"
POD_LABEL = _P + "artifact-gc-pod"
COMPONENT = "artifact-gc"


def _owner(meta: WorkflowMeta) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": meta.name, "uid": meta.uid,
            "controller": True, "blockOwnerDeletion": True}


def _labels(meta: WorkflowMeta) -> dict[str, str]:
    labels = {_P + "workflow": meta.name}
    if meta.instance_id:
        labels[_P + "controller-instanceid"] = meta.instance_id
    return labels


def gc_task(meta: WorkflowMeta, name: str, pod_name: str, items: list[Any], archive: dict, /) -> dict[str, Any]:
    """A WorkflowArtifactGCTask of `items` (each with `node_id` and `artifact`), for the pod `pod_name`."""
    by_node: dict[str, Any] = {}
    for item in items:
        entry = by_node.setdefault(item.node_id, {"archiveLocation": archive, "artifacts": {}})
        entry["artifacts"][item.artifact["name"]] = item.artifact
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowArtifactGCTask",
            "metadata": {"name": name, "namespace": meta.namespace, "labels": {**_labels(meta), POD_LABEL: pod_name},
                         "ownerReferences": [_owner(meta)]},
            "spec": {"artifactsByNode": by_node}}


def gc_pod(meta: WorkflowMeta, spec: Mapping[str, Any], name: str, sa: str, metadata: Mapping[str, Any],
           artifacts: list[dict], archive: dict, /, *, settings: PodSettings) -> dict[str, Any]:
    """The GC pod `name` of one group: executor image running `artifact-gc`, the group's SA and
    podMetadata, the locations' Secrets mounted, `spec.artifactGC.podSpecPatch` merged last."""
    security = dict(settings.executor_security_context) if settings.executor_security_context is not None else {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
        "runAsNonRoot": True}
    ctr = executor_container("main", list(settings.executor_command), settings=settings, meta=meta, security=security)
    ctr["args"] = ["artifact-gc", "--loglevel", "info"]
    # Argo createSecretVolumesAndMountsFromArtifactLocations, shared with the workflow pods
    volumes, ctr["volumeMounts"] = secret_volumes([("archiveLocation", archive), *(
        (f"artifacts.{a.get('name')}", a) for a in artifacts)])
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "securityContext": {
                                    "runAsNonRoot": True, "runAsUser": 8737, "seccompProfile": {"type": "RuntimeDefault"}},
                                "containers": [ctr], "volumes": volumes}
    if sa:
        pod_spec["serviceAccountName"] = sa
    if spec.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = [dict(s) for s in spec["imagePullSecrets"] if isinstance(s, dict)]
    patch = (spec.get("artifactGC") or {}).get("podSpecPatch")
    if patch:
        pod_spec = strategic_merge(pod_spec, parse_patch(str(patch), where="spec.artifactGC.podSpecPatch"))
    labels = {**{str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}, **_labels(meta),
              _P + "component": COMPONENT}
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    annotations["kubectl.kubernetes.io/default-container"] = "main"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": meta.namespace, "labels": labels, "annotations": annotations,
                         "ownerReferences": [_owner(meta)]},
            "spec": pod_spec}
