"""What the applier's outcomes tell the planner, and the status fields they add.

The applier acts and reports (PVCs made, failed or refused; memoize cache writes refused); these
hand the outcomes back to the workflow's Execution so that the next plan decides from them, and add
`status.persistentVolumeClaims` to the written body. memoize caches are read from the ConfigMap
informer, wired in when an Execution is made.
"""
from __future__ import annotations

import logging
from typing import Any

from tiphys.controller.apply import Applied
from tiphys.core.plan import claims, memo
from tiphys.core.plan.actions import DeletePVC, PutTaskSet, SaveMemo
from tiphys.core.plan.execution import FULFILLED

__all__ = ["memo_caches", "memo_failed", "take_claims", "with_claims", "task_sets_failed"]

_log = logging.getLogger("tiphys.reconciler")


def memo_caches(ex: Any, informer: Any, namespace: str) -> None:
    """memoize caches are read from the ConfigMap informer (Argo's: label `configmap-type` exists), so a
    lookup costs no API call; saves a crash lost (outputs in status, no entry) are issued again."""
    store = informer.store if informer is not None else None
    ex.memo_caches = (lambda name: store.get(f"{namespace}/{name}")) if store is not None else None
    memo.reissue_lost(ex)


def memo_failed(key: str, ex: Any, applied: Applied) -> None:
    """Cache writes the API refused go back to the Execution, to be issued again with backoff."""
    failed = [a for a in applied.failed if isinstance(a, SaveMemo)]
    if failed:
        memo.retry_later(ex, failed)
        if ex.workflow.phase in ("Succeeded", "Failed", "Error"):
            _log.warning("workflow %s completed with %d memoize cache writes not made", key, len(failed))


def take_claims(ex: Any, applied: Applied) -> bool:
    """Hand the applier's PVC outcomes to the planner; True when the last missing PVC was just made."""
    failed_deletes = [a.name for a in applied.failed if isinstance(a, DeletePVC)]
    if failed_deletes:
        claims.release_failed(ex, failed_deletes)
    if not (applied.claims_made or applied.claims_failed or applied.claims_refused):
        return False
    all_made = claims.created(ex, applied.claims_made)
    if applied.claims_refused:
        claims.refused(ex, applied.claims_refused[0][1])
    elif applied.claims_failed:
        claims.waiting(ex, applied.claims_failed[0][1])
    return all_made and not applied.claims_failed and not applied.claims_refused


def with_claims(body: dict, ex: Any) -> dict:
    """`status.persistentVolumeClaims` (the volumes of the PVCs made from volumeClaimTemplates)."""
    volumes = ex.workflow.persistent_volume_claims
    status = body.get("status")
    if volumes and isinstance(status, dict):
        body = {**body, "status": {**status, "persistentVolumeClaims": list(volumes)}}
    return body


def task_sets_failed(ex: Any, applied: Applied) -> int:
    """Task-set writes the API refused (a 429, a 5xx, a cut connection): their HTTP tasks go back to
    be put by the next plan, so a waiting HTTP node is not left without its task. Returns how many
    writes failed (the reconciler retries with backoff)."""
    failed = [a for a in applied.failed if isinstance(a, PutTaskSet)]
    st = ex.http
    for action in failed if st is not None else ():
        for node_id, task in action.tasks.items():
            node = ex.nodes.get(node_id)
            if node_id in st.active and node is not None and node.phase not in FULFILLED:
                st.to_put.setdefault(node_id, task)
    return len(failed)

