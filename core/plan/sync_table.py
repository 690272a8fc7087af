"""The lock table: Argo's mutexes and semaphores as plain data, shared by every workflow.

Argo's sync manager (`workflow/sync/`) keeps, per lock key, the holders and a priority queue of
waiters. A holder is `<ns>/<wf>` (workflow-level lock) or `<ns>/<wf>/<nodeID>` (template-level);
a lock is `<ns>/Mutex/<name>` (limit 1) or `<ns>/ConfigMap/<cm>/<key>` (limit read from the
ConfigMap). `acquire` puts the holder in the queue of every lock it asks for, and grants all of
them at once or none: a holder gets a lock when it already holds it, or when a slot is free and
it is among the first waiters (priority high to low, then older workflow first, then first
asked). Releasing a lock (or raising a limit) names the workflows whose waiters may now
proceed, so the controller enqueues exactly those: no polling.

Argo lets only the single front waiter through per check and enqueues the next one after each
acquisition; letting the first `free` waiters through reaches the same order in fewer rounds.

Nothing here reads a ConfigMap or knows a clock: limits are handed in by the caller.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from typing import Iterable

import msgspec

__all__ = ["LockTable", "Grant", "LockRef", "workflow_of", "waiting_message"]


class LockRef(msgspec.Struct, frozen=True, kw_only=True):
    """One lock a workflow or template asks for."""

    key: str  # <ns>/Mutex/<name> | <ns>/ConfigMap/<cm>/<key>
    kind: str  # "Mutex" | "Semaphore"
    namespace: str
    name: str = ""  # mutex name
    configmap: str = ""  # semaphore ConfigMap
    configmap_key: str = ""


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to an acquire: all locks held, or the first one that is not (and why)."""

    acquired: bool
    lock: str = ""  # the lock waited for
    message: str = ""  # Argo's "Waiting for <lock> lock. Lock status: <free>/<limit>"
    error: str = ""  # the lock cannot be used at all (bad limit, ConfigMap missing)
    changed: bool = False  # holdings changed (a status write should record them promptly)


def workflow_of(holder: str, /) -> str:
    """The workflow key `<ns>/<wf>` of a holder key."""
    parts = holder.split("/", 2)
    return "/".join(parts[:2])


def waiting_message(lock: str, free: int, limit: int, /) -> str:
    return f"Waiting for {lock} lock. Lock status: {free}/{limit}"


class _Lock:
    __slots__ = ("key", "kind", "limit", "holders", "pending", "order")

    def __init__(self, key: str, kind: str, limit: int) -> None:
        self.key, self.kind, self.limit = key, kind, limit
        self.holders: dict[str, None] = {}  # insertion-ordered: the status lists them as acquired
        self.pending: dict[str, tuple[int, str, int]] = {}  # holder -> (-priority, created, seq)
        # the queue, kept sorted: a 50,000-node fan-out waiting on one mutex asks in order, so
        # insort appends; checking the front costs O(free), never a sort
        self.order: list[tuple[tuple[int, str, int], str]] = []

    def enqueue(self, holder: str, rank: tuple[int, str, int]) -> None:
        self.pending[holder] = rank
        insort(self.order, (rank, holder))

    def dequeue(self, holder: str) -> None:
        rank = self.pending.pop(holder, None)
        if rank is not None:
            i = bisect_left(self.order, (rank, holder))
            del self.order[i]

    def free(self) -> int:
        return self.limit - len(self.holders)

    def may_take(self, holder: str) -> bool:
        if holder in self.holders:
            return True
        free = self.free()
        return free > 0 and any(h == holder for _, h in self.order[:free])

    def next_up(self) -> list[str]:
        free = self.free()
        return [h for _, h in self.order[:free]] if free > 0 else []


