"""The agent pod: one per workflow while any HTTP node is unfinished (Argo's `createAgentPod`).

Argo runs `http` (and plugin) templates outside workflow pods: the controller writes them into
the workflow's WorkflowTaskSet and one agent pod (`argoexec agent`) performs them. The pod is named
`<wf>-<fnv32a("agent")>-agent` (Argo's `wf.NodeID("agent") + "-agent"`), labelled
`workflows.argoproj.io/component=agent` (so a NetworkPolicy can single it out) and owned by the
Workflow. As in Argo: executor image, `init` then `main` containers running `agent init` /
`agent main --loglevel info`, the workflow's `serviceAccountName`, non-root UID 8737, minimal
container security context, `restartPolicy: OnFailure`.

Where tiphys differs, and why: the service-account token is mounted the ordinary way (Argo
mounts the SA's token Secret explicitly with automount off; the executor's in-cluster client
reads the standard path), and `ARGO_NAMESPACE` comes from the downward API as for every
tiphys executor container (argoexec asks its kubeconfig).
"""
from __future__ import annotations

from typing import Any

from tiphys.core.plan._podcontainers import executor_container
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.status import ids

__all__ = ["AGENT_COMPONENT", "COMPONENT_LABEL", "agent_pod_name", "agent_pod"]

_P = "workflows.argoproj.io/"
COMPONENT_LABEL = _P + "component"
AGENT_COMPONENT = "agent"
_MINIMAL_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
               "readOnlyRootFilesystem": True, "runAsNonRoot": True}  # Argo's common.MinimalCtrSC()


def agent_pod_name(workflow: str, /) -> str:
    return ids.node_id(workflow, "agent") + "-agent"


def agent_pod(meta: WorkflowMeta, spec: dict, /, *, settings: PodSettings) -> dict[str, Any]:
    """The agent pod of the workflow `meta` (its spec `spec`), as the applier creates it."""
    name = agent_pod_name(meta.name)
    labels = {_P + "workflow": meta.name, _P + "completed": "false", COMPONENT_LABEL: AGENT_COMPONENT}
    if meta.instance_id:
        labels[_P + "controller-instanceid"] = meta.instance_id
    extra = [{"name": "ARGO_AGENT_PATCH_RATE", "value": settings.agent_patch_rate}]
    security = dict(settings.executor_security_context) if settings.executor_security_context is not None \
        else {k: (dict(v) if isinstance(v, dict) else v) for k, v in _MINIMAL_SC.items()}
    exe = list(settings.executor_command)
    containers = []
    for role in ("init", "main"):
        ctr = executor_container(role, exe, settings=settings, meta=meta, security=security)
        ctr["args"] = ["agent", role, "--loglevel", "info"]
        ctr["env"] = [*ctr["env"], *extra]
        ctr["volumeMounts"] = [{"name": "var-run-argo", "mountPath": "/var/run/argo"}]
        containers.append(ctr)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 8737},
        "volumes": [{"name": "var-run-argo", "emptyDir": {}}],
        "initContainers": [containers[0]],
        "containers": [containers[1]],
    }
    sa = spec.get("serviceAccountName") or settings.default_service_account
    if sa:
        pod_spec["serviceAccountName"] = sa
    if spec.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = [dict(s) for s in spec["imagePullSecrets"] if isinstance(s, dict)]
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": meta.name, "uid": meta.uid,
             "controller": True, "blockOwnerDeletion": True}
    metadata = {"name": name, "namespace": meta.namespace, "labels": labels,
                "annotations": {"kubectl.kubernetes.io/default-container": "main"}, "ownerReferences": [owner]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
