"""The spec a workflow runs, from the informers' caches: no API call.

The workflow over its WorkflowTemplate (`workflowTemplateRef`, joined once and kept in
`status.storedWorkflowTemplateSpec`) over the controller ConfigMap's `workflowDefaults`, validated
on first sight (a bad spec fails the workflow, not the controller); the fields a user may change on
a running workflow refreshed from the live object; and the lookups the planner is given:
`templateRef` templates, parameter ConfigMaps and artifact-repositories ConfigMaps.
"""
from __future__ import annotations

from typing import Any

from tiphys.core.plan.defaults import DefaultsError, join_workflow_spec
from tiphys.core.spec import SpecErrors, decode_document

__all__ = ["join_template", "decode_spec", "merge_specs", "refresh_spec", "library_template", "configmap_value",
           "repository_configmap"]


def join_template(wf: dict, /, *, defaults: dict | None, templates: Any,
                  cluster_templates: Any) -> tuple[dict, dict, str | None]:
    """The spec to run and what lies under the workflow's own fields.

    Without a `workflowTemplateRef`: `workflowDefaults` merged under the spec (Argo's
    setWorkflowDefaults). With one: the workflow over the template over the defaults (Argo's
    JoinWorkflowSpec), once; the result is kept in `status.storedWorkflowTemplateSpec`.
    """
    spec = wf.get("spec") or {}
    ref = spec.get("workflowTemplateRef")
    defaults = defaults or {}
    defaults_spec = defaults.get("spec") if isinstance(defaults.get("spec"), dict) else None
    if not isinstance(ref, dict):
        if not defaults_spec:
            return wf, {}, None
        try:
            merged = join_workflow_spec(spec, defaults=defaults_spec)
        except DefaultsError as exc:
            return wf, {}, f"invalid spec: {exc}"
        return {**wf, "spec": merged}, defaults_spec, None
    stored = (wf.get("status") or {}).get("storedWorkflowTemplateSpec")
    if stored is None:
        cluster = bool(ref.get("clusterScope"))
        informer = cluster_templates if cluster else templates
        name = ref.get("name", "")
        namespace = None if cluster else wf["metadata"].get("namespace")
        found = None
        for obj in informer.store.list() if informer is not None else ():
            m = obj.get("metadata") or {}
            if m.get("name") == name and (namespace is None or m.get("namespace") == namespace):
                found = obj
        if found is None:
            kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
            return wf, {}, f"invalid spec: {kind} {name!r} not found"
        # stored as Argo stores it, the defaults of this moment included: a later ConfigMap
        # change does not reach this workflow, even after a restart
        try:
            stored = join_workflow_spec({k: v for k, v in spec.items() if k != "workflowTemplateRef"},
                                        template=found.get("spec") or {}, defaults=defaults_spec)
        except DefaultsError as exc:
            return wf, {}, f"invalid spec: {exc}"
    merged = merge_specs(stored, {k: v for k, v in spec.items() if k != "workflowTemplateRef"})
    status = {**(wf.get("status") or {}), "storedWorkflowTemplateSpec": stored}
    return {**wf, "spec": merged, "status": status}, stored, None


def decode_spec(wf: dict) -> tuple[dict | None, str | None]:
    """Validate the spec as Argo does on first sight; a bad spec fails the workflow, not us."""
    try:
        from tiphys.core.spec.load import Document

        doc = Document("workflow", 0, wf)
        decode_document(doc)
    except SpecErrors as exc:
        return None, "invalid spec: " + "; ".join(e.message for e in exc.errors[:3])
    spec = wf.get("spec") or {}
    if not spec.get("entrypoint") and not spec.get("workflowTemplateRef"):
        return None, "invalid spec: spec.entrypoint is required"
    from tiphys.core.validate.metrics import first_spec_problem  # Argo validates metrics before running

    problem = first_spec_problem(spec)
    if problem is not None:
        return None, f"invalid spec: {problem}"
    return spec, None


def merge_specs(base: dict, over: dict) -> dict:
    """Workflow spec over template spec: maps merge, lists of named items merge by name, else replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_specs(out[key], value)
        elif key in ("templates", "parameters", "artifacts") and isinstance(value, list) \
                and isinstance(out.get(key), list):
            by_name = {item.get("name"): item for item in out[key] if isinstance(item, dict)}
            for item in value:
                if isinstance(item, dict) and item.get("name") in by_name:
                    by_name[item["name"]] = merge_specs(by_name[item["name"]], item)
                else:
                    by_name[item.get("name") if isinstance(item, dict) else id(item)] = item
            out[key] = list(by_name.values())
        else:
            out[key] = value
    return out


def refresh_spec(ex: Any, wf: dict, *, base: dict) -> None:
    """Fields a user may change on a running workflow (suspend, shutdown, deadlines, parallelism);
    one the workflow does not set keeps the value of what lies under it (`base`: template, defaults)."""
    live = wf.get("spec") or {}
    for field in ("suspend", "shutdown", "activeDeadlineSeconds", "parallelism"):
        value = live.get(field)
        if value is None:
            value = base.get(field)
        if value != ex.spec.get(field):
            ex.spec = {**ex.spec, field: value}


def library_template(name: str, template: str, cluster: bool, /, *, namespace: str, templates: Any,
                     cluster_templates: Any) -> dict | None:
    """A `templateRef`'s template from the (Cluster)WorkflowTemplate informers' caches: the
    workflow's own namespace's WorkflowTemplate (Argo never reaches into another namespace), or
    the ClusterWorkflowTemplate; one cache lookup, not a scan."""
    informer = cluster_templates if cluster else templates
    if informer is None:
        return None
    obj = informer.store.get(name if cluster else f"{namespace}/{name}")
    for t in ((obj or {}).get("spec") or {}).get("templates") or []:
        if t.get("name") == template:
            return t
    return None


def configmap_value(informer: Any, namespace: str, name: str, key: str, /) -> str | None:
    """`valueFrom.configMapKeyRef`, from the parameter ConfigMap informer's cache."""
    if informer is None:
        return None
    cm = informer.store.get(f"{namespace}/{name}")
    value = ((cm or {}).get("data") or {}).get(key)
    return value if isinstance(value, str) else None


def repository_configmap(informer: Any, namespace: str, name: str, /) -> tuple[dict, dict] | None:
    """An artifact-repositories ConfigMap's data and annotations, from the unselected informer."""
    cm = informer.store.get(f"{namespace}/{name}") if informer is not None else None
    if cm is None:
        return None
    return cm.get("data") or {}, (cm.get("metadata") or {}).get("annotations") or {}
