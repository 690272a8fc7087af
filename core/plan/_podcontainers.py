"""The containers of a workflow pod: executor containers, main containers, the emissary wrap, env.

Argo runs the user's command under its `emissary` wrapper (`/var/run/argo/argoexec emissary --
<cmd>`); the static wrapper binary is copied into the shared `/var/run/argo` emptyDir by the `init`
container. Executor containers (`init`, `wait`, and the main container of `resource`/`data`
templates) run the executor image with the executor's own entry point.

Executor containers are made to pass Pod Security Standards *restricted* by default (Argo only
locks down resource pods; see argo-semantics §5.21): the user's code is not affected, and a pod
security context that sets the user or the seccomp profile itself wins over our defaults.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from tiphys.core.plan._poderrors import MissingEntrypoint, PodSpecError
from tiphys.core.plan._podpatch import clone, strategic_merge
from tiphys.core.plan.meta import PodSettings, WorkflowMeta

__all__ = ["POD_KINDS", "template_kind", "main_containers", "executor_container", "executor_security", "wrap",
           "add_env", "template_env_value"]

POD_KINDS = ("container", "script", "resource", "data", "containerSet")

_RESTRICTED: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 8737,  # the UID of Argo's non-root executor image
    "seccompProfile": {"type": "RuntimeDefault"},
}


def template_kind(template: dict, /, *, where: str) -> str:
    kinds = [k for k in POD_KINDS if template.get(k) is not None]
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        raise PodSpecError(where, f"a pod template needs exactly one of {', '.join(POD_KINDS)} (found {found})")
    return kinds[0]


def executor_security(settings: PodSettings, pod_security: dict | None) -> dict:
    """The securityContext of executor containers.

    `settings.executor_security_context` (ConfigMap `executor.securityContext`) is used as is.
    Otherwise the restricted default, minus the fields the pod-level context already decides, so
    a template asking for `runAsUser: 0` gets root executors instead of a pod that cannot start.
    """
    if settings.executor_security_context is not None:
        return clone(dict(settings.executor_security_context))
    out = clone(_RESTRICTED)
    pod_security = pod_security or {}
    if any(k in pod_security for k in ("runAsUser", "runAsNonRoot")):
        out.pop("runAsUser")
        out.pop("runAsNonRoot")
    if "seccompProfile" in pod_security:
        out.pop("seccompProfile")
    return out


def executor_container(name: str, command: list[str], *, settings: PodSettings, meta: WorkflowMeta,
                       security: dict) -> dict:
    """Argo `newExecContainer`: executor image, downward-API identity env, executor resources."""
    env: list[dict[str, Any]] = [
        {"name": "ARGO_POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "ARGO_POD_UID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.uid"}}},
        # not in Argo (argoexec asks its kubeconfig); the tiphys executor writes task results here
        {"name": "ARGO_NAMESPACE",
         "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "ARGO_WORKFLOW_NAME", "value": meta.name},
        {"name": "ARGO_WORKFLOW_UID", "value": meta.uid},
    ]
    if meta.instance_id:
        env.append({"name": "ARGO_INSTANCE_ID", "value": meta.instance_id})
    env += [{"name": k, "value": v} for k, v in sorted(settings.executor_env.items())]
    ctr: dict[str, Any] = {"name": name, "image": settings.executor_image, "command": command, "env": env}
    if settings.executor_image_pull_policy:
        ctr["imagePullPolicy"] = settings.executor_image_pull_policy
    if settings.executor_resources:
        ctr["resources"] = clone(dict(settings.executor_resources))
    if security:
        ctr["securityContext"] = security
    return ctr


def _owned_manifest(manifest: str, owner: dict, where: str) -> str:
    """`setOwnerReference: true`: the manifest with the Workflow appended to its ownerReferences."""
    try:
        obj = yaml.safe_load(manifest)
    except yaml.YAMLError as exc:
        raise PodSpecError(where, f"resource.manifest is not YAML: {exc}") from None
    if not isinstance(obj, dict):
        raise PodSpecError(where, "resource.manifest must be a single object when setOwnerReference is true")
    md = obj.setdefault("metadata", {}) or {}
    obj["metadata"] = md
    md["ownerReferences"] = [*(md.get("ownerReferences") or ()), owner]
    return yaml.safe_dump(obj, sort_keys=True)


def main_containers(template: dict, kind: str, /, *, settings: PodSettings, meta: WorkflowMeta, owner: dict,
                    security: dict, where: str) -> tuple[dict, list[dict]]:
    """(template as it runs, its main containers named as Argo names them, not yet wrapped)."""
    exe = list(settings.executor_command)
    if kind == "resource":
        res = dict(template["resource"])
        if res.get("setOwnerReference") and res.get("manifest"):
            res["manifest"] = _owned_manifest(str(res["manifest"]), owner, where)
            template = {**template, "resource": res}
        action = str(res.get("action") or "")
        if not action:
            raise PodSpecError(where, "resource.action is required")
        return template, [executor_container("main", [*exe, "resource", action], settings=settings, meta=meta,
                                             security=security)]
    if kind == "data":
        data_json = json.dumps(template["data"], separators=(",", ":"))
        return template, [executor_container("main", [*exe, "data", data_json], settings=settings, meta=meta,
                                             security=security)]
    if kind == "containerSet":
        cs = template["containerSet"]
        shared = cs.get("volumeMounts") or []
        ctrs = []
        for i, node in enumerate(cs.get("containers") or ()):
            c = {k: clone(v) for k, v in node.items() if k != "dependencies"}
            if not c.get("name"):
                c["name"] = "main"  # Argo: an unnamed member becomes main
            if shared:
                c["volumeMounts"] = [*(c.get("volumeMounts") or ()), *clone(shared)]
            ctrs.append(_under_defaults(c, settings))
        if not ctrs:
            raise PodSpecError(where, "containerSet.containers must not be empty")
        return template, ctrs
    body = clone(template[kind])
    if kind == "script":
        source = body.pop("source", "")
        if source:  # Argo warns and runs the container as is when the source is empty
            body["args"] = [*(body.get("args") or ()), "/argo/staging/script"]
    body.pop("name", None)
    return template, [_under_defaults({"name": "main", **body}, settings)]


def _under_defaults(ctr: dict, settings: PodSettings) -> dict:
    """ConfigMap `mainContainer` strategic-merged *under* a user main container."""
    if not settings.main_container:
        return ctr
    return strategic_merge(clone(dict(settings.main_container)), ctr)


def wrap(ctr: dict, /, *, settings: PodSettings, where: str) -> None:
    """Run the container's command under emissary, resolving an omitted command from the image index."""
    command = list(ctr.get("command") or ())
    if not command:
        image = str(ctr.get("image", ""))
        entry = settings.images.get(image)
        if entry is None:
            raise MissingEntrypoint(f"{where}.{ctr.get('name')}", image)
        command = list(entry.get("entrypoint") or ())
        if ctr.get("args") is None:  # nil, not empty: an explicit `args: []` is kept
            ctr["args"] = list(entry.get("cmd") or ())
    ctr["command"] = [settings.wrapper_path, "emissary", "--", *command]


