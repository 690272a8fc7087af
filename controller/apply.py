"""The applier: makes a plan's actions so. It decides nothing.

PVC creates go first (a pod must not wait on a claim that does not exist; if one fails, the pod
creates are held back and reported as failed). Pod creates run concurrently (bounded);
AlreadyExists means a create we made before a crash and is success (pod names are
deterministic); for a PVC it is success only when the workflow owns the claim. Deletes
tolerate NotFound. A completed workflow's task results go with one DeleteCollection by its label,
as Argo's deleteTaskResults (one request, not one per pod). The workflow's PodDisruptionBudget is
created before anything else (AlreadyExists = made; another error is reported for the workflow to
fail, and the plan's pod creates are held back) and deleted (NotFound = gone). Artifact GC's WorkflowArtifactGCTasks are created (AlreadyExists = ours) and
deleted. The WorkflowTaskSet (HTTP nodes) is created or merge-patched, finished
entries patched away (status first, through its status subresource), as Argo does. Events are best effort. A memoize cache write (`SaveMemo`) reads the
ConfigMap, sets its key and writes it back, re-reading on a 409. What failed comes back in `Applied`, for the
reconciler to hand to the planner: nothing is retried here.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from typing import Any, Sequence

from tiphys.controller.api import base
from tiphys.core.plan.metrics import RecordMetric  # custom metrics: handed to the exporter
from tiphys.core.plan.artifact_gc import CreateGCTask, DeleteGCTask  # artifact GC's task objects
from tiphys.controller.api.errors import AlreadyExists, ApiError, BadRequest, Conflict, Invalid, NotFound
from tiphys.core.plan.actions import (CompleteTaskSet, CreatePDB, CreatePod, CreatePVC, DeletePDB, DeletePod,
                                      DeletePVC, DeleteTaskResults, DeleteWorkflow, EmitEvent, PruneTaskSet,
                                      PutTaskSet, SaveMemo, SignalPod)

__all__ = ["Applier", "Applied", "PVCRefused"]

_log = logging.getLogger("tiphys.apply")
_CACHE_LABEL, _CACHE = "workflows.argoproj.io/configmap-type", "Cache"
_COMPLETED, _INSTANCE = "workflows.argoproj.io/completed", "workflows.argoproj.io/controller-instanceid"
_WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
_MEMO_ATTEMPTS = 5


class PVCRefused(ApiError):
    """A PVC of the workflow's name exists but belongs to someone else (Argo: `pvc already exists
    with different ownerreference`)."""


class Applied:
    """What an `apply` could not do, by kind; empty lists when everything worked."""

    __slots__ = ("failed_creates", "failed", "claims_made", "claims_failed", "claims_refused",
                 "task_results_deleted", "pdb_refused", "pdb_deleted")

    def __init__(self) -> None:
        self.failed_creates: list[CreatePod] = []  # to be issued again by the next plan
        self.failed: list[Any] = []  # other actions the API refused (NotFound is success for deletes)
        self.claims_made: list[str] = []  # claim names whose PVC exists and is ours
        self.claims_failed: list[tuple[str, str]] = []  # (claim, error) that may pass: try again
        self.claims_refused: list[tuple[str, str]] = []  # (claim, error) that will not pass
        self.task_results_deleted: list[str] = []  # uids a task-result collection delete named
        self.pdb_refused: str | None = None  # why the PodDisruptionBudget create failed (core.plan.pdb)
        self.pdb_deleted = False  # a DeletePDB succeeded (or found nothing to delete)


class Applier:
    def __init__(self, api: base.Api, /, *, concurrency: int = 64) -> None:
        self.api = api
        self.concurrency = concurrency
        self.pods_created = 0
        self.api_writes = 0
        # custom metrics (RecordMetric) go to the exporter: (workflow, action) -> None; none: dropped
        self.on_metric: Any = None

    async def apply(self, wf: dict, actions: Sequence[Any]) -> Applied:
        """Apply the actions; never raises for a refused one (one lost create must not undo the
        others): the `Applied` result says what failed."""
        out = Applied()
        if not actions:
            return out
        namespace = wf["metadata"].get("namespace")
        for action in actions:
            if isinstance(action, CreatePDB):  # before anything else: a refusal fails the workflow
                await self._create_pdb(namespace, action, out)
        for action in actions:
            if isinstance(action, CreatePVC):
                await self._create_pvc(namespace, action, out)
        creates = [a for a in actions if isinstance(a, CreatePod)]
        failed = out.failed_creates
        if creates and (out.claims_failed or out.claims_refused or out.pdb_refused is not None):
            failed.extend(creates)  # a pod must not start before its claims exist
            creates = []
        if creates:
            sem = asyncio.Semaphore(self.concurrency)

            async def one(action: CreatePod) -> None:
                async with sem:
                    try:
                        await self._create_pod(namespace, action)
                    except ApiError as exc:
                        _log.warning("creating pod %s failed, will retry: %r", action.pod["metadata"]["name"], exc)
                        failed.append(action)

            await asyncio.gather(*(one(a) for a in creates))
        for action in actions:
            if isinstance(action, (CreatePod, CreatePVC, CreatePDB)):
                continue
            try:
                await self._apply_one(wf, namespace, action, out)
            except NotFound:
                out.pdb_deleted = out.pdb_deleted or isinstance(action, DeletePDB)
                # already gone: what we wanted
            except Conflict as exc:
                if isinstance(action, (DeletePod, DeleteWorkflow)):
                    continue  # the UID precondition failed: ours is gone, one of the same name is not ours
                _log.warning("action %r on %s failed: %r", type(action).__name__, wf["metadata"]["name"], exc)
                out.failed.append(action)
            except ApiError as exc:
                _log.warning("action %r on %s failed: %r", type(action).__name__, wf["metadata"]["name"], exc)
                out.failed.append(action)
        return out

    async def _create_pvc(self, namespace: str, action: CreatePVC, out: Applied) -> None:
        name = action.pvc["metadata"]["name"]
        self.api_writes += 1
        try:
            try:
                await self.api.create(base.PERSISTENT_VOLUME_CLAIMS, action.pvc, namespace=namespace)
            except AlreadyExists:
                live = await self.api.get(base.PERSISTENT_VOLUME_CLAIMS, name, namespace=namespace)
                owners = {r.get("uid") for r in (live.get("metadata") or {}).get("ownerReferences") or ()}
                if action.owner_uid not in owners:
                    raise PVCRefused(f"{name} pvc already exists with different ownerreference") from None
        except (PVCRefused, BadRequest, Invalid) as exc:
            out.claims_refused.append((action.claim, _text(exc)))
        except ApiError as exc:
            # quota, 429, 5xx, a cut connection, RBAC: the workflow waits Pending and the create is
            # tried again (Argo waits only on transient errors; a wait that shows the error is
            # kinder than failing a workflow for a Forbidden that an admin may fix)
            _log.warning("creating pvc %s failed, will retry: %r", name, exc)
            out.claims_failed.append((action.claim, _text(exc)))
        else:
            out.claims_made.append(action.claim)

    async def _create_pdb(self, namespace: str, action: CreatePDB, out: Applied) -> None:
        """Argo's createPDBResource: an existing PDB of the name is taken as made; any other error
        fails the workflow (Argo's markWorkflowFailed), reported in `out.pdb_refused`."""
        self.api_writes += 1
        try:
            await self.api.create(base.POD_DISRUPTION_BUDGETS, action.pdb, namespace=namespace)
        except AlreadyExists:
            pass  # made before a restart (or by hand): Argo's Get finds it and goes on
        except ApiError as exc:
            _log.warning("creating pdb %s failed: %r", action.pdb["metadata"]["name"], exc)
            out.pdb_refused = _text(exc)

    async def _create_pod(self, namespace: str, action: CreatePod) -> None:
        try:
            self.api_writes += 1
            await self.api.create(base.PODS, action.pod, namespace=namespace)
            self.pods_created += 1
        except AlreadyExists:
            pass

    async def _apply_one(self, wf: dict, namespace: str, action: Any, out: Applied) -> None:
        if isinstance(action, DeletePod):
            self.api_writes += 1
            pre = base.Preconditions(uid=action.uid) if action.uid else None
            await self.api.delete(base.PODS, action.name, namespace=namespace, preconditions=pre,
                                  grace_period_seconds=action.grace_period_seconds)
        elif isinstance(action, SignalPod):
            # the node agent and the kubelet act on this annotation: SIGTERM the named containers
            self.api_writes += 1
            await self.api.patch(base.PODS, action.name, {"metadata": {"annotations": {
                "workflows.argoproj.io/terminate-containers": ",".join(action.containers)}}}, namespace=namespace)
        elif isinstance(action, DeleteWorkflow):
            self.api_writes += 1
            pre = base.Preconditions(uid=action.uid) if action.uid else None
            # Background, as Argo's TTL controller: pods, PVCs and task results follow by owner reference
            await self.api.delete(base.WORKFLOWS, action.name, namespace=namespace, preconditions=pre,
                                  propagation=base.Propagation.BACKGROUND)
        elif isinstance(action, DeletePVC):
            self.api_writes += 1
            await self.api.delete(base.PERSISTENT_VOLUME_CLAIMS, action.name, namespace=namespace)
        elif isinstance(action, DeletePDB):
            self.api_writes += 1
            await self.api.delete(base.POD_DISRUPTION_BUDGETS, action.name, namespace=namespace)
            out.pdb_deleted = True
        elif isinstance(action, DeleteTaskResults):
            # Argo's deleteTaskResults: one DeleteCollection by the workflow label, Background
            self.api_writes += 1
            gone = await self.api.delete_collection(
                base.WORKFLOW_TASK_RESULTS, namespace=namespace, propagation=base.Propagation.BACKGROUND,
                label_selector=f"{_WORKFLOW_LABEL}={wf['metadata']['name']}")
            out.task_results_deleted.extend(str((o.get("metadata") or {}).get("uid")) for o in gone or ())
        elif isinstance(action, EmitEvent):
            await self._event(wf, namespace, action)
        elif isinstance(action, SaveMemo):
            await self._save_memo(namespace, action)
        elif isinstance(action, RecordMetric):
            if self.on_metric is not None:
                self.on_metric(wf, action)
        elif isinstance(action, PutTaskSet):
            await self._put_task_set(wf, namespace, action)
        elif isinstance(action, PruneTaskSet):
            gone = {node_id: None for node_id in action.node_ids}  # merge patch: null removes the key
            name = wf["metadata"]["name"]
            self.api_writes += 2
            await self.api.patch(base.WORKFLOW_TASK_SETS, name, {"status": {"nodes": gone}}, namespace=namespace,
                                 subresource="status")
            await self.api.patch(base.WORKFLOW_TASK_SETS, name, {"spec": {"tasks": gone}}, namespace=namespace)
        elif isinstance(action, CreateGCTask):
            self.api_writes += 1
            try:
                await self.api.create(base.WORKFLOW_ARTIFACT_GC_TASKS, action.task, namespace=namespace)
            except AlreadyExists:
                pass  # names are deterministic: made before a restart
        elif isinstance(action, DeleteGCTask):
            self.api_writes += 1
            await self.api.delete(base.WORKFLOW_ARTIFACT_GC_TASKS, action.name, namespace=namespace)
        elif isinstance(action, CompleteTaskSet):
            self.api_writes += 1
            await self.api.patch(base.WORKFLOW_TASK_SETS, wf["metadata"]["name"],
                                 {"metadata": {"labels": {_COMPLETED: "true"}}}, namespace=namespace)

    async def _put_task_set(self, wf: dict, namespace: str, action: PutTaskSet) -> None:
        """Argo's createTaskSet: create the task set (named and owned as the workflow), or merge the
        tasks into the one that exists (and mark it not completed)."""
        meta = wf["metadata"]
        labels = {_COMPLETED: "false"}
        instance = (meta.get("labels") or {}).get(_INSTANCE)
        if instance:
            labels[_INSTANCE] = instance  # the controller's informer selects its own instance's
        body = {"apiVersion": base.WORKFLOW_TASK_SETS.api_version, "kind": base.WORKFLOW_TASK_SETS.kind,
                "metadata": {"name": meta["name"], "namespace": namespace, "labels": labels,
                             "ownerReferences": [{"apiVersion": wf.get("apiVersion", "argoproj.io/v1alpha1"),
                                                  "kind": wf.get("kind", "Workflow"), "name": meta["name"],
                                                  "uid": meta.get("uid", "")}]},
                "spec": {"tasks": action.tasks}}
        self.api_writes += 1
        try:
            await self.api.create(base.WORKFLOW_TASK_SETS, body, namespace=namespace)
        except AlreadyExists:
            self.api_writes += 1
            await self.api.patch(base.WORKFLOW_TASK_SETS, meta["name"],
                                 {"metadata": {"labels": labels}, "spec": {"tasks": action.tasks}}, namespace=namespace)

    async def _save_memo(self, namespace: str, action: SaveMemo) -> None:
        """Set one cache entry: read, set the key, write with the read resourceVersion; a 409 (another
        writer) re-reads and re-applies. A missing ConfigMap is created with Argo's Cache label."""
        name = action.config_map
        text = json.dumps(action.entry, separators=(",", ":"))
        for _ in range(_MEMO_ATTEMPTS):
            try:
                live = await self.api.get(base.CONFIG_MAPS, name, namespace=namespace)
            except NotFound:
                if action.refresh:
                    return  # the entry that was hit is gone: nothing to refresh
                body = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": namespace, "labels": {_CACHE_LABEL: _CACHE}},
                        "data": {action.key: text}}
                try:
                    self.api_writes += 1
                    await self.api.create(base.CONFIG_MAPS, body, namespace=namespace)
                    return
                except AlreadyExists:
                    continue  # made by another writer meanwhile: read it and set our key
            meta = live.get("metadata") or {}
            labels = meta.get("labels") or {}
            if labels.get(_CACHE_LABEL, _CACHE) != _CACHE:
                # the planner refuses such a ConfigMap; it was relabelled since: never write into it
                _log.warning("memoize: ConfigMap %s/%s is labelled %s=%s, not a cache: entry %r not saved",
                             namespace, name, _CACHE_LABEL, labels.get(_CACHE_LABEL), action.key)
                return
            data = dict(live.get("data") or {})
            if action.refresh:
                text = _refreshed(data.get(action.key), action.entry)
                if text is None:
                    return  # replaced by a newer save since the hit: that one stays
            if data.get(action.key) == text and labels.get(_CACHE_LABEL) == _CACHE:
                return  # already so (a save issued again after a crash)
            data[action.key] = text
            # an unlabelled ConfigMap of that name becomes a cache, as Argo's Save labels it
            body = {**live, "metadata": {**meta, "labels": {**labels, _CACHE_LABEL: _CACHE}}, "data": data}
            try:
                self.api_writes += 1
                await self.api.update(base.CONFIG_MAPS, body, namespace=namespace)
                return
            except Conflict:
                continue
        raise Conflict(f"memoize cache {namespace}/{name}: key {action.key!r} not saved after "
                       f"{_MEMO_ATTEMPTS} conflicting writes")

    async def _event(self, wf: dict, namespace: str, action: EmitEvent) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = wf["metadata"]
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
                 "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": meta["name"],
                                    "namespace": namespace, "uid": meta.get("uid", "")},
                 "reason": action.reason, "message": action.message, "type": action.event_type,
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                 "source": {"component": "workflow-controller"}, "reportingComponent": "workflow-controller"}
        self.api_writes += 1
        await self.api.create(base.EVENTS, event, namespace=namespace)


def _refreshed(stored: Any, hit: dict) -> str | None:
    """The stored entry with the hit's lastHitTimestamp, if it is still the entry that was hit."""
    try:
        current = json.loads(stored) if isinstance(stored, str) else None
    except ValueError:
        return None
    if not isinstance(current, dict) or any(current.get(k) != hit.get(k) for k in ("nodeID", "creationTimestamp")):
        return None
    return json.dumps({**current, "lastHitTimestamp": hit.get("lastHitTimestamp")}, separators=(",", ":"))


def _text(exc: ApiError) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__
