"""The workflow reconciler: the shell around `core.plan`.

Informer handlers never reconcile; they record what changed (pods, task results) against the
owning workflow's key and enqueue the key. `reconcile(key)` reads the cached Workflow, hands the
recorded changes to the workflow's long-lived `Execution` through `plan`, applies the actions,
and writes status once. Executions are kept per (uid, generation) and rebuilt from status after
a restart, so one pod event costs work proportional to what it changes.

Invariants: cached objects are never mutated (`plan` works on its own state); one status write
per reconcile; a cached Workflow older than our own last write is not acted on; a pod is
deleted by pod GC only after the status recording its node's outcome was written.

A completed workflow has no execution: what is left (pod GC, `ttlStrategy`, PVCs or a
PodDisruptionBudget whose delete failed, task results, artifact GC) is worked out from the stored
object and the objects that exist (`core.plan.completed`, `controller.artifact_gc`), so a restart
in the middle of it finishes it.

The spec a workflow runs (template ref, `workflowDefaults`) is joined in `workflow_spec`; the
applier's outcomes go back to the planner through `feedback`.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import Conflict, NotFound
from tiphys.controller.apply import Applier
from tiphys.controller.feedback import memo_caches, memo_failed, take_claims, task_sets_failed, with_claims
from tiphys.controller.status_writer import StatusWriter
from tiphys.controller.throttle import Throttler, postpone, without_postponed_message
from tiphys.controller.workflow_spec import (configmap_value, decode_spec, join_template, library_template,
                                            merge_specs, refresh_spec, repository_configmap)
from tiphys.controller.workqueue import Result, RetryableError
from tiphys.core.plan import artifact_gc as gc_plan
from tiphys.core.plan import artifact_repo, pdb
from tiphys.core.plan import memo
from tiphys.core.plan.actions import DeletePod, DeleteTaskResults
from tiphys.core.plan.completed import after_completion
from tiphys.core.plan.defaults import DefaultsError, join_workflow_spec, merge_metadata
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.planner import Observed, apply_client_resume, new_execution, plan

__all__ = ["WorkflowReconciler", "PendingChanges"]

_log = logging.getLogger("tiphys.reconciler")
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
COMPLETED_LABEL = "workflows.argoproj.io/completed"
PHASE_LABEL = "workflows.argoproj.io/phase"


class PendingChanges:
    """Objects that changed since the workflow's last reconcile, latest state per name."""

    __slots__ = ("pods", "deleted", "results", "task_set")

    def __init__(self) -> None:
        self.pods: dict[str, dict] = {}
        self.deleted: dict[str, dict] = {}
        self.results: dict[str, dict] = {}
        self.task_set: dict | None = None  # the workflow's WorkflowTaskSet, latest state (HTTP nodes)

    def take(self) -> Observed:
        obs = Observed(pods=list(self.pods.values()), deleted_pods=list(self.deleted.values()),
                       task_results=list(self.results.values()),
                       task_sets=[self.task_set] if self.task_set is not None else [])
        self.pods, self.deleted, self.results, self.task_set = {}, {}, {}, None
        return obs


class _Held:
    __slots__ = ("uid", "generation", "execution", "last_rv", "writer", "last_write", "unwritten",
                 "base", "repository_ref", "metadata_defaults", "spec_defaults", "after_write")

    def __init__(self, uid: str, generation: int, execution: Any, writer: StatusWriter) -> None:
        self.uid, self.generation, self.execution, self.writer = uid, generation, execution, writer
        self.last_rv = ""
        self.last_write = float("-inf")
        self.unwritten = False  # status changed in memory since the last write
        # actions to apply once the status is written (the task results' clean-up at completion)
        self.after_write: list[Any] = []
        self.base: dict = {}  # what lies under the workflow's own spec (template, workflowDefaults)
        self.repository_ref: dict | None = None  # status.artifactRepositoryRef, settled once
        self.metadata_defaults: dict | None = None  # workflowDefaults.metadata at adoption
        # workflowDefaults.spec at adoption, for a workflow without a template ref: written into its
        # spec, as Argo's setWorkflowDefaults does (the clean-up after completion and a restarted
        # controller read it there; a later ConfigMap change cannot alter it)
        self.spec_defaults: dict | None = None


