"""`volumeClaimTemplates`: the workflow's PVCs, made before anything runs and released at the end.

Argo (`operator.go: createPVCs`, `deletePVCs`; argo-semantics §5.2 steps 12 and 16) creates one
PVC per claim template, named `<workflow>-<claim>`, labelled `workflows.argoproj.io/workflow`
and owned by the workflow (a controller reference), before it executes the entry template, and
records each as a volume in `status.persistentVolumeClaims` (`{name: <claim>,
persistentVolumeClaim: {claimName: <pvc>}}`). A PVC that already exists is reused only if the
workflow owns it. A failed create leaves the workflow Pending `Waiting for a PVC to be created.
<error>` and is tried again; a refused one (another owner, an invalid claim) is a workflow
Error `pvc create error: <error>`. When the workflow completes, `volumeClaimGC.strategy`
(default `OnWorkflowSuccess`: a failed workflow keeps its volumes for a retry;
`OnWorkflowCompletion`: always) decides whether the recorded PVCs are deleted and the list
emptied.

The planner cannot see whether a create worked, so `request` only asks (every plan while a
claim is unrecorded), and the reconciler reports each outcome through `created`, `waiting` or
`refused` once the applier has tried. Creates are idempotent (AlreadyExists from our own
earlier create is success), so a restart between the create and the status write is harmless.
"""
from __future__ import annotations

from typing import Any

from tiphys.core.lang.errors import LangError
from tiphys.core.lang.tags import substitute_object
from tiphys.core.plan._podpatch import clone
from tiphys.core.plan.actions import CreatePVC, DeletePVC
from tiphys.core.plan.execution import Execution
from tiphys.core.plan.podspec import owner_reference

__all__ = ["request", "created", "waiting", "refused", "release", "release_failed", "gc_applies",
           "pvc_name", "WAITING_PREFIX"]

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
WAITING_PREFIX = "Waiting for a PVC to be created. "


def pvc_name(workflow: str, claim: str, /) -> str:
    return f"{workflow}-{claim}"


def _claim_name(template: Any) -> str:
    meta = (template or {}).get("metadata") if isinstance(template, dict) else None
    return str((meta or {}).get("name") or "")


def request(ex: Execution, /) -> bool:
    """Ask for every claim's PVC not recorded yet; True while one is missing (nothing may start)."""
    templates = ex.spec.get("volumeClaimTemplates") or []
    if not templates:
        return False
    recorded = {v.get("name") for v in ex.workflow.persistent_volume_claims}
    missing = False
    for i, template in enumerate(templates):
        claim = _claim_name(template)
        if not claim:
            refused(ex, f"volumeClaimTemplates[{i}].metadata.name is required")
            return True
        if claim in recorded:
            continue
        missing = True
        try:
            body = _pvc(ex, template, claim)
        except LangError as exc:
            refused(ex, f"volumeClaimTemplates[{i}]: {exc}")
            return True
        ex.actions.append(CreatePVC(body, claim=claim, owner_uid=ex.meta.uid))
    return missing


def _pvc(ex: Execution, template: dict, claim: str) -> dict:
    body = substitute_object(clone(template), ex.global_scope)  # the exec spec has its globals substituted
    body.pop("status", None)
    meta = dict(body.get("metadata") or {})
    meta["name"] = pvc_name(ex.meta.name, claim)
    meta["namespace"] = ex.meta.namespace
    meta["labels"] = {**(meta.get("labels") or {}), WORKFLOW_LABEL: ex.meta.name}
    meta["ownerReferences"] = [owner_reference(ex.meta)]
    return {**body, "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta}


def created(ex: Execution, claims: list[str], /) -> bool:
    """Record PVCs that now exist (in claim-template order); True when every claim has its PVC."""
    recorded = {v.get("name"): v for v in ex.workflow.persistent_volume_claims}
    for claim in claims:
        recorded.setdefault(claim, {"name": claim,
                                    "persistentVolumeClaim": {"claimName": pvc_name(ex.meta.name, claim)}})
    order = [_claim_name(t) for t in ex.spec.get("volumeClaimTemplates") or []]
    volumes = [recorded[c] for c in order if c in recorded] + [v for c, v in recorded.items() if c not in order]
    ex.workflow.set(persistent_volume_claims=volumes)
    done = all(c in recorded for c in order)
    if done and ex.workflow.message.startswith(WAITING_PREFIX):
        ex.workflow.set(phase="Running", message="")
    return done


def waiting(ex: Execution, error: str, /) -> None:
    """A create failed for a reason that may pass (quota, a 5xx): Pending until it is made."""
    if ex.workflow.phase in ("Succeeded", "Failed", "Error"):
        return
    ex.workflow.set(phase="Pending", message=WAITING_PREFIX + error)


def refused(ex: Execution, error: str, /) -> None:
    """A create that cannot work (another owner's PVC, an invalid claim): the workflow errors."""
    if ex.workflow.phase in ("Succeeded", "Failed", "Error"):
        return
    ex.workflow.set(phase="Error", message=f"pvc create error: {error}", finished_at=ex.now,
                    started_at=ex.workflow.started_at or ex.now)


def gc_applies(spec: dict, phase: str, /) -> bool:
    """Whether `volumeClaimGC` deletes the PVCs of a workflow that ended in `phase`."""
    strategy = (spec.get("volumeClaimGC") or {}).get("strategy") or "OnWorkflowSuccess"
    if strategy == "OnWorkflowCompletion":
        return phase in ("Succeeded", "Failed", "Error")
    if strategy == "OnWorkflowSuccess":
        return phase == "Succeeded"
    return False  # an unknown strategy deletes nothing (Argo logs `unknown volume gc strategy`)


def release(ex: Execution, /) -> None:
    """At completion: delete the recorded PVCs if the strategy says so, and empty the list."""
    volumes = ex.workflow.persistent_volume_claims
    if not volumes or not gc_applies(ex.spec, ex.workflow.phase):
        return
    for volume in volumes:
        name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if name:
            ex.actions.append(DeletePVC(name))
    ex.workflow.set(persistent_volume_claims=[])


def release_failed(ex: Execution, names: list[str], /) -> None:
    """Deletes the API refused stay listed in the status, as Argo keeps them."""
    kept = list(ex.workflow.persistent_volume_claims)
    known = {(v.get("persistentVolumeClaim") or {}).get("claimName") for v in kept}
    for name in names:
        if name in known:
            continue
        claim = name[len(ex.meta.name) + 1:] if name.startswith(ex.meta.name + "-") else name
        kept.append({"name": claim, "persistentVolumeClaim": {"claimName": name}})
    ex.workflow.set(persistent_volume_claims=kept)
