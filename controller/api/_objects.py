"""Object lifecycle rules of the embedded store: what the apiserver's "strategies" do to a body.

Pure functions over private copies; the store owns locking (there is none: one event loop) and
resourceVersions. Sources followed (Kubernetes 1.36):

* create: name or `generateName` (prefix cut to 58 characters plus 5 random characters from
  the apiserver's alphabet), DNS-subdomain names, `uid`, `creationTimestamp`, `generation: 1`;
  a type with a status subresource drops `status` on create (pods start as `{phase: Pending,
  qosClass}`, the class kept through status writes).
* update (`customResourceStrategy.PrepareForUpdate`): with a status subresource the main endpoint
  keeps the old status; any change outside `metadata` bumps `generation`. Note: for a Workflow
  (no status subresource) a status change therefore bumps `generation` too, exactly as on a
  real cluster, so `(uid, generation)` changes with every status write of a Workflow.
* status update (`statusStrategy`): only `status` is taken from the body (for pods also labels
  and annotations, as `podStatusStrategy` does).
* immutable metadata (`uid`, `creationTimestamp`, `deletionTimestamp`, name, namespace) is kept;
  no new finalizers while `deletionTimestamp` is set.
* pods delete gracefully when bound to a node and not finished (`podStrategy.CheckGracefulDelete`).
"""
from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

from .base import PODS, Resource
from .errors import BadRequest, Invalid, StatusCause

__all__ = ["prepare_create", "prepare_update", "prepare_status_update", "owner_uids",
           "pod_grace_period", "pod_qos_class", "timestamp"]

Object = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apiserver's: no vowels, no look-alikes
_IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def timestamp(now: float, /) -> str:
    """RFC 3339 with second precision, as `metav1.Time` serialises."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _invalid(kind: str, name: str, field: str, reason: str, message: str) -> Invalid:
    return Invalid(f'{kind} "{name}" is invalid: {field}: {message}',
                   causes=(StatusCause(field, reason, message),))


def _check_name(resource: Resource, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise _invalid(resource.kind, str(name), "metadata.name", "FieldValueRequired",
                       "name or generateName is required")
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        raise _invalid(resource.kind, name, "metadata.name", "FieldValueInvalid",
                       "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                       "characters, '-' or '.', and must start and end with an alphanumeric character")


def generate_name(prefix: str, /) -> str:
    return prefix[:58] + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))


def _check_type_meta(resource: Resource, obj: Object) -> None:
    kind, api_version = obj.setdefault("kind", resource.kind), obj.setdefault("apiVersion", resource.api_version)
    if kind != resource.kind or api_version != resource.api_version:
        raise BadRequest(f"body is {api_version}/{kind}, expected {resource.api_version}/{resource.kind}"
                         f" for {resource.plural}")


def _check_labels(resource: Resource, meta: Object) -> None:
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise _invalid(resource.kind, str(meta.get("name")), f"metadata.{field}", "FieldValueInvalid",
                           f"{field} must map strings to strings")


def prepare_create(resource: Resource, obj: Object, /, *, namespace: str | None, name: str | None,
                   now: float) -> Object:
    """Fill server-set metadata on a fresh copy `obj` (mutated and returned)."""
    _check_type_meta(resource, obj)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise _invalid(resource.kind, "", "metadata", "FieldValueRequired", "metadata is required")
    if name is None:
        raise _invalid(resource.kind, "", "metadata.name", "FieldValueRequired", "name or generateName is required")
    meta["name"] = name
    _check_name(resource, name)
    if namespace is not None:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    _check_labels(resource, meta)
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
        meta.pop(field, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = timestamp(now)
    meta["generation"] = 1
    if resource.status_subresource:
        obj.pop("status", None)
        if resource == PODS:
            obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(obj)}
    return obj


def pod_qos_class(pod: Object, /) -> str:
    """`Guaranteed` when every container's cpu and memory limits equal its requests (requests
    default to limits), `BestEffort` when nothing is requested or limited, else `Burstable`."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    guaranteed, anything = bool(containers), False
    for container in containers:
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        requests = {**limits, **requests}
        anything = anything or any(requests.get(r) or limits.get(r) for r in ("cpu", "memory"))
        for name in ("cpu", "memory"):
            if not limits.get(name) or str(requests.get(name)) != str(limits.get(name)):
                guaranteed = False
    if not anything:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _non_meta(obj: Object) -> Object:
    return {k: v for k, v in obj.items() if k != "metadata"}


def _carry_metadata(resource: Resource, new: Object, old: Object) -> Object:
    _check_type_meta(resource, new)
    meta, old_meta = new.get("metadata"), old["metadata"]
    if not isinstance(meta, dict):
        raise _invalid(resource.kind, old_meta["name"], "metadata", "FieldValueRequired", "metadata is required")
    for field in ("name", "namespace"):
        if meta.get(field, old_meta.get(field)) != old_meta.get(field):
            raise BadRequest(f"the {field} of the object ({meta.get(field)}) does not match the {field}"
                             f" on the URL ({old_meta.get(field)})")
    _check_labels(resource, meta)
    for field in ("name", "namespace", *_IMMUTABLE_META, "generation"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    meta.pop("managedFields", None)
    if "deletionTimestamp" in old_meta:
        added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
        if added:
            raise _invalid(resource.kind, old_meta["name"], "metadata.finalizers", "FieldValueForbidden",
                           f"no new finalizers can be added if the object is being deleted, found new"
                           f" finalizers {sorted(added)}")
    return new


def prepare_update(resource: Resource, new: Object, old: Object, /) -> Object:
    """Main-endpoint update of `old` by the fresh copy `new` (mutated and returned)."""
    _carry_metadata(resource, new, old)
    if resource.status_subresource:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if _non_meta(new) != _non_meta(old):
        new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
    return new


def prepare_status_update(resource: Resource, new: Object, old: Object, /) -> Object:
    """Status-subresource update: everything but `status` comes from `old`."""
    _check_type_meta(resource, new)
    meta = new.get("metadata") or {}
    for field in ("name", "namespace"):
        if field in meta and meta[field] != old["metadata"].get(field):
            raise BadRequest(f"the {field} of the object ({meta[field]}) does not match the {field}"
                             f" on the URL ({old['metadata'].get(field)})")
    result = {k: v for k, v in old.items() if k not in ("status", "metadata")}
    result["metadata"] = dict(old["metadata"])
    if resource == PODS and isinstance(new.get("metadata"), dict):
        # podStatusStrategy keeps only spec, ownerReferences and deletionTimestamp from the old
        # pod: labels and annotations written through pods/status stick (a real-server quirk).
        _check_labels(resource, new["metadata"])
        for field in ("labels", "annotations"):
            if field in new["metadata"]:
                result["metadata"][field] = new["metadata"][field]
            else:
                result["metadata"].pop(field, None)
    if "status" in new:
        result["status"] = new["status"]
    qos = (old.get("status") or {}).get("qosClass")
    if resource == PODS and qos and isinstance(result.get("status"), dict) and "qosClass" not in result["status"]:
        result["status"] = dict(result["status"], qosClass=qos)  # immutable: the server keeps it
    return result


def owner_uids(obj: Object, /) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or ()
            if isinstance(ref, dict) and ref.get("uid")]


def pod_grace_period(pod: Object, requested: int | None, /) -> int:
    """Seconds a pod delete should wait for the kubelet (0: delete at once)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, int(requested))
    grace = spec.get("terminationGracePeriodSeconds")
    return 30 if grace is None else max(0, int(grace))
