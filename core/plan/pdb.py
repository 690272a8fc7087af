"""`spec.podDisruptionBudget`: a PodDisruptionBudget over the workflow's pods while it runs.

Argo (`operator.go: createPDBResource`, `deletePDBResource`; argo-semantics §5.2 step 10 and
§5.13) creates the PDB when the workflow starts (phase `""`), before it is marked Running, and
deletes it when the workflow completes (`markWorkflowPhase`), before that status is persisted.
The object: `policy/v1` PodDisruptionBudget named as the workflow, in its namespace, labelled
`workflows.argoproj.io/workflow=<wf>`, owned by the Workflow (a controller reference), with the
user's spec (`minAvailable` / `maxUnavailable`, ...) and, when the user gave no `selector`,
`selector.matchLabels {workflows.argoproj.io/workflow: <wf>}` (Argo keeps a given selector).
A create that fails marks the workflow Failed `Unable to create PDB resource for workflow, <wf>
error: <err>`; an existing PDB of that name is taken as made (Argo GETs first; we create and
take AlreadyExists, which also covers a restart between the create and the status write).

The planner cannot see whether the create worked, so the plan that starts the workflow only
asks (`start`) and stops there; the reconciler reports a refusal through `refused` before the
status is written, and the next plan runs the entry template. The delete is asked for at
completion (`finish`) and again by the completed path (core.plan.completed) until the shell
has seen one succeed, so a delete that failed, or a restart after the final status write, does
not leave the PDB behind.
"""
from __future__ import annotations

from typing import Any

from tiphys.core.plan._podpatch import clone
from tiphys.core.plan.actions import CreatePDB, DeletePDB
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.podspec import owner_reference

__all__ = ["wanted", "body", "start", "finish", "refused", "REFUSED_PREFIX"]

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
REFUSED_PREFIX = "Unable to create PDB resource for workflow, "


def wanted(spec: dict, /) -> bool:
    """Whether the workflow asks for a PDB (Argo: `spec.podDisruptionBudget != nil`; `{}` counts)."""
    return isinstance(spec.get("podDisruptionBudget"), dict)


def body(meta: WorkflowMeta, spec: dict, /) -> dict[str, Any]:
    """Argo's PodDisruptionBudget object for workflow `meta` with effective `spec`."""
    pdb_spec = clone(spec["podDisruptionBudget"])
    if pdb_spec.get("selector") is None:
        pdb_spec["selector"] = {"matchLabels": {WORKFLOW_LABEL: meta.name}}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": meta.name, "namespace": meta.namespace, "labels": {WORKFLOW_LABEL: meta.name},
                         "ownerReferences": [owner_reference(meta)]},
            "spec": pdb_spec}


def start(ex: Any, /) -> bool:
    """On the workflow's first start: ask for the PDB; True when the plan must stop here (the
    entry template runs once the create is known to have worked)."""
    if not wanted(ex.spec):
        return False
    ex.actions.append(CreatePDB(body(ex.meta, ex.spec)))
    return True


def finish(ex: Any, /) -> None:
    """At completion: delete the PDB (Argo deletes it before the completed status is written)."""
    if wanted(ex.spec):
        ex.actions.append(DeletePDB(ex.meta.name))


def refused(ex: Any, error: str, /) -> None:
    """The create failed: the workflow is Failed, as Argo's markWorkflowFailed."""
    wf = ex.workflow
    if wf.phase in ("Succeeded", "Failed", "Error"):
        return
    wf.set(phase="Failed", message=f"{REFUSED_PREFIX}{ex.meta.name} error: {error}", finished_at=ex.now,
           started_at=wf.started_at or ex.now)
    wf.conditions = [c for c in wf.conditions if c.get("type") != "Completed"] + [
        {"type": "Completed", "status": "True"}]
