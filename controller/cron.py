"""The CronWorkflow controller: Argo's `workflow/cron` loop on tiphys' informers and work queue.

    cron = CronController(api, clock=clock, namespace=None, instance_id="")
    await cron.start()      # informers synced, workers running
    ...
    await cron.stop()

Two informers feed one queue keyed `namespace/name` of the CronWorkflow: the CronWorkflows
themselves (same `controller-instanceid` selector as the workflow engine) and the workflows
labelled `workflows.argoproj.io/cron-workflow` (mapped to their cron's key, so a child finishing
updates `status.active`, the counters and the history at once). `reconcile(key)` asks
`tiphys.core.cron.decide` what to do and applies it: terminate (Replace), create the child,
delete beyond the history limits, then one merge patch of labels, annotations and status with
the cached `resourceVersion` as precondition, so a stale cache can never count a finished
child twice (Conflict: look again). The per-cron timer is the queue's `add_after` on the
injected `Clock`, armed at `Decision.next_run` through `Result(requeue_after=...)`.

Across restarts: the child's name is `<cron>-<scheduled unix seconds>`, so a second create for
the same scheduled time is refused (AlreadyExists = already done). The only in-memory state is
`handled_through` per cron (which scheduled times this process has dealt with), reset when the
spec changes — Argo re-arms its robfig entry on every change too.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from tiphys.controller.informer import FuncHandler, Informer, strip_managed_fields
from tiphys.controller.workqueue import RateLimitingQueue, Result, RetryableError, WorkerStats, run_workers
from tiphys.core import cron as core_cron

__all__ = ["CronController", "index_by_cron", "CRON_WORKERS"]

_log = logging.getLogger("tiphys.cron")
CRON_WORKERS = 8  # Argo's --cron-workflow-workers default


def index_by_cron(obj: dict, /) -> tuple[str, ...]:
    """A child workflow filed under its CronWorkflow's key `namespace/name`."""
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(core_cron.CRON_LABEL)
    return (f"{meta.get('namespace')}/{name}",) if name else ()


def _spec_digest(obj: dict) -> bytes:
    return hashlib.blake2b(msgspec.json.encode(obj.get("spec")), digest_size=16).digest()


