"""The workflow throttler: controller-wide `parallelism` and `namespaceParallelism`, as Argo's.

The decision is `core.plan.admission.AdmissionTable`'s; this module is the shell around it.
The reconciler asks `admit(wf)` before it adopts a workflow it does not run yet (reference §5.2
step 3). A workflow that is not admitted is left alone; if it has never been reconciled
(`status.phase` empty) it is first written Pending with Argo's message
`Workflow processing has been postponed because too many workflows are already running`
(`postpone`). Once admitted, a workflow keeps its slot until the reconciler reports it finished
or deleted (`remove`); whatever is admitted then — by a freed slot, a raised limit in the
controller ConfigMap (`configure`, hot) or a namespace's limit label (`NamespaceLimits`) — is
put on the work queue at once: nothing polls.

A workflow being terminated (`spec.shutdown: Terminate`) bypasses the throttler (reference
§5.2 step 3) so it can end at once; it takes no slot. `Stop` keeps waiting, as with locks.

After a restart, `rebuild` counts the workflows the informer cache shows Running as admitted
before any worker reconciles (Argo's `Init` takes exactly the phase Running): no limit is
exceeded because the new leader forgot what the old one started. A workflow that was admitted
but still Pending (waiting for a lock or a PVC) queues again, as in Argo.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import ApiError, Conflict, Forbidden, NotFound, Unauthorized
from tiphys.controller.clock import Clock
from tiphys.controller.informer import FuncHandler, Informer, strip_managed_fields
from tiphys.core.plan.admission import LIMIT_LABEL, POSTPONED_MESSAGE, AdmissionTable, candidate_of

__all__ = ["Throttler", "NamespaceLimits", "postpone", "without_postponed_message", "POSTPONED_MESSAGE"]

_log = logging.getLogger("tiphys.throttle")
PHASE_LABEL = "workflows.argoproj.io/phase"
COMPLETED_LABEL = "workflows.argoproj.io/completed"


class Throttler:
    """Admission of whole workflows; `enqueue(key)` puts an admitted waiter on the work queue."""

    def __init__(self, *, enqueue: Callable[[str], None], parallelism: int = 0,
                 namespace_parallelism: int = 0) -> None:
        self.table = AdmissionTable(parallelism=parallelism, namespace_parallelism=namespace_parallelism)
        self.enqueue = enqueue

    def admit(self, wf: dict, /) -> bool:
        """May the reconciler start (or go on with) this workflow now?"""
        candidate = candidate_of(wf)
        if self.table.is_admitted(candidate.key):
            return True
        if (wf.get("spec") or {}).get("shutdown") == "Terminate":
            self.table.withdraw(candidate.key)  # out of the queue; it ends without a slot
            return True
        admitted = self.table.offer(candidate)
        self._wake(k for k in admitted if k != candidate.key)  # the caller goes on with its own
        return candidate.key in admitted

    def remove(self, key: str, /) -> None:
        """The workflow completed or was deleted: its slot goes to the next waiter."""
        self._wake(self.table.withdraw(key))

    def configure(self, *, parallelism: int, namespace_parallelism: int) -> None:
        """New limits from the controller ConfigMap; waiters that fit now are enqueued."""
        if (parallelism, namespace_parallelism) != (self.table.parallelism, self.table.namespace_parallelism):
            _log.info("workflow parallelism limits changed", extra={
                "parallelism": parallelism, "namespaceParallelism": namespace_parallelism})
        self._wake(self.table.set_limits(parallelism=parallelism, namespace_parallelism=namespace_parallelism))

    def set_namespace_limit(self, namespace: str, limit: int | None, /) -> None:
        self._wake(self.table.set_namespace_limit(namespace, limit))

    def rebuild(self, workflows: Iterable[dict], /) -> int:
        """Count the cached workflows in phase Running (not completed) as admitted; returns how many."""
        keys = []
        for wf in workflows:
            meta = wf.get("metadata") or {}
            if (meta.get("labels") or {}).get(COMPLETED_LABEL) == "true":
                continue
            if (wf.get("status") or {}).get("phase") == "Running":
                keys.append(base.object_key(wf))
        return self.table.restore(keys)

    def _wake(self, keys: Iterable[str]) -> None:
        for key in keys:
            _log.info("workflow admitted", extra={"workflow": key})
            self.enqueue(key)


def without_postponed_message(wf: dict, /) -> dict:
    """`wf` with the postponed message dropped from its status: an admitted workflow starts
    clean, as Argo's markWorkflowRunning replaces the message."""
    status = wf.get("status")
    if not isinstance(status, dict) or status.get("message") != POSTPONED_MESSAGE:
        return wf
    return {**wf, "status": {k: v for k, v in status.items() if k != "message"}}