class LockTable:
    def __init__(self) -> None:
        self.locks: dict[str, _Lock] = {}
        self._seq = 0

    def _lock(self, ref: LockRef, limit: int) -> _Lock:
        lock = self.locks.get(ref.key)
        if lock is None:
            lock = self.locks[ref.key] = _Lock(ref.key, ref.kind, limit)
        else:
            lock.limit = limit  # semaphores: the ConfigMap's current value wins
        return lock

    def acquire(self, holder: str, refs: Iterable[tuple[LockRef, int]], /, *, priority: int = 0,
                created: str = "") -> Grant:
        """Try to take every lock (ref, limit) for `holder`; all or nothing."""
        locks = [self._lock(ref, limit) for ref, limit in refs]
        if all(holder in lock.holders for lock in locks):
            return Grant(acquired=True)
        for lock in locks:
            if holder not in lock.holders and holder not in lock.pending:
                self._seq += 1
                lock.enqueue(holder, (-priority, created, self._seq))
        for lock in locks:
            if not lock.may_take(holder):
                return Grant(acquired=False, lock=lock.key,
                             message=waiting_message(lock.key, lock.free(), lock.limit))
        for lock in locks:
            lock.dequeue(holder)
            lock.holders[holder] = None
        return Grant(acquired=True, changed=True)

    def set_limit(self, key: str, limit: int, /) -> list[str]:
        """A semaphore's limit changed: the workflows whose waiters may take a freed slot now."""
        lock = self.locks.get(key)
        if lock is None or lock.limit == limit:
            return []
        lock.limit = limit
        return _workflows(lock.next_up())

    def hold(self, holder: str, ref: LockRef, limit: int, /) -> None:
        """Record a holding as it was before a restart (status.synchronization), unconditionally."""
        lock = self._lock(ref, limit)
        lock.dequeue(holder)
        lock.holders[holder] = None

    def release(self, holder: str, /) -> list[str]:
        """Drop `holder` from every lock and queue; the workflows that may proceed now."""
        wake: list[str] = []
        for lock in self.locks.values():
            lock.dequeue(holder)
            if holder in lock.holders:
                del lock.holders[holder]
                wake.extend(lock.next_up())
        return _workflows(wake)

    def release_workflow(self, workflow: str, /) -> list[str]:
        """Everything a workflow holds or waits for (completion, deletion)."""
        wake: list[str] = []
        prefix = workflow + "/"
        for lock in self.locks.values():
            for h in [h for h in lock.pending if h == workflow or h.startswith(prefix)]:
                lock.dequeue(h)
            mine = [h for h in lock.holders if h == workflow or h.startswith(prefix)]
            for h in mine:
                del lock.holders[h]
            if mine:
                wake.extend(lock.next_up())
        return [w for w in _workflows(wake) if w != workflow]

    def holders_of(self, workflow: str, /) -> list[str]:
        prefix = workflow + "/"
        return [h for lock in self.locks.values() for h in lock.holders if h == workflow or h.startswith(prefix)]

    def status_of(self, workflow: str, /) -> dict | None:
        """`status.synchronization` as Argo writes it for one workflow (None when it has no lock).

        Holding entries name the holder by the last part of its key (the workflow name or the
        node ID, as Argo's `LockAcquired`); waiting entries name the lock's current holders by
        their full keys (Argo's `LockWaiting`).
        """
        prefix = workflow + "/"
        mutex: dict[str, list] = {"holding": [], "waiting": []}
        sem: dict[str, list] = {"holding": [], "waiting": []}
        for lock in self.locks.values():
            mine = [h.rsplit("/", 1)[-1] for h in lock.holders if h == workflow or h.startswith(prefix)]
            waits = any(h == workflow or h.startswith(prefix) for h in lock.pending)
            current = list(lock.holders)
            if lock.kind == "Mutex":
                mutex["holding"].extend({"mutex": lock.key, "holder": h} for h in mine)
                if waits and current:
                    mutex["waiting"].append({"mutex": lock.key, "holder": current[0]})
            else:
                if mine:
                    sem["holding"].append({"semaphore": lock.key, "holders": mine})
                if waits:
                    sem["waiting"].append({"semaphore": lock.key, "holders": current})
        out = {}
        for name, part in (("mutex", mutex), ("semaphore", sem)):
            part = {k: v for k, v in part.items() if v}
            if part:
                out[name] = part
        return out or None


def _workflows(holders: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(workflow_of(h) for h in holders))
