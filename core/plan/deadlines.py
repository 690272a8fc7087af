"""Template `timeout` and the pod deadline (argo-semantics §5.10).

A leaf template's `timeout` is a deadline counted from its node's `startedAt` (for a retried
template, from the Retry node's: one budget for every attempt, as Argo passes the same
deadline to each attempt's pod). The deadline reaches the pod twice: as `ARGO_DEADLINE` and as
`activeDeadlineSeconds` (the earlier of it and the workflow deadline, which exit-handler pods
ignore), so the kubelet kills a pod that runs too long. What the kubelet cannot see is a pod that
never starts: a node still Pending past its deadline is failed here with Argo's `ErrTimeout`
text and its pod deleted by UID. `pendingTimeout` (v4.1) bounds only the time in Pending, from
the node's own start, and is checked the same way (Argo runs both in one check; its message for
it is not in our reference, so tiphys uses the same `timeout` text).

The Pending nodes that carry a deadline sit in a heap (`Execution.timeouts`), so a plan looks
at the earliest deadline only; entries of nodes that started meanwhile drop out when they come
due. Argo's step group additionally marks itself Failed `child '<id>' timedout` at once; tiphys
fails the node and lets its group assess it like any failed child (so `continueOn` applies).
"""
from __future__ import annotations

import heapq
from datetime import datetime, timezone

from tiphys.core.plan.actions import DeletePod
from tiphys.core.plan.execution import Execution
from tiphys.core.plan.scope import parse_time
from tiphys.core.plan.timeouts import DurationError, parse_duration

__all__ = ["TIMEOUT_MESSAGE", "TimeoutFormatError", "template_deadline", "pending_deadline", "pod_deadline",
           "watch_pending", "expire_pending"]

TIMEOUT_MESSAGE = "timeout"  # Argo's ErrTimeout (errors.New(CodeTimeout, "timeout"))


class TimeoutFormatError(ValueError):
    """A template's `timeout` is not a duration; the text is Argo's `invalid timeout format. ...`."""

    def __init__(self, text: object, reason: str) -> None:
        super().__init__(f"invalid timeout format. {reason}")
        self.text = text


def template_deadline(ex: Execution, node_name: str, template: dict, /, *, retry_attempt: bool = False) -> float | None:
    """Epoch seconds of the template `timeout` deadline of node `node_name`, or None without one."""
    anchor = node_name
    if retry_attempt and node_name.endswith(")") and "(" in node_name:
        anchor = node_name[:node_name.rindex("(")]  # `X(k)` -> the Retry node `X`
    return _deadline(ex, template.get("timeout"), anchor, node_name)


def pending_deadline(ex: Execution, node_name: str, template: dict, /) -> float | None:
    """Epoch seconds until which node `node_name` may stay Pending (`pendingTimeout`), or None."""
    return _deadline(ex, template.get("pendingTimeout"), node_name, node_name)


def _deadline(ex: Execution, text: object, anchor: str, node_name: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        seconds = parse_duration(str(text))
    except DurationError as exc:
        raise TimeoutFormatError(text, str(exc)) from None
    node = ex.nodes.get(ex.node_id(anchor)) or ex.nodes.get(ex.node_id(node_name))
    started = node.started_at if node is not None and node.started_at else ex.now
    return int(parse_time(started).timestamp()) + seconds


def pod_deadline(ex: Execution, template_at: float | None, /, *, on_exit: bool) -> str | None:
    """RFC3339 of the earliest deadline a pod gets: the workflow's (not for exit handlers) and the template's."""
    candidates = [] if on_exit or not ex.deadline_text else [parse_time(ex.deadline_text).timestamp()]
    if template_at is not None:
        candidates.append(template_at)
    if not candidates:
        return None
    return datetime.fromtimestamp(int(min(candidates)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def watch_pending(ex: Execution, node_id: str, at: float, /) -> None:
    """Fail `node_id` at `at` should it still be Pending then."""
    heapq.heappush(ex.timeouts, (at, node_id))
    ex.requeue(at)


def expire_pending(ex: Execution, now: float, /) -> None:
    """Fail every watched node that is still Pending past its deadline; requeue at the next one."""
    heap = ex.timeouts
    while heap and heap[0][0] <= now:
        _, node_id = heapq.heappop(heap)
        node = ex.nodes.get(node_id)
        if node is None or node.phase != "Pending":
            continue  # started (the pod's activeDeadlineSeconds covers it now) or finished
        ex.update(node_id, phase="Failed", message=TIMEOUT_MESSAGE, task_result_synced=True)
        pod = ex.pod_of_node.get(node_id)
        name = pod[0] if pod is not None else next((p for p, n in ex.leaf_of_pod.items() if n == node_id), None)
        if name:
            ex.actions.append(DeletePod(name, uid=pod[1] if pod is not None else ""))
    if heap:
        ex.requeue(heap[0][0])
