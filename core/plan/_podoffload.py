"""Oversized pods: move a huge ARGO_TEMPLATE or main's args into a ConfigMap (argo-semantics §5.6).

An env var or the args list of a container must stay well under what etcd and the kubelet accept,
so like Argo, once `ARGO_TEMPLATE` or the JSON of main's args exceeds 128 KiB they move into a
ConfigMap named like the pod, mounted at `/argo/config` in every container:

* `ARGO_TEMPLATE` keeps the sentinel value `offloaded`; the executor then reads
  `/argo/config/ARGO_TEMPLATE`;
* main's args are removed and `ARGO_CONTAINER_ARGS_FILE=/argo/config/ARGO_CONTAINER_ARGS_FILE`
  tells emissary to append them from that JSON file.

The ConfigMap carries the pod's labels and annotations and is owned by the Workflow, so it is
found and collected like the pod; the shell creates it before the pod (AlreadyExists is fine).
"""
from __future__ import annotations

import json
from typing import Any

from tiphys.core.plan._podpatch import clone

__all__ = ["MAX_ENV_BYTES", "OFFLOADED", "CONFIG_DIR", "offload_oversize"]

MAX_ENV_BYTES = 131_072  # 128 KiB, Argo's maxEnvVarLen
OFFLOADED = "offloaded"
CONFIG_DIR = "/argo/config"
_VOLUME = "argo-env-config"


def offload_oversize(pod: dict, /, *, limit: int = MAX_ENV_BYTES) -> tuple[dict, dict | None]:
    """(pod, ConfigMap or None): the pod unchanged when nothing is too large, else both rewritten."""
    containers = pod["spec"].get("containers") or []
    inits = pod["spec"].get("initContainers") or []
    data: dict[str, str] = {}
    for ctr in [*inits, *containers]:
        for e in ctr.get("env") or ():
            if e.get("name") == "ARGO_TEMPLATE" and len(str(e.get("value", "")).encode()) > limit:
                data["ARGO_TEMPLATE"] = e["value"]
    main = next((c for c in containers if c.get("name") == "main"), None)
    args_json = json.dumps(main.get("args") or [], separators=(",", ":"), ensure_ascii=False) if main else "[]"
    if main is not None and len(args_json.encode()) > limit:
        data["ARGO_CONTAINER_ARGS_FILE"] = args_json
    if not data:
        return pod, None

    out = clone(pod)
    spec = out["spec"]
    spec["volumes"].append({"name": _VOLUME, "configMap": {"name": out["metadata"]["name"]}})
    for ctr in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        ctr.setdefault("volumeMounts", []).append({"name": _VOLUME, "mountPath": CONFIG_DIR})
        for e in ctr.get("env") or ():
            if e.get("name") == "ARGO_TEMPLATE" and "ARGO_TEMPLATE" in data:
                e["value"] = OFFLOADED
        if ctr.get("name") == "main" and "ARGO_CONTAINER_ARGS_FILE" in data:
            ctr.pop("args", None)
            ctr.setdefault("env", []).append({"name": "ARGO_CONTAINER_ARGS_FILE",
                                              "value": f"{CONFIG_DIR}/ARGO_CONTAINER_ARGS_FILE"})
    md = out["metadata"]
    config_map: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": md["name"], "namespace": md.get("namespace", ""), "labels": dict(md.get("labels") or {}),
                     "annotations": dict(md.get("annotations") or {}),
                     "ownerReferences": clone(md.get("ownerReferences") or [])},
        "data": data,
    }
    return out, config_map
