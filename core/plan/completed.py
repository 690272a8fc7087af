"""After completion: pod GC, leftover PVCs and `ttlStrategy`, from the stored workflow alone.

Once a workflow's final status is written the controller drops its in-memory execution; what is
still to do then follows from the Workflow object, the pods that still exist and the time, so a
restarted controller finishes it exactly as the one that started it would (level-based):

* `ttlStrategy` (Argo's gccontroller, argo-semantics §5.14): `secondsAfterFailure` for a Failed
  workflow, `secondsAfterSuccess` for a Succeeded one, else `secondsAfterCompletion` (the only
  one an Error matches), counted from `status.finishedAt`; when due the workflow is deleted and
  its pods, PVCs and task results follow by owner reference.
* `podGC`: every remaining pod that `podgc.should_delete` picks for the completed workflow, due
  `deleteDelayDuration` after `finishedAt` (a pod already being deleted is left alone). In a
  completed workflow every node that had a pod is fulfilled (completion fails what is left), so
  the pod's own phase is all `OnPodSuccess` needs. Pods queued while the workflow ran may thus
  go up to one delay later than they were due; none goes earlier. Artifact GC pods are left to
  artifact GC (core.plan.artifact_gc), which deletes them once it has read their results.
* `status.persistentVolumeClaims` still listed (a delete failed at completion) are deleted
  again while `volumeClaimGC` applies.
* `podDisruptionBudget`: the PDB is deleted (again: NotFound is success) unless the caller has
  seen a delete of it succeed (`pdb_deleted`) — the one at completion may have failed, or the
  controller stopped before it (core.plan.pdb).
"""
from __future__ import annotations

from collections.abc import Iterable

import msgspec

from tiphys.core.plan import claims, pdb, podgc
from tiphys.core.plan.actions import Action, DeletePDB, DeletePod, DeletePVC, DeleteWorkflow
from tiphys.core.plan.meta import PodSettings
from tiphys.core.plan.scope import parse_time

__all__ = ["Cleanup", "after_completion", "ttl_seconds"]

_COMPLETED = frozenset({"Succeeded", "Failed", "Error"})
_COMPONENT, _ARTIFACT_GC = "workflows.argoproj.io/component", "artifact-gc"


class Cleanup(msgspec.Struct, kw_only=True):
    actions: list[Action]
    requeue_at: float | None  # epoch seconds of the next thing due, None when nothing is left


def ttl_seconds(ttl: dict | None, phase: str, /) -> int | None:
    """Seconds a workflow that ended in `phase` lives after `finishedAt`, or None (kept)."""
    if not isinstance(ttl, dict) or phase not in _COMPLETED:
        return None
    for key, applies in (("secondsAfterFailure", phase == "Failed"), ("secondsAfterSuccess", phase == "Succeeded"),
                         ("secondsAfterCompletion", True)):
        value = ttl.get(key)
        if applies and isinstance(value, int) and not isinstance(value, bool):
            return value
    return None  # none applies, or not an integer (a spec that failed validation): kept


def after_completion(wf: dict, spec: dict, pods: Iterable[dict], now: float, /, *,
                     settings: PodSettings = PodSettings(), pdb_deleted: bool = False) -> Cleanup:
    """What is due for completed workflow `wf` (its effective `spec`, the pods that exist) at `now`;
    `pdb_deleted`: a delete of its PodDisruptionBudget is known to have succeeded."""
    meta = wf.get("metadata") or {}
    status = wf.get("status") or {}
    phase = status.get("phase") or ""
    if phase not in _COMPLETED:
        return Cleanup(actions=[], requeue_at=None)
    finished = _finished_at(status.get("finishedAt"), now)
    requeue: list[float] = []
    ttl = ttl_seconds(spec.get("ttlStrategy"), phase)
    if ttl is not None:
        if now >= finished + ttl:
            return Cleanup(actions=[DeleteWorkflow(meta.get("name", ""), uid=meta.get("uid", ""))], requeue_at=None)
        requeue.append(finished + ttl)
    actions: list[Action] = []
    if pdb.wanted(spec) and not pdb_deleted:
        actions.append(DeletePDB(meta.get("name", "")))
    policy = podgc.policy_of(spec, settings)
    if policy is not None:
        due = finished + policy.delay
        for pod in pods:
            pmeta = pod.get("metadata") or {}
            if pmeta.get("deletionTimestamp") or (pmeta.get("labels") or {}).get(_COMPONENT) == _ARTIFACT_GC:
                continue  # an artifact GC pod is artifact GC's to read and delete (core.plan.artifact_gc)
            if not podgc.should_delete(policy, pmeta.get("labels") or {}, (pod.get("status") or {}).get("phase", ""),
                                       phase):
                continue
            if now >= due:
                actions.append(DeletePod(pmeta.get("name", ""), uid=pmeta.get("uid", ""),
                                         grace_period_seconds=policy.grace_period_seconds))
            else:
                requeue.append(due)
    if claims.gc_applies(spec, phase):
        for volume in status.get("persistentVolumeClaims") or ():
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName") if isinstance(volume, dict) else None
            if name:
                actions.append(DeletePVC(name))
    return Cleanup(actions=actions, requeue_at=min(requeue) if requeue else None)


def _finished_at(text: object, now: float, /) -> float:
    """`status.finishedAt` in epoch seconds; `now` when absent or unreadable (a status edited by
    hand), so nothing comes due from it: the workflow is kept rather than a reconcile failing on
    every retry."""
    if not text or not isinstance(text, str):
        return now
    try:
        return parse_time(text).timestamp()
    except ValueError:
        return now
