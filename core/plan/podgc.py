"""Pod garbage collection: `spec.podGC` (argo-semantics §5.14, Argo `pod/cleanup.go`).

Which pod goes is Argo's `determinePodCleanupAction`, first match wins: a pod outside
`labelSelector` stays; `OnWorkflowCompletion` deletes once the workflow completed,
`OnWorkflowSuccess` once it succeeded; `OnPodCompletion` deletes the pod of any fulfilled node,
`OnPodSuccess` only a Succeeded pod. Deletes wait `deleteDelayDuration` (else the ConfigMap's
`podGCDeleteDelayDuration`, 5 s) and use `podGCGracePeriodSeconds`.

A pod is never deleted before the status that records its node's outcome is persisted: the
engine reads node state from pods, and a controller restarted between the delete and the write
would find a Running node without its pod (`pod deleted`). So while the workflow runs, a
decision waits in `PodGCQueue.unpersisted` until the reconciler reports a status write, then
becomes due `delay` later. After completion nothing in memory is needed: `completed.py` derives
the remaining deletes from the stored workflow and the pods that still exist.

Not done (a choice): Argo labels every pod it does not delete `workflows.argoproj.io/completed=true`,
one write per pod; tiphys' pod informer does not filter on that label, so it skips the writes.
"""
from __future__ import annotations

import heapq
from typing import Any

import msgspec

from tiphys.core.plan.actions import DeletePod
from tiphys.core.plan.meta import PodSettings
from tiphys.core.plan.timeouts import DurationError, parse_duration

__all__ = ["PodGCPolicy", "PodGCQueue", "policy_of", "should_delete", "selector_matches", "RETRY_AFTER"]

_COMPLETED = frozenset({"Succeeded", "Failed", "Error"})
RETRY_AFTER = 5.0  # seconds before a delete that failed is tried again


class PodGCPolicy(msgspec.Struct, frozen=True, kw_only=True):
    strategy: str
    selector: dict | None = None  # a LabelSelector; None selects every pod
    delay: float = 5.0
    grace_period_seconds: int | None = None

    @property
    def per_pod(self) -> bool:
        """Whether pods go while the workflow still runs."""
        return self.strategy in ("OnPodCompletion", "OnPodSuccess")


def policy_of(spec: dict, settings: PodSettings, /) -> PodGCPolicy | None:
    """The workflow's pod GC policy; None when pods are never deleted."""
    pod_gc = spec.get("podGC")
    if not isinstance(pod_gc, dict):
        return None
    selector = pod_gc.get("labelSelector")
    # Argo `PodGC.GetStrategy`: a label selector without a strategy means OnPodCompletion
    strategy = pod_gc.get("strategy") or ("OnPodCompletion" if selector is not None else "")
    if not strategy:
        return None
    delay = _seconds(pod_gc.get("deleteDelayDuration"))
    if delay is None:  # absent or unreadable: Argo logs and uses the ConfigMap's value
        delay = _seconds(settings.pod_gc_delete_delay)
    return PodGCPolicy(strategy=strategy, selector=selector if isinstance(selector, dict) else None,
                       delay=5.0 if delay is None else max(0.0, delay),
                       grace_period_seconds=settings.pod_gc_grace_period_seconds)


def _seconds(text: Any) -> float | None:
    if text is None or text == "":
        return None
    try:
        return parse_duration(str(text))
    except DurationError:
        return None


def should_delete(policy: PodGCPolicy, labels: dict, pod_phase: str, workflow_phase: str, /) -> bool:
    """Argo's `determinePodCleanupAction` for the pod of a fulfilled node: delete, or leave it."""
    if policy.selector is not None and not selector_matches(policy.selector, labels):
        return False
    strategy = policy.strategy
    if strategy == "OnWorkflowCompletion":
        return workflow_phase in _COMPLETED
    if strategy == "OnWorkflowSuccess":
        return workflow_phase == "Succeeded"
    if strategy == "OnPodCompletion":
        return True
    if strategy == "OnPodSuccess":
        return pod_phase == "Succeeded"
    return False


def selector_matches(selector: dict, labels: dict, /) -> bool:
    """A Kubernetes LabelSelector (`matchLabels`, `matchExpressions`); `{}` matches everything.

    An expression with an unknown operator matches nothing (Argo ignores the parse error and
    its selector then selects no pod, so the pod is kept)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") or ()
        present = key in labels
        if op == "In":
            ok = present and labels[key] in values
        elif op == "NotIn":
            ok = not present or labels[key] not in values
        elif op == "Exists":
            ok = present
        elif op == "DoesNotExist":
            ok = not present
        else:
            ok = False
        if not ok:
            return False
    return True


class PodGCQueue:
    """Per-pod deletes of a running workflow (OnPodCompletion / OnPodSuccess)."""

    __slots__ = ("policy", "decided", "unpersisted", "heap")

    def __init__(self, policy: PodGCPolicy) -> None:
        self.policy = policy
        self.decided: set[str] = set()  # pod names whose fate is settled (queued, deleted or kept)
        self.unpersisted: dict[str, str] = {}  # pod name -> uid: due once the status is written
        self.heap: list[tuple[float, str, str]] = []  # (due, pod name, uid)

    def consider(self, ex: Any, node_id: str) -> None:
        """Decide the pod of `node_id`, a node that may just have been fulfilled."""
        pod = ex.pod_of_node.get(node_id)
        if pod is None or pod[0] in self.decided or not ex.fulfilled(node_id):
            return
        name, uid, phase, labels = pod
        self.decided.add(name)
        if should_delete(self.policy, labels, phase, ex.workflow.phase):
            self.unpersisted[name] = uid

    def persisted(self, now: float, /) -> None:
        """The status was written: every decision so far may be carried out after the delay."""
        due = now + self.policy.delay
        for name, uid in self.unpersisted.items():
            heapq.heappush(self.heap, (due, name, uid))
        self.unpersisted.clear()

    def due(self, now: float, /) -> tuple[list[DeletePod], float | None]:
        """The deletes due at `now`, and when the next one is."""
        out: list[DeletePod] = []
        while self.heap and self.heap[0][0] <= now:
            _, name, uid = heapq.heappop(self.heap)
            out.append(DeletePod(name, uid=uid, grace_period_seconds=self.policy.grace_period_seconds))
        return out, (self.heap[0][0] if self.heap else None)

    def failed(self, deletes: list[DeletePod], now: float, /) -> None:
        """Deletes the API refused (not NotFound): try again later."""
        for d in deletes:
            heapq.heappush(self.heap, (now + RETRY_AFTER, d.name, d.uid))