def template_env_value(template: dict, /) -> str:
    """ARGO_TEMPLATE: the template as JSON, inputs.parameters removed (resolved already; may be large or secret)."""
    t = dict(template)
    inputs = t.get("inputs")
    if isinstance(inputs, dict) and "parameters" in inputs:
        t["inputs"] = {k: v for k, v in inputs.items() if k != "parameters"}
    return json.dumps(t, separators=(",", ":"), ensure_ascii=False)


def add_env(ctr: dict, /, *, executor: bool, template_json: str, node_id: str, workflow: str,
            include_script_output: bool, deadline: str, grace: int | None) -> None:
    """Append the per-container variables every Argo container gets (after the user's own)."""
    env = ctr.setdefault("env", [])
    env.append({"name": "ARGO_CONTAINER_NAME", "value": ctr.get("name", "")})
    if executor:
        env.append({"name": "ARGO_TEMPLATE", "value": template_json})
    env.append({"name": "ARGO_NODE_ID", "value": node_id})
    env.append({"name": "ARGO_INCLUDE_SCRIPT_OUTPUT", "value": "true" if include_script_output else "false"})
    env.append({"name": "ARGO_DEADLINE", "value": deadline})
    if not any(e.get("name") == "ARGO_WORKFLOW_NAME" for e in env):
        env.append({"name": "ARGO_WORKFLOW_NAME", "value": workflow})
    env.append({"name": "ARGO_PROGRESS_FILE", "value": "/var/run/argo/progress"})
    env.append({"name": "ARGO_PROGRESS_PATCH_TICK_DURATION", "value": "1m0s"})
    env.append({"name": "ARGO_PROGRESS_FILE_TICK_DURATION", "value": "3s"})
    if grace is not None:
        env.append({"name": "ARGO_TERMINATION_GRACE_PERIOD_SECONDS", "value": str(grace)})
