"""The controller ConfigMap's `workflowDefaults`, merged under a workflow as Argo merges it.

Argo (`workflow/util/merge.go`) marshals the defaults and the workflow to JSON and applies the
workflow as a Kubernetes *strategic merge patch* over the defaults, with the patch strategy the
Go struct tags declare. `strategic_merge(base, over)` is that patch, for the fields a Workflow
carries:

* mappings merge key by key, recursively; the workflow's value wins;
* lists whose items have a merge key merge item by item (`templates`, `volumes`, `parameters`,
  `artifacts`, `tasks`, `initContainers`, `sidecars`, `imagePullSecrets`, `env` by `name`;
  `tolerations` by `key`; `hostAliases` by `ip`; `volumeMounts` by `mountPath`; `ports` by
  `containerPort`); the order is Kubernetes' (`normalizeElementOrder`): the workflow's items in
  its order, the defaults' other items slotted where the defaults had them;
* every other list, and every scalar, is replaced by the workflow's;
* a `null` in the workflow counts as absent: Go's `omitempty` drops it before Argo patches
  (an empty string or list that Go would also drop is kept here: a value the user wrote).

`spec.hooks` do not merge field by field (Argo takes them out of the patch): a default hook is
added only under a name the workflow does not use. With a `workflowTemplateRef`
(`join_workflow_spec`, Argo's JoinWorkflowSpec) the template is merged under the workflow first,
the defaults under both, and `suspend` stays the workflow's own.

`merge_metadata` puts the defaults' `metadata.labels` and `metadata.annotations` under the
workflow's (the workflow's own keys win; Argo's mergeMetaDataTo). Other metadata of the defaults
(finalizers, ownerReferences) is not applied. A list item without its merge key is a
`DefaultsError` naming the place, as the patch fails in Argo.
"""
from __future__ import annotations

from typing import Any

__all__ = ["DefaultsError", "MERGE_KEYS", "strategic_merge", "join_workflow_spec", "merge_metadata"]

# field name -> the key its items merge by (the Workflow types' `patchMergeKey` tags, plus the
# Container fields templates carry)
MERGE_KEYS: dict[str, str] = {
    "templates": "name", "volumes": "name", "parameters": "name", "artifacts": "name", "tasks": "name",
    "initContainers": "name", "sidecars": "name", "imagePullSecrets": "name", "env": "name",
    "tolerations": "key", "hostAliases": "ip", "volumeMounts": "mountPath", "ports": "containerPort",
}


class DefaultsError(ValueError):
    """`workflowDefaults` cannot be merged under the workflow; `path` says where."""

    def __init__(self, message: str, /, *, path: str) -> None:
        super().__init__(f"workflowDefaults: {path}: {message}")
        self.path = path


def strategic_merge(base: dict, over: dict, /, *, path: str = "$") -> dict:
    """`over` applied to `base` as a strategic merge patch (new dict; the inputs are not changed)."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        old = out.get(key)
        where = f"{path}.{key}"
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = strategic_merge(old, value, path=where)
        elif isinstance(value, list) and isinstance(old, list) and key in MERGE_KEYS:
            out[key] = _merge_list(old, value, MERGE_KEYS[key], where)
        else:
            out[key] = value
    return out


def _key_of(item: Any, merge_key: str, where: str) -> Any:
    if not isinstance(item, dict) or item.get(merge_key) is None:
        raise DefaultsError(f"list item has no {merge_key!r} to merge by", path=where)
    return item[merge_key]


def _merge_list(base: list, over: list, merge_key: str, where: str) -> list:
    base_index = {}
    for i, item in enumerate(base):
        base_index.setdefault(_key_of(item, merge_key, f"{where}[{i}]"), i)
    over_keys = set()
    patched = []
    for i, item in enumerate(over):
        k = _key_of(item, merge_key, f"{where}[{i}]")
        over_keys.add(k)
        j = base_index.get(k)
        patched.append((k, item if j is None else strategic_merge(base[j], item, path=f"{where}[{i}]")))
    base_only = [(_key_of(item, merge_key, where), item) for item in base
                 if _key_of(item, merge_key, where) not in over_keys]
    # Kubernetes' mergeSortedSlice: a defaults-only item goes before a workflow item only when both
    # are in the defaults and it came first there; the relative order of each side is kept.
    out: list = []
    i = j = 0
    while i < len(base_only) or j < len(patched):
        if j >= len(patched):
            out.append(base_only[i][1])
            i += 1
        elif i >= len(base_only):
            out.append(patched[j][1])
            j += 1
        else:
            li, ri = base_index.get(base_only[i][0], -1), base_index.get(patched[j][0], -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(base_only[i][1])
                i += 1
            else:
                out.append(patched[j][1])
                j += 1
    return out


def _merge_spec(base: dict, over: dict, /) -> dict:
    """Argo's MergeTo on specs: hooks whole by name, everything else strategic."""
    base_hooks = base.get("hooks")
    merged = strategic_merge({k: v for k, v in base.items() if k != "hooks"}, over, path="$.spec")
    if isinstance(base_hooks, dict) and base_hooks:
        hooks = dict(merged.get("hooks") or {})
        for name, hook in base_hooks.items():
            hooks.setdefault(name, hook)
        merged["hooks"] = hooks
    return merged


def join_workflow_spec(spec: dict, /, *, template: dict | None = None, defaults: dict | None = None) -> dict:
    """The spec a workflow runs: its own over `template` (a WorkflowTemplate's spec) over `defaults`
    (the `spec` of `workflowDefaults`). Without a template, `suspend` may come from the defaults
    (Argo's setWorkflowDefaults); with one it is always the workflow's (JoinWorkflowSpec)."""
    out = dict(spec)
    if template is not None:
        out = _merge_spec(template, out)
    if defaults:
        out = _merge_spec(defaults, out)
    if template is not None:
        if spec.get("suspend") is None:
            out.pop("suspend", None)
        else:
            out["suspend"] = spec["suspend"]
    return out


def merge_metadata(metadata: dict, defaults: dict | None, /) -> dict:
    """The workflow's metadata with the defaults' labels and annotations under its own."""
    if not defaults:
        return metadata
    out = dict(metadata)
    for field in ("labels", "annotations"):
        extra = defaults.get(field)
        if isinstance(extra, dict) and extra:
            out[field] = {**{str(k): str(v) for k, v in extra.items()}, **(metadata.get(field) or {})}
    return out
