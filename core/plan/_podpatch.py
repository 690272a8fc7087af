"""`podSpecPatch`: parse YAML or JSON text and strategic-merge it onto a pod spec.

Argo hands the patch to Kubernetes' `strategicpatch.StrategicMergePatch(..., PodSpec{})`. We do not
carry the whole PodSpec schema; what matters is which lists merge by a key instead of being
replaced, and those are few and uniquely named inside a PodSpec (`containers`, `volumes`, `env`,
`volumeMounts`, ...), so a table keyed by field name is exact for pod specs. Everything else
follows the strategic-merge rules:

* maps merge recursively; a `null` value deletes the key;
* `$patch: replace` in a map replaces the whole map, `$patch: delete` removes it;
* a keyed list merges item by item (matching item merged, new item appended); an item carrying
  `$patch: delete` removes its match; an item `{"$patch": "replace"}` replaces the list by the
  other items; `$setElementOrder/<field>` and `$retainKeys` are ordering/pruning hints that we
  honour only for `$retainKeys` (ordering hints are dropped: merged order is original order);
* every other list, and every scalar, is replaced.
"""
from __future__ import annotations

import json
from typing import Any

import msgspec
import yaml

from tiphys.core.plan._poderrors import InvalidPodSpecPatch

__all__ = ["parse_patch", "strategic_merge", "clone", "MERGE_KEYS"]

# patchMergeKey of the PodSpec lists that use patchStrategy "merge" (k8s.io/api/core/v1/types.go)
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "topologySpreadConstraints": "topologyKey",
}

try:  # libyaml when present; same grammar either way
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_DELETE = object()  # sentinel: "remove this value from its parent"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def clone(value: Any, /) -> Any:
    """A deep copy of JSON-shaped data; a msgspec round trip is several times faster than `copy.deepcopy`."""
    return _decode(_encode(value))


def parse_patch(text: str, /, *, where: str) -> dict[str, Any]:
    """The patch as a mapping; `InvalidPodSpecPatch` naming `where` if it is not one."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise InvalidPodSpecPatch(where, f"invalid podSpecPatch: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidPodSpecPatch(where, f"invalid podSpecPatch: expected a mapping, got {type(value).__name__}")
    for field in ("containers", "initContainers", "volumes"):
        items = value.get(field)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidPodSpecPatch(where, f"invalid podSpecPatch: {field} must be a list of mappings")
        for i, item in enumerate(items):
            if "name" not in item and item.get("$patch") != "replace":
                raise InvalidPodSpecPatch(where, f"invalid podSpecPatch: {field}[{i}] has no name")
    return value


def strategic_merge(original: Any, patch: Any, /) -> Any:
    """`original` with `patch` applied; neither argument is modified."""
    out = _merge_value(original, patch, "")
    return None if out is _DELETE else out


def _merge_value(orig: Any, patch: Any, field: str) -> Any:
    if isinstance(patch, dict):
        if patch.get("$patch") == "delete":
            return _DELETE
        if not isinstance(orig, dict) or patch.get("$patch") == "replace":
            return _clean(patch)
        return _merge_map(orig, patch)
    if isinstance(patch, list) and field in MERGE_KEYS and isinstance(orig, list):
        return _merge_list(orig, patch, MERGE_KEYS[field])
    return _clean(patch)


def _merge_map(orig: dict, patch: dict) -> dict:
    out = dict(orig)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # directives: handled here ($retainKeys) or pure ordering hints
        if value is None:
            out.pop(key, None)
            continue
        merged = _merge_value(orig.get(key), value, key)
        if merged is _DELETE:
            out.pop(key, None)
        else:
            out[key] = merged
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(orig: list, patch: list, key: str) -> list:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_clean(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    out = list(orig)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(_clean(item))  # an item without the merge key cannot match anything
            continue
        at = next((n for n, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del out[at]
            continue
        if at is None:
            out.append(_clean(item))
        else:
            out[at] = _merge_map(out[at], item)
    return out


def _clean(value: Any) -> Any:
    """A patch value with its directives and nulls removed (what lands when nothing is merged)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
