"""Build the v1 Pod that runs one leaf node of a workflow, in Argo's legacy (init + wait) layout.

`build_pod` is Argo's `createWorkflowPod` (`workflow/controller/workflowpod.go`) as a pure
function: the template comes in fully substituted (including `{{pod.name}}`), the pod goes out
as a plain JSON-compatible dict ready for the API server. The steps follow Argo's order, because
order is observable: kubelet starts containers in list order, `podSpecPatch` sees the pod before
the emissary wrap and env are added (so a patched `command` is wrapped too), and the wait
container mirrors main's mounts after the patch.

    metadata      labels, annotations (node name/id, default container, pod GC), owner Workflow
    spec          restartPolicy Never, deadline, service account, scheduling, volumes
    containers    wait, main container(s), sidecars     (wait omitted for resource/data)
    initContainers init, user init containers
    credentials   one Secret volume per artifact Secret, at /argo/secret/<name> in init, wait
                  and a data pod's main

Choices that differ from Argo are commented where they are made: executor containers are PSS
*restricted* by default; `podMetadata` cannot overwrite the labels/annotations the controller
indexes pods by; an omitted command is resolved only from `PodSettings.images` (no registry).
Oversized templates/args (> 128 KiB) are moved into a ConfigMap by `offload_oversize`, which the
planner calls on the built pod (it returns the ConfigMap to create before the pod).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from tiphys.core.plan import _podcontainers as _ctrs
from tiphys.core.plan import _podvolumes as _vols
from tiphys.core.plan._poderrors import DeadlineExceeded, PodSpecError
from tiphys.core.plan._podoffload import offload_oversize
from tiphys.core.plan._podpatch import clone, parse_patch, strategic_merge
from tiphys.core.plan.meta import PodSettings, WorkflowMeta

__all__ = ["build_pod", "offload_oversize", "owner_reference", "format_go_duration", "ZERO_DEADLINE"]

_P = "workflows.argoproj.io/"
ZERO_DEADLINE = "0001-01-01T00:00:00Z"  # Go's zero time.Time in RFC3339: "no deadline"
# keys the controller finds pods by; podMetadata/template metadata may not overwrite them
_RESERVED_LABELS = frozenset({_P + "workflow", _P + "completed", _P + "controller-instanceid"})
_RESERVED_ANNOTATIONS = frozenset({_P + "node-name", _P + "node-id"})
_SA_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def owner_reference(meta: WorkflowMeta, /) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": meta.name, "uid": meta.uid,
            "controller": True, "blockOwnerDeletion": True}


def format_go_duration(seconds: float, /) -> str:
    """Go's `time.Duration.String()`: `0s`, `500ms`, `5s`, `1m30s`, `1h0m0s`, `1.5s`."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(f"{ns / size:.9f}") + unit
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = _trim(f"{rest / 1e9:.9f}") + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _parse_time(text: str, where: str) -> float:
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PodSpecError(where, f"not an RFC3339 time: {text!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp()


def _int_or_string(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise PodSpecError(where, f"expected an integer, got {value!r}") from None


def build_pod(template: dict, /, *, meta: WorkflowMeta, spec: dict, node_id: str, node_name: str, pod_name: str,
              settings: PodSettings, deadline: str | None = None, on_exit: bool = False, template_name: str = "",
              now: float | None = None, include_script_output: bool = False, boundary_template: dict | None = None,
              avoid_hosts: Sequence[str] = (), executor_token_secret: str = "") -> dict[str, Any]:
    """The pod for node `node_name` running `template` (Argo's legacy layout).

    `deadline` (RFC3339) is the earliest of the workflow deadline (not for exit-handler pods),
    the template `timeout` and the retry `maxDuration`, as the planner decides; it becomes
    `ARGO_DEADLINE` and, given `now` (epoch seconds), caps `activeDeadlineSeconds`
    (`DeadlineExceeded` when under a second is left). `boundary_template` is the enclosing
    steps/DAG template (its scheduling fields are the fallback, as in Argo); `avoid_hosts` are
    the hosts of earlier retry attempts under `retryStrategy.affinity.nodeAntiAffinity`;
    `executor_token_secret` is the token Secret of `executor.serviceAccountName` (default
    `<sa>.service-account-token`).
    """
    if not isinstance(template, dict) or not isinstance(spec, dict):
        raise PodSpecError("build_pod", "template and spec must be mappings")
    where = f"template {template_name or template.get('name') or '(inline)'}"
    kind = _ctrs.template_kind(template, where=where)
    try:
        tmpl = clone(template)
        pod_security = clone(tmpl.get("securityContext") or spec.get("securityContext"))
    except TypeError as exc:  # msgspec names the offending type
        raise PodSpecError(where, f"the template is not JSON-shaped data: {exc}") from None
    owner = owner_reference(meta)
    exec_security = _ctrs.executor_security(settings, pod_security)
    exe = list(settings.executor_command)

    labels = {_P + "workflow": meta.name, _P + "completed": "false"}
    annotations = {_P + "node-name": node_name, _P + "node-id": node_id}
    if on_exit:
        labels[_P + "on-exit"] = "true"
    if meta.instance_id:
        labels[_P + "controller-instanceid"] = meta.instance_id
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "volumes": _vols.base_volumes(tmpl)}
    if spec.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = clone(spec["imagePullSecrets"])
    if spec.get("hostNetwork") is not None:
        pod_spec["hostNetwork"] = spec["hostNetwork"]
    for key in ("dnsPolicy", "dnsConfig"):
        if spec.get(key) is not None:
            pod_spec[key] = clone(spec[key])
    token_volume = _service_account(pod_spec, tmpl, spec, settings, executor_token_secret, where)

    def executor(name: str, command: list[str]) -> dict:
        ctr = _ctrs.executor_container(name, command, settings=settings, meta=meta,
                                       security=clone(exec_security))
        if token_volume:
            ctr.setdefault("volumeMounts", []).append({"name": token_volume, "mountPath": _SA_TOKEN_PATH,
                                                       "readOnly": True})
        return ctr

    tmpl, mains = _ctrs.main_containers(tmpl, kind, settings=settings, meta=meta, owner=owner,
                                        security=clone(exec_security), where=where)
    if token_volume and kind in ("resource", "data"):
        for m in mains:
            m.setdefault("volumeMounts", []).append({"name": token_volume, "mountPath": _SA_TOKEN_PATH,
                                                     "readOnly": True})
    # resource pods need `wait` only to archive the logs; data pods never (their main reports itself)
    archive = (tmpl.get("archiveLocation") or {}).get("archiveLogs")
    archive = spec.get("archiveLogs") if archive is None else archive
    has_wait = kind in ("container", "script", "containerSet") or (kind == "resource" and bool(archive))
    pod_spec["containers"] = ([executor("wait", [*exe, "wait"])] if has_wait else []) + mains
    names = [m["name"] for m in mains]
    annotations["kubectl.kubernetes.io/default-container"] = "main" if "main" in names else names[-1]
    if spec.get("podGC") is not None:
        annotations[_P + "pod-gc-strategy"] = _pod_gc_annotation(spec["podGC"], settings)
    pod_spec["initContainers"] = [executor("init", [*exe, "init"])]

    _scheduling(pod_spec, tmpl, spec, boundary_template or {}, pod_security, avoid_hosts)
    _user_metadata(labels, annotations, spec.get("podMetadata") or {}, tmpl.get("metadata") or {})

    if kind != "resource":
        mount_lists = [(f"{where}.{m['name']}", m.get("volumeMounts") or []) for m in mains]
        mount_lists += [(f"{where}.initContainers.{c.get('name')}", c.get("volumeMounts") or [])
                        for c in tmpl.get("initContainers") or ()]
        mount_lists += [(f"{where}.sidecars.{c.get('name')}", c.get("volumeMounts") or [])
                        for c in tmpl.get("sidecars") or ()]
        _vols.add_volume_references(pod_spec, tmpl, list(spec.get("volumes") or ()),
                                    _vols.claim_volumes(meta.name, spec), mount_lists)
    # Argo `Template.GetVolumeMounts`: the container's, the script's or the containerSet's shared mounts
    own_mounts = [] if kind in ("resource", "data") else (tmpl.get(kind) or {}).get("volumeMounts") or []
    _vols.add_input_artifacts(pod_spec, tmpl, own_mounts)
    if kind == "script":
        _vols.add_script_staging(pod_spec)
    _user_containers(pod_spec, tmpl)
    # Argo `createSecretVolumesAndMounts`, after the sidecars and before the patch: artifact
    # credentials for `init` and `wait`. A data pod's main lists its source itself (`argoexec
    # data`), so it gets them too, where Argo mounts them in `init` and `wait` only (a resource
    # main needs none: it reads the file `init` downloaded).
    _vols.add_secret_volumes(pod_spec, _vols.artifact_locations(tmpl, where=where),
                             containers=("wait", "main") if kind == "data" else ("wait",))

    for source, text in (("spec.podSpecPatch", spec.get("podSpecPatch")), (f"{where}.podSpecPatch",
                                                                          tmpl.get("podSpecPatch"))):
        if text:
            pod_spec = strategic_merge(pod_spec, parse_patch(str(text), where=source))
    if kind not in ("resource", "data"):
        _vols.mirror_into_wait(pod_spec)

    _mount_and_wrap(pod_spec, settings, where)
    ads = _active_deadline(tmpl, deadline, now, node_name, where)
    if ads is not None:
        pod_spec["activeDeadlineSeconds"] = ads
    _sidecar_names(pod_spec, set(names))
    template_json = _ctrs.template_env_value(tmpl)
    grace = pod_spec.get("terminationGracePeriodSeconds")
    for ctr in [*(pod_spec.get("initContainers") or ()), *(pod_spec.get("containers") or ())]:
        _ctrs.add_env(ctr, executor=ctr.get("image") == settings.executor_image, template_json=template_json,
                      node_id=node_id, workflow=meta.name, include_script_output=include_script_output,
                      deadline=deadline or ZERO_DEADLINE, grace=grace)

    metadata = {"name": pod_name, "namespace": meta.namespace, "labels": labels, "annotations": annotations,
                "ownerReferences": [owner]}
    if settings.restricted_pods:  # last: after sidecars, user init containers and podSpecPatch
        _restrict(pod_spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _mount_and_wrap(pod_spec: dict, settings: PodSettings, where: str) -> None:
    """`/var/run/argo` everywhere, `/tmp` for executor-image containers, emissary around all but `wait`."""
    for ctr in pod_spec.get("initContainers") or ():
        if ctr.get("image") == settings.executor_image:
            ctr.setdefault("volumeMounts", []).append(_vols.tmp_mount())
        ctr.setdefault("volumeMounts", []).append(_vols.var_run_mount())
    for ctr in pod_spec.get("containers") or ():
        if ctr.get("name") != "wait":
            _ctrs.wrap(ctr, settings=settings, where=where)
        if ctr.get("image") == settings.executor_image:
            ctr.setdefault("volumeMounts", []).append(_vols.tmp_mount())
        ctr.setdefault("volumeMounts", []).append(_vols.var_run_mount())


def _active_deadline(tmpl: dict, deadline: str | None, now: float | None, node_name: str, where: str) -> int | None:
    """min(template `activeDeadlineSeconds`, whole seconds left until `deadline`)."""
    ads = _int_or_string(tmpl.get("activeDeadlineSeconds"), f"{where}.activeDeadlineSeconds")
    if not deadline:
        return ads
    at = _parse_time(deadline, "deadline")  # a malformed deadline is an error even without `now`
    if now is None:
        return ads
    left = int(at - now)  # Go: int64(Sub().Seconds()) truncates toward zero
    if left < 1:
        raise DeadlineExceeded(node_name)
    return left if ads is None or left < ads else ads


def _sidecar_names(pod_spec: dict, mains: set[str]) -> None:
    """ARGO_SIDECAR_NAMES for `wait` (not in Argo, whose wait reads the template): the tiphys wait
    signals these, including containers that only a podSpecPatch added."""
    containers = pod_spec.get("containers") or []
    sidecars = [c.get("name", "") for c in containers if c.get("name") not in mains and c.get("name") != "wait"]
    wait = next((c for c in containers if c.get("name") == "wait"), None)
    if sidecars and wait is not None:
        wait.setdefault("env", []).append({"name": "ARGO_SIDECAR_NAMES", "value": ",".join(sidecars)})


def _service_account(pod_spec: dict, tmpl: dict, spec: dict, settings: PodSettings, token_secret: str,
                     where: str) -> str:
    """Argo `setupServiceAccount`; returns the executor token volume's name, or ""."""
    sa = tmpl.get("serviceAccountName") or spec.get("serviceAccountName") or settings.default_service_account
    if sa:
        pod_spec["serviceAccountName"] = sa
    automount = tmpl.get("automountServiceAccountToken")
    if automount is None:
        automount = spec.get("automountServiceAccountToken")
    if automount is False:
        pod_spec["automountServiceAccountToken"] = False
    executor_sa = (tmpl.get("executor") or {}).get("serviceAccountName") or \
        (spec.get("executor") or {}).get("serviceAccountName")
    if executor_sa:
        # Argo reads the ServiceAccount for its token Secret and, since Kubernetes 1.24 made no
        # such Secrets, falls back to the one its docs have users create: `<sa>.service-account-token`.
        # tiphys names that one at once: the controller gets no `serviceaccounts` read.
        token_secret = token_secret or f"{executor_sa}.service-account-token"
        pod_spec["volumes"].append({"name": "exec-sa-token", "secret": {"secretName": token_secret}})
        return "exec-sa-token"
    if automount is False:
        raise PodSpecError(f"{where}.executor.serviceAccountName",
                           "executor.serviceAccountName must not be empty if automountServiceAccountToken is false")
    return ""


def _pod_gc_annotation(pod_gc: dict, settings: PodSettings) -> str:
    from tiphys.core.plan.timeouts import DurationError, parse_duration

    strategy = pod_gc.get("strategy") or ("OnPodCompletion" if pod_gc.get("labelSelector") is not None else "")
    text = pod_gc.get("deleteDelayDuration") or settings.pod_gc_delete_delay
    try:
        delay = parse_duration(str(text))
    except DurationError:
        raise PodSpecError("spec.podGC.deleteDelayDuration", f"invalid duration {text!r}") from None
    return f"{strategy}/{format_go_duration(delay)}"


def _pick(key: str, *sources: dict) -> Any:
    for s in sources:
        if s.get(key):
            return clone(s[key])
    return None


_USER_RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                    "runAsUser": 8737, "seccompProfile": {"type": "RuntimeDefault"}}


def _restrict(pod_spec: dict) -> None:
    """`PodSettings.restricted_pods`: the restricted PSS fields a template left unset, on every
    container (the executor's already have them) and on the pod."""
    pod_sc = pod_spec.setdefault("securityContext", {})
    pod_sc.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    if "runAsUser" not in pod_sc:
        pod_sc.setdefault("runAsNonRoot", True)
    for ctr in [*pod_spec.get("initContainers", ()), *pod_spec.get("containers", ())]:
        sc = ctr.setdefault("securityContext", {})
        for key, value in _USER_RESTRICTED.items():
            if key in ("runAsUser", "runAsNonRoot") and ("runAsUser" in pod_sc or "runAsUser" in sc):
                continue  # the template chose a user: keep it (a root one is then refused, visibly)
            sc.setdefault(key, clone(value))


def _scheduling(pod_spec: dict, tmpl: dict, spec: dict, boundary: dict, pod_security: dict | None,
                avoid_hosts: Sequence[str]) -> None:
    """Argo `addSchedulingConstraints`: template, then the boundary template, then the workflow."""
    for key in ("nodeSelector", "affinity", "tolerations"):
        value = _pick(key, tmpl, boundary, spec)
        if value is not None:
            pod_spec[key] = value
    scheduler = tmpl.get("schedulerName") or spec.get("schedulerName")
    if scheduler:
        pod_spec["schedulerName"] = scheduler
    priority = tmpl.get("priorityClassName") or spec.get("podPriorityClassName")
    if priority:
        pod_spec["priorityClassName"] = priority
    aliases = [*clone(spec.get("hostAliases") or []), *clone(tmpl.get("hostAliases") or [])]
    if aliases:
        pod_spec["hostAliases"] = aliases
    if pod_security is not None:
        pod_spec["securityContext"] = pod_security
    for key, target in (("podResources", "resources"), ("resourceClaims", "resourceClaims")):
        value = _pick(key, tmpl, spec)
        if value is not None:
            pod_spec[target] = value
    if avoid_hosts:
        _anti_affinity(pod_spec, list(avoid_hosts))


def _anti_affinity(pod_spec: dict, hosts: list[str]) -> None:
    """Keep a retry off the hosts of earlier attempts (`retryStrategy.affinity.nodeAntiAffinity`)."""
    req = {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": hosts}
    node_aff = pod_spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_aff.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({"matchExpressions": [req]})
        return
    for term in terms:  # terms are ORed: the requirement must hold in each of them
        term.setdefault("matchExpressions", []).append(dict(req))


def _user_metadata(labels: dict, annotations: dict, pod_metadata: dict, tmpl_metadata: dict) -> None:
    """Workflow `podMetadata`, then template `metadata`; later wins, reserved keys stay ours.

    Argo lets these overwrite everything; a pod relabelled away from its workflow would be lost
    to the controller, so tiphys keeps the keys it indexes pods by.
    """
    for md in (pod_metadata, tmpl_metadata):
        for k, v in (md.get("annotations") or {}).items():
            if k not in _RESERVED_ANNOTATIONS:
                annotations[k] = str(v)
        for k, v in (md.get("labels") or {}).items():
            if k not in _RESERVED_LABELS:
                labels[k] = str(v)


def _user_containers(pod_spec: dict, tmpl: dict) -> None:
    """User init containers after `init`, sidecars after the mains (Argo `addInitContainers`/`addSidecars`)."""
    main = next((c for c in pod_spec["containers"] if c.get("name") == "main"), None)
    for field, target in (("initContainers", pod_spec["initContainers"]), ("sidecars", pod_spec["containers"])):
        for user in tmpl.get(field) or ():
            ctr = {k: clone(v) for k, v in user.items() if k != "mirrorVolumeMounts"}
            if user.get("mirrorVolumeMounts"):
                _vols.mirror_mounts(main, ctr)
            target.append(ctr)