async def postpone(api: base.Api, wf: dict, /) -> None:
    """Mark a never-reconciled, not admitted workflow Pending with Argo's message (once).

    A workflow with a phase is left as it is (Argo writes only when the phase is empty). A
    conflict or a vanished workflow is not an error: the newer version's event reconciles it again.
    """
    status = wf.get("status") or {}
    if status.get("phase"):
        return
    meta = dict(wf.get("metadata") or {})
    labels = {**(meta.get("labels") or {}), PHASE_LABEL: "Pending"}
    labels.setdefault(COMPLETED_LABEL, "false")
    body = {**wf, "metadata": {**meta, "labels": labels},
            "status": {**status, "phase": "Pending", "message": POSTPONED_MESSAGE}}
    try:
        await api.update(base.WORKFLOWS, body, namespace=meta.get("namespace"))
    except (Conflict, NotFound):
        pass


def _limit_of(namespace: dict) -> tuple[str, int | None, str | None]:
    """(name, limit or None when unlabelled, error) of a Namespace object."""
    meta = namespace.get("metadata") or {}
    name = meta.get("name") or ""
    text = (meta.get("labels") or {}).get(LIMIT_LABEL)
    if text is None:
        return name, None, None
    try:
        limit = int(text)
    except (TypeError, ValueError):
        return name, None, f"label {LIMIT_LABEL}={text!r} is not an integer"
    if limit < 0:
        # Argo takes a negative value and then admits nothing there; we keep the previous limit
        return name, None, f"label {LIMIT_LABEL}={text!r} is negative"
    return name, limit, None


class NamespaceLimits:
    """Follows Namespaces labelled `workflows.argoproj.io/parallelism-limit` into the throttler.

    Argo's controller has a Namespace informer for this (cluster RBAC `namespaces: get, list,
    watch`). Without that permission the label limits are not read: `start` logs it once and
    returns False, and the ConfigMap's limits still hold.
    """

    def __init__(self, api: base.Api, throttler: Throttler, /, *, clock: Clock) -> None:
        self.api, self.throttler = api, throttler
        self.informer: Informer[dict] = Informer(api, base.NAMESPACES, clock=clock, label_selector=LIMIT_LABEL,
                                                 transform=strip_managed_fields)
        self.informer.add_handler(FuncHandler(add=self._changed, update=lambda old, new: self._changed(new),
                                              delete=self._deleted))
        self._task: asyncio.Task[Any] | None = None

    def _changed(self, namespace: dict) -> None:
        name, limit, error = _limit_of(namespace)
        if error is not None:
            _log.error("namespace %s: %s; keeping its previous limit", name, error, extra={"namespace": name})
            return
        self.throttler.set_namespace_limit(name, limit)

    def _deleted(self, namespace: dict, final_state_unknown: bool) -> None:
        self.throttler.set_namespace_limit((namespace.get("metadata") or {}).get("name") or "", None)

    async def start(self) -> bool:
        """Follow the labelled Namespaces and wait for the first list; False when not permitted."""
        if self._task is not None:
            await self.informer.wait_synced()
            return True
        try:  # one probe: a forbidden list would otherwise keep the informer from ever syncing
            await self.api.list(base.NAMESPACES, label_selector=LIMIT_LABEL, resource_version="0")
        except (Forbidden, Unauthorized) as exc:
            _log.warning("cannot list Namespaces (%s): per-namespace %s labels are not applied; grant "
                         "namespaces get/list/watch to use them", exc, LIMIT_LABEL)
            return False
        except ApiError as exc:
            _log.warning("listing Namespaces failed (%s); following them anyway", exc)
        self._task = asyncio.ensure_future(self.informer.run())
        await self.informer.wait_synced()
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
