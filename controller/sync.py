"""The lock manager: one `LockTable` for every workflow this controller runs (Argo's syncManager).

The planner asks it through `core.plan.sync.LockService`; everything that needs the cluster is
here: semaphore limits come from ConfigMaps, a release enqueues the workflows whose waiters may
now proceed (no polling), and after a restart the table is rebuilt from the
`status.synchronization` of the cached workflows before any workflow is reconciled, so no lock
is granted twice.

Semaphore ConfigMaps carry no label, so the parameter-ConfigMap informer (label selected, as
Argo's) does not see them. Argo GETs the ConfigMap on every check (its
`semaphoreLimitCacheSeconds` defaults to 0). We read a second, unselected ConfigMap informer's
cache instead: as fresh as the watch, no API call per check, and its update events are what
requeue the waiters when a limit is raised. The cost is caching the watched namespaces'
ConfigMaps (their data only; see the engine's transform).
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from tiphys.core.plan.sync import LockSpecError, read_limit
from tiphys.core.plan.sync_table import Grant, LockRef, LockTable

__all__ = ["LockManager", "ref_of_key"]

_log = logging.getLogger("tiphys.sync")
COMPLETED_LABEL = "workflows.argoproj.io/completed"


def ref_of_key(key: str, /) -> LockRef | None:
    """A LockRef from a lock key as status.synchronization records it (None: not ours to read)."""
    parts = key.split("/")
    if len(parts) == 3 and parts[1] == "Mutex":
        return LockRef(key=key, kind="Mutex", namespace=parts[0], name=parts[2])
    if len(parts) == 4 and parts[1] == "ConfigMap":
        return LockRef(key=key, kind="Semaphore", namespace=parts[0], configmap=parts[2], configmap_key=parts[3])
    return None


class LockManager:
    def __init__(self, *, read_configmap: Callable[[str, str], dict | None],
                 enqueue: Callable[[str], None]) -> None:
        self.table = LockTable()
        self.read_configmap = read_configmap  # (namespace, name) -> data | None
        self.enqueue = enqueue  # a workflow key

    # -- LockService ---------------------------------------------------------------------------

    def _limit(self, ref: LockRef) -> int:
        return read_limit(ref, None if ref.kind == "Mutex" else self.read_configmap(ref.namespace, ref.configmap))

    def acquire(self, holder: str, refs: tuple[LockRef, ...], /, *, priority: int, created: str) -> Grant:
        try:
            limited = [(ref, self._limit(ref)) for ref in refs]
        except LockSpecError as exc:
            return Grant(acquired=False, error=str(exc))
        return self.table.acquire(holder, limited, priority=priority, created=created)

    def release(self, holder: str, /) -> None:
        self._wake(self.table.release(holder))

    def release_workflow(self, workflow: str, /) -> None:
        self._wake(self.table.release_workflow(workflow))

    def holders_of(self, workflow: str, /) -> list[str]:
        return self.table.holders_of(workflow)

    def status_of(self, workflow: str, /) -> dict | None:
        return self.table.status_of(workflow)

    def _wake(self, workflows: Iterable[str]) -> None:
        for key in workflows:
            self.enqueue(key)

    # -- cluster events ------------------------------------------------------------------------

    def configmap_changed(self, namespace: str, name: str, /) -> None:
        """A semaphore's ConfigMap changed: take its new limits; waiters that now fit are enqueued."""
        prefix = f"{namespace}/ConfigMap/{name}/"
        for key in [k for k in self.table.locks if k.startswith(prefix)]:
            ref = ref_of_key(key)
            try:
                limit = self._limit(ref) if ref is not None else None
            except LockSpecError as exc:
                _log.warning("semaphore %s: %s", key, exc)
                continue
            if limit is not None:
                self._wake(self.table.set_limit(key, limit))

    def rebuild(self, workflows: Iterable[dict], /) -> int:
        """Holdings from the status.synchronization of unfinished workflows (Argo's Initialize).

        Runs once the informers are synced and before any worker starts; returns the holdings restored.
        """
        restored = 0
        for wf in workflows:
            meta = wf.get("metadata") or {}
            if (meta.get("labels") or {}).get(COMPLETED_LABEL) == "true":
                continue
            ns, name = meta.get("namespace", ""), meta.get("name", "")
            pairs = _holdings(wf.get("status"))
            if pairs is None:  # a status edited by hand must not stop the controller from starting
                _log.warning("workflow %s/%s: unreadable status.synchronization", ns, name)
                continue
            for key, holder in pairs:
                ref = ref_of_key(key)
                if ref is None or not holder:
                    _log.warning("workflow %s/%s: unreadable synchronization holding %r", ns, name, key)
                    continue
                try:
                    limit = self._limit(ref)
                except LockSpecError:
                    limit = 0  # held before; nobody new gets it until the ConfigMap is readable again
                holder_key = f"{ns}/{name}" if holder == name else f"{ns}/{name}/{holder}"
                self.table.hold(holder_key, ref, limit)
                restored += 1
        return restored


def _holdings(status: object, /) -> list[tuple[str, str]] | None:
    """(lock key, holder) pairs of a status.synchronization; None when it is not shaped as Argo writes it."""
    if not isinstance(status, dict):
        return []
    sync = status.get("synchronization") or {}
    if not isinstance(sync, dict):
        return None
    pairs: list[tuple[str, str]] = []
    for kind, field in (("semaphore", "holders"), ("mutex", "holder")):
        part = sync.get(kind) or {}
        holding = (part.get("holding") or []) if isinstance(part, dict) else None
        if not isinstance(holding, list):
            return None
        for h in holding:
            if not isinstance(h, dict):
                return None
            key, who = h.get(kind), h.get(field)
            holders = who if kind == "semaphore" else [who]
            if not isinstance(key, str) or not isinstance(holders, list) or not all(
                    isinstance(x, str) for x in holders):
                return None
            pairs.extend((key, holder) for holder in holders)
    return pairs