class WorkflowReconciler:
    def __init__(self, api: base.Api, /, *, workflows: Any, pods: Any, task_results: Any, clock: Any,
                 settings: PodSettings = PodSettings(), templates: Any = None, cluster_templates: Any = None,
                 applier: Applier | None = None, metrics: Any = None, status_interval: float = 1.0,
                 configmaps: Any = None, locks: Any = None, throttler: Throttler | None = None) -> None:
        self.api = api
        self.workflows, self.pods, self.task_results = workflows, pods, task_results
        self.task_sets: Any = None  # the WorkflowTaskSet informer (HTTP nodes), set by the engine
        self.artifact_gc: Any = None  # controller.artifact_gc.ArtifactGC (completed workflows), set by the engine
        self.templates, self.cluster_templates = templates, cluster_templates
        self.configmaps = configmaps
        self.locks = locks  # controller.sync.LockManager: mutexes and semaphores across workflows
        # controller-wide parallelism (controller.throttle); without one nothing is limited
        self.throttler = throttler if throttler is not None else Throttler(enqueue=lambda key: None)
        self.clock = clock
        self.settings = settings
        self.applier = applier or Applier(api)
        self.metrics = metrics
        self.pending: dict[str, PendingChanges] = {}
        # key -> (uid, resourceVersion of our final write): stale cached copies are ignored
        self.completed: dict[str, tuple[str, int]] = {}
        # key -> uids of the task results our collection delete named: the informer's DELETED events
        # may trail the completed workflow's next reconcile, which must not delete them again
        self.results_deleted: dict[str, set[str]] = {}
        # key -> uid of a workflow whose PodDisruptionBudget delete succeeded (core.plan.pdb)
        self.pdb_deleted: dict[str, str] = {}
        self.held: dict[str, _Held] = {}
        self.status_writes = 0
        self.cpu_seconds = 0.0  # the controller's own CPU: planning and status encoding
        self.status_interval = status_interval
        # Hot ConfigMap settings (controller.main._apply_config), read when a workflow is adopted:
        # a change reaches workflows adopted afterwards, not running ones.
        self.workflow_defaults: dict | None = None  # `workflowDefaults` (a Workflow object)
        self.artifact_repository: dict | None = None  # `artifactRepository`
        self.controller_namespace = ""  # where a ref's ConfigMap is looked for after the workflow's own
        # the unselected ConfigMap informer (artifact-repositories carry no label); None: none exist
        self.repository_configmaps: Any = None

    # -- informer handlers (record and enqueue; never reconcile here) --------------------------

    def _changes(self, key: str) -> PendingChanges:
        changes = self.pending.get(key)
        if changes is None:
            changes = self.pending[key] = PendingChanges()
        return changes

    @staticmethod
    def owner_key(obj: dict) -> str | None:
        meta = obj.get("metadata") or {}
        wf = (meta.get("labels") or {}).get(WORKFLOW_LABEL)
        return f"{meta.get('namespace')}/{wf}" if wf else None

    def on_pod(self, pod: dict, deleted: bool = False) -> str | None:
        key = self.owner_key(pod)
        if key is not None:
            changes = self._changes(key)
            name = pod["metadata"]["name"]
            if deleted:
                changes.pods.pop(name, None)
                changes.deleted[name] = pod
            else:
                changes.pods[name] = pod
        return key

    def on_task_result(self, result: dict) -> str | None:
        key = self.owner_key(result)
        if key is not None:
            self._changes(key).results[result["metadata"]["name"]] = result
        return key

    def on_task_set(self, task_set: dict) -> str | None:
        """A WorkflowTaskSet changed: it is named as its workflow (Argo), so its key is the workflow's."""
        key = base.object_key(task_set)
        self._changes(key).task_set = task_set
        return key

    # -- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        wf = self.workflows.store.get(key)
        if wf is None:
            if self.locks is not None:
                self.locks.release_workflow(key)  # a deleted workflow holds nothing
            self.throttler.remove(key)
            self.held.pop(key, None)
            self.pending.pop(key, None)
            self.completed.pop(key, None)
            self.results_deleted.pop(key, None)
            self.pdb_deleted.pop(key, None)
            if self.artifact_gc is not None:
                self.artifact_gc.forget(key)
            return Result()
        meta = wf.get("metadata") or {}
        if (meta.get("labels") or {}).get(COMPLETED_LABEL) == "true":
            if self.locks is not None:
                self.locks.release_workflow(key)
            self.throttler.remove(key)
            self.held.pop(key, None)
            self.pending.pop(key, None)
            return await self._finished(wf)
        held = self.held.get(key)
        uid = meta.get("uid", "")
        done = self.completed.get(key)
        if done is not None and done[0] == uid and int(meta.get("resourceVersion") or 0) <= done[1]:
            return Result()  # a cached copy from before our final write: never re-run a finished workflow
        if held is not None and held.uid != uid:
            held = None  # deleted and re-created under the same name
        if held is not None and held.last_rv and int(meta.get("resourceVersion") or 0) < int(held.last_rv):
            return Result(requeue_after=0.05)  # the cache has not seen our own write yet
        first = held is None
        if first:
            if not self.throttler.admit(wf):  # §5.2 step 3: over the controller's parallelism
                await postpone(self.api, wf)
                return Result()  # enqueued again when admitted
            held = self._adopt(key, without_postponed_message(wf))
            if held is None:
                return Result()
        ex = held.execution
        refresh_spec(ex, wf, base=held.base)
        if ex.active_suspends and held.last_rv and str(meta.get("resourceVersion")) != held.last_rv:
            # someone else wrote the workflow since our last write: a client may have resumed a node
            try:
                ex.now = _now_text(self.clock.now())
                apply_client_resume(ex, held.writer.read_nodes(wf.get("status") or {}))
            except ValueError:
                pass  # an unreadable status written by someone else: keep ours
        observed = self._changes(key).take()
        if first:
            # after a restart every existing pod and task result of the workflow is news
            observed.pods = list(self.pods.store.by_index("workflow", key))
            observed.task_results = list(self.task_results.store.by_index("workflow", key))
            task_set = self.task_sets.store.get(key) if self.task_sets is not None else None
            observed.task_sets = [task_set] if task_set is not None else []
        now = self.clock.now()
        cpu = time.process_time()
        result = plan(ex, observed, now)
        self.cpu_seconds += time.process_time() - cpu
        actions = memo.take_retries(ex) + result.actions
        # The task results go only once the completed status is written, as Argo's persistUpdates
        # orders it: deleted first, a finished workflow stayed unfinished for one DELETE per pod,
        # and a crash in between restarted from a status whose nodes waited for task results
        # that were gone (their outputs lost to the 60 s outputs gate).
        held.after_write += [a for a in actions if isinstance(a, DeleteTaskResults)]
        actions = [a for a in actions if not isinstance(a, DeleteTaskResults)]
        try:
            applied = await self.applier.apply(wf, actions)
        except Exception:
            # Something unexpected broke the apply: forget this execution; the retry re-adopts from
            # status, pods and task results, as after a restart (creates again: AlreadyExists = done).
            self.held.pop(key, None)
            raise
        # Pod creates lost to a 5xx or a cut connection are issued again by the next plan, with backoff.
        ex.retry_creates = applied.failed_creates
        memo_failed(key, ex, applied)
        task_sets = task_sets_failed(ex, applied)
        if applied.pdb_refused is not None:
            pdb.refused(ex, applied.pdb_refused)  # before the status write, as Argo fails it at once
        if applied.pdb_deleted:
            self.pdb_deleted[key] = uid
        requeue = result.requeue_after
        if take_claims(ex, applied):
            requeue = 0.0  # every PVC exists now: the entry template may start
        held.unwritten = held.unwritten or result.status_changed or ex.workflow.changed
        if held.unwritten:
            # At most one status write per workflow per `status_interval` (the object is written whole);
            # pods are created at once regardless, and the final status is written without delay.
            wait = held.last_write + self.status_interval - now
            # lock holdings are written at once: after a restart they are rebuilt from status
            if wait <= 0 or ex.workflow.phase in ("Succeeded", "Failed", "Error") or first or ex.locks_changed:
                await self._write(key, wf, held)
                held.last_write = now
            else:
                requeue = wait if requeue is None else min(requeue, wait)
        if held.after_write and not held.unwritten:
            # failures are logged by the applier and not retried (Argo only warns; the owner
            # reference removes them with the workflow)
            cleanup, held.after_write = held.after_write, []
            await self._delete_task_results(key, wf, cleanup)
        gc_at = await self._collect_pods(wf, ex, now)
        if gc_at is not None:
            requeue = max(0.0, gc_at - now) if requeue is None else min(requeue, max(0.0, gc_at - now))
        if applied.failed_creates or applied.claims_failed:
            raise RetryableError(f"{len(applied.failed_creates)} pod and {len(applied.claims_failed)} PVC creates "
                                 f"of {key} failed; retrying")
        if task_sets and key in self.held:
            raise RetryableError(f"{task_sets} task-set writes of {key} failed; retrying")
        if ex.memo_retry and key in self.held:
            raise RetryableError(f"{len(ex.memo_retry)} memoize cache writes of {key} failed; retrying")
        return Result(requeue_after=requeue)

    async def _collect_pods(self, wf: dict, ex: Any, now: float) -> float | None:
        """Pod GC while the workflow runs: deletes whose node outcome is written and whose delay
        passed (core.plan.podgc); returns when the next one is due."""
        gc = ex.pod_gc
        if gc is None:
            return None
        deletes, next_at = gc.due(now)
        if deletes:
            applied = await self.applier.apply(wf, deletes)
            failed = [a for a in applied.failed if isinstance(a, DeletePod)]
            if failed:
                gc.failed(failed, now)
                next_at = min(t for t, _, _ in gc.heap)
        return next_at

    async def _finished(self, wf: dict) -> Result:
        """A completed workflow: pod GC, ttlStrategy and leftover PVCs, from the object alone."""
        spec = wf.get("spec") or {}
        status = wf.get("status") or {}
        stored = status.get("storedWorkflowTemplateSpec")
        if isinstance(stored, dict):
            spec = merge_specs(stored, {k: v for k, v in spec.items() if k != "workflowTemplateRef"})
        if self.artifact_gc is not None and gc_plan.FINALIZER in ((wf.get("metadata") or {}).get("finalizers") or ()):
            gc_at = await self.artifact_gc.reconcile(wf, spec)  # artifact GC (core.plan.artifact_gc)
            if gc_at is not None:
                return Result(requeue_after=gc_at)  # our GC write is not in the cache yet: read it first
        key = base.object_key(wf)
        left = self.task_results.store.by_index("workflow", key) if self.task_results is not None else ()
        if not left:
            self.results_deleted.pop(key, None)
        elif not self.results_deleted.get(key, set()).issuperset(r["metadata"]["uid"] for r in left):
            # left by a controller that stopped between the final status write and the clean-up
            await self._delete_task_results(key, wf, [DeleteTaskResults()])
        pdb_gone = self.pdb_deleted.get(key) == (wf.get("metadata") or {}).get("uid")
        if not (spec.get("podGC") or spec.get("ttlStrategy") or status.get("persistentVolumeClaims")
                or pdb.wanted(spec) and not pdb_gone):
            return Result()
        now = self.clock.now()
        pods = self.pods.store.by_index("workflow", key) if spec.get("podGC") else ()
        cleanup = after_completion(wf, spec, pods, now, settings=self.settings, pdb_deleted=pdb_gone)
        applied = await self.applier.apply(wf, cleanup.actions)
        if applied.pdb_deleted:
            self.pdb_deleted[key] = (wf.get("metadata") or {}).get("uid", "")
        if applied.failed:
            raise RetryableError(f"{len(applied.failed)} clean-up actions of {key} failed; retrying")
        return Result(requeue_after=None if cleanup.requeue_at is None else max(0.0, cleanup.requeue_at - now))

    async def _delete_task_results(self, key: str, wf: dict, actions: list[Any]) -> None:
        """One DeleteCollection of the workflow's task results (the applier's), remembering what it named."""
        applied = await self.applier.apply(wf, actions)
        if applied.task_results_deleted:
            self.results_deleted.setdefault(key, set()).update(applied.task_results_deleted)

    def _adopt(self, key: str, wf: dict) -> _Held | None:
        defaults = self.workflow_defaults or {}
        metadata_defaults = defaults.get("metadata") if isinstance(defaults.get("metadata"), dict) else None
        meta = merge_metadata(wf["metadata"], metadata_defaults)
        ref_less = not isinstance((wf.get("spec") or {}).get("workflowTemplateRef"), dict)
        wf, base, err = join_template(wf, defaults=self.workflow_defaults, templates=self.templates,
                                       cluster_templates=self.cluster_templates)
        spec, err = decode_spec(wf) if err is None else (None, err)
        writer = StatusWriter()
        status = wf.get("status") or {}
        try:
            nodes = writer.read_nodes(status)
        except ValueError as exc:
            err = f"cannot read status.nodes: {exc}"
            nodes = {}
        wmeta = WorkflowMeta(name=meta["name"], namespace=meta.get("namespace", ""), uid=meta.get("uid", ""),
                             labels=dict(meta.get("labels") or {}), annotations=dict(meta.get("annotations") or {}),
                             creation_timestamp=meta.get("creationTimestamp", ""))
        ex = new_execution(wmeta, spec or {}, status, nodes, settings=self.settings,
                           library=lambda name, t, cluster: library_template(
                               name, t, cluster, namespace=wmeta.namespace, templates=self.templates,
                               cluster_templates=self.cluster_templates),
                           configmaps=lambda name, k: configmap_value(self.configmaps, wmeta.namespace, name, k),
                           locks=self.locks)
        memo_caches(ex, self.configmaps, wmeta.namespace)
        held = _Held(meta.get("uid", ""), int(meta.get("generation") or 0), ex, writer)
        # JoinWorkflowSpec: under a template ref `suspend` is always the workflow's own
        held.base = base if ref_less else {k: v for k, v in base.items() if k != "suspend"}
        held.metadata_defaults = metadata_defaults
        held.spec_defaults = base if ref_less and base and not err else None
        self.held[key] = held
        if err:
            ex.workflow.set(phase="Failed", message=err, finished_at=_now_text(self.clock.now()),
                            started_at=ex.workflow.started_at or _now_text(self.clock.now()))
            return held
        try:  # §5.2 step 6, once: a restarted controller keeps the recorded repository
            recorded = status.get("artifactRepositoryRef")
            if isinstance(recorded, dict):
                held.repository_ref = recorded
                repository = artifact_repo.repository_of(recorded, default=self.artifact_repository,
                                                         read=self._repository_configmap)
            else:
                held.repository_ref = artifact_repo.resolve_repository(
                    (spec or {}).get("artifactRepositoryRef"), namespace=wmeta.namespace,
                    controller_namespace=self.controller_namespace, default=self.artifact_repository,
                    read=self._repository_configmap)
                repository = held.repository_ref["artifactRepository"]
                ex.workflow.changed = True
        except artifact_repo.RepositoryError as exc:
            verb = "get" if isinstance(status.get("artifactRepositoryRef"), dict) else "resolve"
            ex.workflow.set(phase="Error", message=f"failed to {verb} artifact repository: {exc}",
                            finished_at=_now_text(self.clock.now()),
                            started_at=ex.workflow.started_at or _now_text(self.clock.now()))
            return held
        ex.artifact_repository = repository  # read by core.plan.walk for templates' archiveLocation
        return held

    def _repository_configmap(self, namespace: str, name: str) -> tuple[dict, dict] | None:
        return repository_configmap(self.repository_configmaps, namespace, name)

    async def _write(self, key: str, wf: dict, held: _Held) -> None:
        """One status write; on 409 re-read and re-apply our status (we own it), never regressing."""
        ex = held.execution
        cpu = time.process_time()
        body = _with_defaults(self._with_sync(key, with_claims(held.writer.workflow_body(wf, ex), ex)), held)
        self.cpu_seconds += time.process_time() - cpu
        namespace, _, name = key.partition("/")
        for attempt in range(5):
            try:
                written = await self.api.update(base.WORKFLOWS, body, namespace=namespace)
            except Conflict:
                try:
                    live = await self.api.get(base.WORKFLOWS, name, namespace=namespace)
                except NotFound:
                    return
                if (live.get("metadata") or {}).get("uid") != held.uid:
                    return
                refresh_spec(ex, live, base=held.base)
                body = _with_defaults(self._with_sync(key, with_claims(held.writer.workflow_body(live, ex), ex)),
                                      held)
                continue
            except NotFound:
                return
            held.last_rv = str((written.get("metadata") or {}).get("resourceVersion") or "")
            held.unwritten = False
            self.status_writes += 1
            ex.workflow.changed = False
            if ex.pod_gc is not None:
                ex.pod_gc.persisted(self.clock.now())  # the outcomes of the decided pods are on record
            if ex.workflow.phase in ("Succeeded", "Failed", "Error"):
                if self.locks is not None:
                    self.locks.release_workflow(key)  # also when it ended outside the planner (bad spec)
                self.throttler.remove(key)  # its slot goes to the next waiter now, as Argo's after operate
                self.held.pop(key, None)
                self.pending.pop(key, None)
                self.completed[key] = (held.uid, int(held.last_rv or 0))
            return
        raise RuntimeError(f"status of {key} could not be written after 5 conflicts")


    def _with_sync(self, key: str, body: dict) -> dict:
        """`status.synchronization`: what the workflow holds and waits for, from the lock manager."""
        sync = self.locks.status_of(key) if self.locks is not None else None
        status = body.get("status")
        if sync and isinstance(status, dict):
            body = {**body, "status": {**status, "synchronization": sync}}
        return body


def _with_defaults(body: dict, held: _Held) -> dict:
    """The workflow as written: `workflowDefaults` labels/annotations and (without a template ref)
    spec under its own, as Argo merges them into the object, and `status.artifactRepositoryRef`."""
    if held.metadata_defaults:
        body = {**body, "metadata": merge_metadata(body.get("metadata") or {}, held.metadata_defaults)}
    if held.spec_defaults:
        try:
            body = {**body, "spec": join_workflow_spec(body.get("spec") or {}, defaults=held.spec_defaults)}
        except DefaultsError:
            pass  # the spec was edited since adoption into a shape that does not merge: leave it as written
    status = body.get("status")
    if held.repository_ref is not None and isinstance(status, dict):
        body = {**body, "status": {**status, "artifactRepositoryRef": held.repository_ref}}
    finalizers = gc_plan.finalizers_to_write(body.get("metadata") or {}, held.execution.spec)
    if finalizers is not None:  # artifact GC: the finalizer holds the object until its artifacts are gone
        body = {**body, "metadata": {**(body.get("metadata") or {}), "finalizers": finalizers}}
    return body


def _now_text(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
