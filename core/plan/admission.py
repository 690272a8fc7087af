"""Controller-wide workflow admission: Argo's throttler as plain data.

Argo's controller ConfigMap caps how many workflows run at once: `parallelism` over the whole
controller, `namespaceParallelism` per namespace, and a namespace labelled
`workflows.argoproj.io/parallelism-limit: "<n>"` overrides the latter for itself (reference
§5.13; Argo's `workflow/sync/multi_throttler.go`). 0 means no limit. A workflow is *admitted*
once and holds its slot until it completes or is deleted; lowering a limit stops nothing that
runs, it only stops admitting.

Waiters are kept per namespace, each queue sorted by higher `spec.priority` first, then older
`creationTimestamp`. When a slot may have freed (a workflow left, a limit changed, a new waiter
came), `_fill` admits the best head among the namespaces that still have room, until the
controller-wide limit is reached: Argo's `queueThrottled`, which admits one per call and chains
through the reconcile of the admitted key; admitting every waiter that fits at once reaches the
same order in fewer rounds. Argo breaks ties of priority and creation second by its heap's
order (unspecified); here the key (`namespace/name`) breaks them, so the order is stable.

Every method that can admit returns the keys it just admitted, so the shell enqueues exactly
those (no polling). `restore` counts the workflows that were already running before a restart,
unconditionally, before anything new is admitted.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from datetime import datetime
from typing import Iterable

import msgspec

__all__ = ["AdmissionTable", "Candidate", "AdmissionError", "candidate_of", "POSTPONED_MESSAGE", "LIMIT_LABEL"]

POSTPONED_MESSAGE = "Workflow processing has been postponed because too many workflows are already running"
LIMIT_LABEL = "workflows.argoproj.io/parallelism-limit"  # on a Namespace: its own limit


class AdmissionError(ValueError):
    """A limit or key the table cannot use; the message names which."""


class Candidate(msgspec.Struct, frozen=True):
    """A workflow asking to run: its key and what orders it among the waiters."""

    key: str  # namespace/name
    priority: int = 0
    created: float = 0.0  # metadata.creationTimestamp, epoch seconds

    @property
    def namespace(self) -> str:
        return self.key.partition("/")[0]


def _epoch(text: object) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0  # the API server always sets it; a hand-made object without one queues first


def candidate_of(wf: dict, /) -> Candidate:
    """A Workflow object as a Candidate (Argo's `getWfPriority`).

    Like Argo, a `spec.priority` that is not an integer counts as 0 here; the spec check that
    runs once the workflow is admitted fails it with the reason.
    """
    meta = wf.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    if not name:
        raise AdmissionError("workflow without metadata.name")
    priority = (wf.get("spec") or {}).get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        priority = 0
    return Candidate(f"{namespace}/{name}", priority, _epoch(meta.get("creationTimestamp")))


def _check(limit: int, what: str) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise AdmissionError(f"{what} must be a non-negative integer (0: no limit), got {limit!r}")
    return limit


_Rank = tuple[int, float, str]


def _rank(c: Candidate) -> _Rank:
    return (-c.priority, c.created, c.key)


class AdmissionTable:
    """Which workflows run (admitted) and which wait, under the current limits."""

    def __init__(self, *, parallelism: int = 0, namespace_parallelism: int = 0) -> None:
        self.parallelism = _check(parallelism, "parallelism")
        self.namespace_parallelism = _check(namespace_parallelism, "namespaceParallelism")
        self.overrides: dict[str, int] = {}  # namespace -> its label's limit
        self.running: dict[str, str] = {}  # admitted key -> namespace
        self.counts: dict[str, int] = {}  # namespace -> admitted keys in it
        # namespace -> waiters sorted by rank; every key here is in `ranks` and not in `running`
        self.queues: dict[str, list[tuple[_Rank, str]]] = {}
        self.ranks: dict[str, _Rank] = {}

    # -- questions -----------------------------------------------------------------------------

    def is_admitted(self, key: str, /) -> bool:
        return key in self.running

    def is_waiting(self, key: str, /) -> bool:
        return key in self.ranks

    def limit_of(self, namespace: str, /) -> int:
        """The namespace's limit: its label's value, else namespaceParallelism (0: none)."""
        return self.overrides.get(namespace, self.namespace_parallelism)

    def waiting(self) -> list[str]:
        """Every waiter, in the order it would be admitted if nothing else limited it."""
        return [key for _, key in sorted((r, k) for q in self.queues.values() for r, k in q)]

    # -- changes -------------------------------------------------------------------------------

    def offer(self, candidate: Candidate, /) -> list[str]:
        """`candidate` asks to run (again): queue or re-rank it; returns the keys admitted now."""
        key = candidate.key
        if key in self.running:
            return []
        rank = _rank(candidate)
        if self.ranks.get(key) != rank:
            self._dequeue(key)
            self.ranks[key] = rank
            insort(self.queues.setdefault(candidate.namespace, []), (rank, key))
        return self._fill()

    def withdraw(self, key: str, /) -> list[str]:
        """`key` completed or is gone: free its slot or leave the queue; returns the keys admitted now."""
        namespace = self.running.pop(key, None)
        if namespace is not None:
            left = self.counts[namespace] - 1
            if left:
                self.counts[namespace] = left
            else:
                del self.counts[namespace]
            return self._fill()
        self._dequeue(key)
        return []

    def set_limits(self, *, parallelism: int, namespace_parallelism: int) -> list[str]:
        """The ConfigMap's limits changed (hot): returns the waiters admitted now."""
        self.parallelism = _check(parallelism, "parallelism")
        self.namespace_parallelism = _check(namespace_parallelism, "namespaceParallelism")
        return self._fill()

    def set_namespace_limit(self, namespace: str, limit: int | None, /) -> list[str]:
        """A namespace's label set (`limit`) or removed (None: back to namespaceParallelism)."""
        if limit is None:
            self.overrides.pop(namespace, None)
        else:
            self.overrides[namespace] = _check(limit, f"namespace {namespace!r} {LIMIT_LABEL}")
        return self._fill()

    def restore(self, keys: Iterable[str], /) -> int:
        """Count workflows that were running before a restart as admitted, whatever the limits."""
        restored = 0
        for key in keys:
            if key in self.running:
                continue
            namespace, sep, _ = key.partition("/")
            if not sep:
                raise AdmissionError(f"not a namespace/name key: {key!r}")
            self._dequeue(key)
            self.running[key] = namespace
            self.counts[namespace] = self.counts.get(namespace, 0) + 1
            restored += 1
        return restored

    # -- inside --------------------------------------------------------------------------------

    def _dequeue(self, key: str) -> None:
        rank = self.ranks.pop(key, None)
        if rank is None:
            return
        namespace = key.partition("/")[0]
        queue = self.queues[namespace]
        del queue[bisect_left(queue, (rank, key))]
        if not queue:
            del self.queues[namespace]

    def _has_room(self, namespace: str) -> bool:
        limit = self.limit_of(namespace)
        return limit == 0 or self.counts.get(namespace, 0) < limit

    def _fill(self) -> list[str]:
        admitted: list[str] = []
        while self.queues and (self.parallelism == 0 or len(self.running) < self.parallelism):
            best: tuple[_Rank, str] | None = None
            for namespace, queue in self.queues.items():  # O(namespaces waiting) per admission
                if (best is None or queue[0] < best) and self._has_room(namespace):
                    best = queue[0]
            if best is None:
                break  # every waiter's namespace is full
            key = best[1]
            self._dequeue(key)
            namespace = key.partition("/")[0]
            self.running[key] = namespace
            self.counts[namespace] = self.counts.get(namespace, 0) + 1
            admitted.append(key)
        return admitted