class CronController:
    def __init__(self, api: base.Api, /, *, clock: Any, namespace: str | None = None, instance_id: str = "",
                 workers: int = CRON_WORKERS) -> None:
        self.api, self.clock, self.n_workers = api, clock, workers
        label = f"{core_cron.INSTANCE_LABEL}={instance_id}" if instance_id else f"!{core_cron.INSTANCE_LABEL}"
        self.crons: Informer[dict] = Informer(api, base.CRON_WORKFLOWS, label_selector=label, clock=clock,
                                              namespace=namespace, transform=strip_managed_fields)
        self.children: Informer[dict] = Informer(
            api, base.WORKFLOWS, label_selector=f"{core_cron.CRON_LABEL},{label}", clock=clock,
            namespace=namespace, transform=strip_managed_fields, indexers={"cron": index_by_cron})
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
        self.stats = WorkerStats()
        self.created = 0  # children created by this process (observability, tests)
        # Argo's cron metrics: runs created, concurrency policy applied, errors by cause
        self.triggered: Counter[tuple[str, str]] = Counter()  # (namespace, name)
        self.policy_triggered: Counter[tuple[str, str, str]] = Counter()  # (namespace, name, policy)
        self.errors: Counter[str] = Counter()
        self._last_error: dict[str, str] = {}  # key -> the error counted last (counted once, not per pass)
        # key -> (spec digest, handled_through): which scheduled times this process dealt with
        self._handled: dict[str, tuple[bytes, float | None]] = {}
        self._tasks: list[asyncio.Task] = []
        self._wire()

    def _wire(self) -> None:
        add, key_of = self.queue.add, base.object_key

        def cron_deleted(obj: dict, final_state_unknown: bool) -> None:
            self._handled.pop(key_of(obj), None)
            add(key_of(obj))

        self.crons.add_handler(FuncHandler(add=lambda o: add(key_of(o)), update=lambda a, b: add(key_of(b)),
                                           delete=cron_deleted))

        def child_changed(obj: dict, *_: object) -> None:
            for key in index_by_cron(obj):
                add(key)

        self.children.add_handler(FuncHandler(add=child_changed, update=lambda a, b: child_changed(b),
                                              delete=child_changed))

    @property
    def informers(self) -> tuple[Informer, ...]:
        return (self.children, self.crons)

    def start_informers(self) -> None:
        for informer in self.informers:
            self._tasks.append(asyncio.ensure_future(informer.run()))

    async def wait_synced(self) -> None:
        for informer in self.informers:
            await informer.wait_synced()

    def run_workers(self) -> asyncio.Future:
        """The workers as one task (the controller process starts them once it leads)."""
        task = asyncio.ensure_future(run_workers(self.queue, self.reconcile, n=self.n_workers, stats=self.stats))
        self._tasks.append(task)
        return task

    async def start(self) -> None:
        self.start_informers()
        await self.wait_synced()
        self.run_workers()

    async def stop(self) -> None:
        self.queue.shut_down()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, key: str, /) -> Result:
        obj = self.crons.store.get(key)
        if obj is None:
            self._handled.pop(key, None)
            return Result()
        namespace = (obj.get("metadata") or {}).get("namespace")
        digest = _spec_digest(obj)
        seen = self._handled.get(key)
        handled = seen[1] if seen is not None and seen[0] == digest else None
        now = self.clock.now()
        kids = self.children.store.by_index("cron", key)
        d = core_cron.decide(obj, kids, now=now, handled_through=handled)
        self._count(key, d)
        if d.error is not None:
            _log.warning("cronworkflow %s: %s", key, d.error)
        elif d.skipped is not None:
            _log.info("cronworkflow %s: run of %s skipped (%s)", key, core_cron.rfc3339(d.scheduled_time or 0),
                      d.skipped)
        for name in d.terminate:
            await self._terminate(name, namespace)
        status = d.status
        if d.create is not None:
            status = await self._create(key, d, namespace)
        for name in d.delete:
            await self._delete(name, namespace)
        await self._write(obj, status, d.labels, d.annotations)
        self._handled[key] = (digest, d.handled_through)
        if d.next_run is None:
            return Result()
        return Result(requeue_after=max(0.0, d.next_run - now))

    def _count(self, key: str, d: core_cron.Decision) -> None:
        namespace, _, name = key.partition("/")
        if d.skipped == "forbid":
            self.policy_triggered[(namespace, name, "Forbid")] += 1
        if d.terminate:
            self.policy_triggered[(namespace, name, "Replace")] += 1
        error = str(d.error) if d.error is not None else ""
        if error and self._last_error.get(key) != error:
            self.errors["CronWorkflowSubmissionError" if d.skipped == "when-error" else "CronWorkflowSpecError"] += 1
        self._last_error[key] = error

    async def _create(self, key: str, d: core_cron.Decision, namespace: str | None) -> dict:
        assert d.create is not None
        try:
            wf = await self.api.create(base.WORKFLOWS, d.create, namespace=namespace)
        except AlreadyExists:
            _log.info("cronworkflow %s: %s already exists (a duplicate submission)", key,
                      d.create["metadata"]["name"])
            return core_cron.created(d, None)
        except ApiError as exc:
            _log.warning("cronworkflow %s: failed to submit: %r", key, exc)
            self.errors["CronWorkflowSubmissionError"] += 1
            status = dict(d.status)
            status["conditions"] = core_cron.upsert_condition(
                status.get("conditions") or [], core_cron.SUBMISSION_ERROR, f"Failed to submit Workflow: {exc}")
            return status
        self.created += 1
        self.triggered[(namespace or "", key.partition("/")[2])] += 1
        _log.info("cronworkflow %s: created %s", key, wf["metadata"]["name"])
        return core_cron.created(d, wf)

    async def _terminate(self, name: str, namespace: str | None) -> None:
        # Argo's util.TerminateWorkflow: a merge patch of spec.shutdown (NotFound: already gone)
        try:
            await self.api.patch(base.WORKFLOWS, name, {"spec": {"shutdown": "Terminate"}}, namespace=namespace)
        except NotFound:
            pass

    async def _delete(self, name: str, namespace: str | None) -> None:
        try:
            await self.api.delete(base.WORKFLOWS, name, namespace=namespace)
        except NotFound:
            pass  # deleted meanwhile (a TTL, a user): the goal is reached

    async def _write(self, obj: dict, status: dict, labels: dict[str, str], annotations: dict[str, str]) -> None:
        old = obj.get("status") or {}
        if status == old and not labels and not annotations:
            return
        meta = obj.get("metadata") or {}
        patch_status: dict[str, Any] = {k: None for k in old if k not in status}
        patch_status.update(status)
        patch_meta: dict[str, Any] = {"resourceVersion": meta.get("resourceVersion")}
        if labels:
            patch_meta["labels"] = labels
        if annotations:
            patch_meta["annotations"] = annotations
        try:
            await self.api.patch(base.CRON_WORKFLOWS, meta.get("name"),
                                 {"metadata": patch_meta, "status": patch_status}, namespace=meta.get("namespace"))
        except NotFound:
            pass  # the CronWorkflow was deleted; its children go by owner reference
        except Conflict:
            # our cache is behind: recompute from the fresh object (creates are idempotent by name)
            raise RetryableError("cronworkflow changed while reconciling") from None
