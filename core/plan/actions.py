"""What a plan asks the shell to do. The planner never acts; the applier never decides."""
from __future__ import annotations

from typing import Any, Union

import msgspec

__all__ = ["CreatePod", "DeletePod", "SignalPod", "CreatePVC", "DeletePVC", "EmitEvent", "DeleteTaskResults",
           "DeleteWorkflow", "SaveMemo", "PutTaskSet", "PruneTaskSet", "CompleteTaskSet", "CreatePDB", "DeletePDB",
           "Action"]


class CreatePod(msgspec.Struct, frozen=True, tag=True):
    """Create this pod; AlreadyExists means we made it before a crash and is success."""

    node_id: str
    pod: dict[str, Any]


class DeletePod(msgspec.Struct, frozen=True, tag=True):
    name: str
    uid: str = ""  # precondition, so a re-created pod of the same name survives
    grace_period_seconds: int | None = None  # None: the pod's own terminationGracePeriodSeconds


class SignalPod(msgspec.Struct, frozen=True, tag=True):
    """Ask the pod's remaining containers to stop (SIGTERM), as Argo does for sidecars and shutdown."""

    name: str
    containers: tuple[str, ...] = ()


class CreatePVC(msgspec.Struct, frozen=True, tag=True):
    """Create a `volumeClaimTemplates` PVC; AlreadyExists is success only if the workflow owns it."""

    pvc: dict[str, Any]
    claim: str = ""  # the claim template's name (the volume name pods mount)
    owner_uid: str = ""


class DeletePVC(msgspec.Struct, frozen=True, tag=True):
    name: str


class DeleteWorkflow(msgspec.Struct, frozen=True, tag=True):
    """Delete the workflow (ttlStrategy); its pods, PVCs and task results follow by owner reference."""

    name: str
    uid: str = ""


class EmitEvent(msgspec.Struct, frozen=True, tag=True):
    reason: str
    message: str
    event_type: str = "Normal"


class DeleteTaskResults(msgspec.Struct, frozen=True, tag=True):
    """Delete every WorkflowTaskResult of the workflow (after completion, as Argo does)."""


class SaveMemo(msgspec.Struct, frozen=True, tag=True):
    """Write a `memoize` cache entry (Argo's JSON) under `key` of the ConfigMap `config_map`.

    Idempotent: the applier reads the ConfigMap, sets the key and writes it back, re-reading on a
    409; a missing ConfigMap is created with the `configmap-type: Cache` label. `refresh` (a hit)
    only moves `lastHitTimestamp`, and only while the stored entry is still the one that was hit.
    """

    config_map: str
    key: str
    entry: dict[str, Any]
    refresh: bool = False


class PutTaskSet(msgspec.Struct, frozen=True, tag=True):
    """Upsert `spec.tasks[nodeID]` of the workflow's WorkflowTaskSet (named as the workflow, owned by
    it, label `completed=false`): created when absent, else merge-patched (Argo's createTaskSet)."""

    tasks: dict[str, dict[str, Any]]


class PruneTaskSet(msgspec.Struct, frozen=True, tag=True):
    """Drop finished nodes from the task set: `status.nodes` first, then `spec.tasks` (Argo's
    removeCompletedTaskSetStatus). NotFound is success."""

    node_ids: tuple[str, ...]


class CompleteTaskSet(msgspec.Struct, frozen=True, tag=True):
    """Label the task set `workflows.argoproj.io/completed=true` (the workflow is over; the agent stops)."""


class CreatePDB(msgspec.Struct, frozen=True, tag=True):
    """Create the workflow's PodDisruptionBudget (core.plan.pdb); AlreadyExists is success (made
    before a restart, as Argo's get-then-create finds it)."""

    pdb: dict[str, Any]


class DeletePDB(msgspec.Struct, frozen=True, tag=True):
    """Delete the workflow's PodDisruptionBudget at completion; NotFound is success."""

    name: str


Action = Union[CreatePod, DeletePod, SignalPod, CreatePVC, DeletePVC, EmitEvent, DeleteTaskResults, DeleteWorkflow,
               SaveMemo, PutTaskSet, PruneTaskSet, CompleteTaskSet, CreatePDB, DeletePDB]
