"""Retries (Argo's processNodeRetries): a Retry node whose children are the attempts `X(k)`."""
from __future__ import annotations

from typing import Any

from tiphys.core.plan.execution import FAILED_OR_ERROR, Execution
from tiphys.core.plan.scope import parse_time
from tiphys.core.plan.timeouts import DurationError, parse_duration
from tiphys.core.plan.walk import Call, execute, node_kwargs
from tiphys.core.status import ids

__all__ = ["RetryFrame", "TRANSIENT_PATTERNS"]

# Argo's transient-error classifier (util/errors): messages of infrastructure failures.
TRANSIENT_PATTERNS = ("exceeded quota", "connection reset by peer", "connection refused", "i/o timeout",
                      "http2: client connection lost", "etcdserver: leader changed", "TLS handshake timeout",
                      "Too many requests", "the object has been modified")


class RetryFrame:
    def __init__(self, ex: Execution, call: Call, resolved: Any, strategy: dict) -> None:
        self.node_id = ex.node_id(call.name)
        self.call = call
        self.resolved = resolved
        self.strategy = strategy
        self.attempts: list[str] = []

    @classmethod
    def start(cls, ex: Execution, call: Call, resolved: Any, inputs: dict, strategy: dict) -> str:
        node = ex.init_node(call.name, "Retry", phase="Running", inputs=inputs, **node_kwargs(call, resolved))
        frame = cls(ex, call, resolved, strategy)
        # after a restart the attempts made so far are the node's non-hook children
        frame.attempts = [c for c in node.children or () if ex.nodes.get(c) is not None
                          and not (ex.nodes[c].node_flag and ex.nodes[c].node_flag.hooked)]
        ex.frames[node.id_] = frame
        if frame.attempts:
            for k in range(len(frame.attempts)):
                frame._attempt(ex, k, ex.nodes[frame.attempts[k - 1]] if k else None)
        ex.schedule(frame)
        return node.id_

    def child_done(self, ex: Execution, child_id: str, slot: Any) -> None:
        pass

    def evaluate(self, ex: Execution) -> None:
        if not self.attempts:
            self._attempt(ex, 0, None)
            return
        last_id = self.attempts[-1]
        if not ex.fulfilled(last_id):
            last = ex.nodes[last_id]
            if last.daemoned:
                ex.update(self.node_id, daemoned=True, phase=last.phase)
            return
        last = ex.nodes[last_id]
        if last.phase not in FAILED_OR_ERROR:
            self._finish(ex, last.phase, last.message, outputs=ex.outputs_of(last_id))
            return
        if ex.shutting_down or ex.past_deadline:
            self._finish(ex, last.phase, last.message)
            return
        policy = self.strategy.get("retryPolicy") or ("Always" if self.strategy.get("expression") else "OnFailure")
        if not _policy_allows(policy, last.phase, last.message or ""):
            self._finish(ex, last.phase, last.message)
            return
        limit = self.strategy.get("limit")
        if limit is not None:
            try:
                limit_n = int(str(limit))
            except ValueError:
                self._finish(ex, "Error", f"invalid retryStrategy.limit {limit!r}")
                return
            if len(self.attempts) > limit_n:
                self._finish(ex, last.phase, "No more retries left")
                return
        if self.strategy.get("expression") and not self._expression(ex, last):
            self._finish(ex, last.phase, "retryStrategy.expression evaluated to false")
            return
        wait = self._backoff(ex, last)
        if wait is None:
            return
        if wait > 0:
            ex.update(self.node_id, message=f"Backoff for {_humanize(wait)}")
            ex.requeue(ex.now_ts + wait)
            return
        ex.update(self.node_id, message=None)
        self._attempt(ex, len(self.attempts), last)

    def _backoff(self, ex: Execution, last: Any) -> float | None:
        backoff = self.strategy.get("backoff") or {}
        if not backoff:
            return 0.0
        try:
            duration = parse_duration(str(backoff.get("duration", "0")))
            factor = float(str(backoff.get("factor", 1) or 1))
            cap = parse_duration(str(backoff["cap"])) if backoff.get("cap") else None
            max_duration = parse_duration(str(backoff["maxDuration"])) if backoff.get("maxDuration") else None
        except (DurationError, ValueError) as exc:
            self._finish(ex, "Error", f"invalid retryStrategy.backoff: {exc}")
            return None
        n = len(self.attempts)
        wait = duration * (factor ** (n - 1) if factor > 0 else 1)
        if cap is not None:
            wait = min(wait, cap)
        first_start = parse_time(ex.nodes[self.attempts[0]].started_at or ex.now).timestamp()
        if max_duration is not None and ex.now_ts - first_start > max_duration:
            self._finish(ex, last.phase, "Max duration limit exceeded")
            return None
        ready_at = parse_time(last.finished_at or ex.now).timestamp() + wait
        if max_duration is not None and ready_at > first_start + max_duration:
            self._finish(ex, last.phase, "Backoff would exceed max duration limit")
            return None
        return max(0.0, ready_at - ex.now_ts)

    def _expression(self, ex: Execution, last: Any) -> bool:
        from tiphys.core.lang.tags import substitute

        exit_code = (last.outputs.exit_code if last.outputs and last.outputs.exit_code is not None else "-1")
        scope = {**ex.global_scope, **self.call.locals, "retries": str(len(self.attempts) - 1),
                 "lastRetry.exitCode": exit_code, "lastRetry.status": last.phase or "",
                 "lastRetry.duration": str(_duration(last)), "lastRetry.message": last.message or ""}
        text = substitute("{{=" + str(self.strategy["expression"]) + "}}", scope)
        return text == "true"

    def _attempt(self, ex: Execution, k: int, previous: Any) -> None:
        name = ids.retry_child_name(self.call.name, k)
        last = {"lastRetry.exitCode": "0", "lastRetry.status": "", "lastRetry.duration": "0",
                "lastRetry.message": ""}
        if previous is not None:
            code = previous.outputs.exit_code if previous.outputs and previous.outputs.exit_code else "-1"
            last = {"lastRetry.exitCode": code, "lastRetry.status": previous.phase or "",
                    "lastRetry.duration": str(_duration(previous)), "lastRetry.message": previous.message or ""}
        call = Call(name=name, holder=self.call.holder, arguments=self.call.arguments,
                    boundary_id=self.call.boundary_id, locals={**self.call.locals, "retries": str(k), **last},
                    depth=self.call.depth, on_exit=self.call.on_exit, hooked=self.call.hooked, retry_attempt=True,
                    context=self.call.context, avoid_hosts=self._hosts_before(ex, k))
        child_id = execute(ex, call)
        if child_id not in self.attempts:
            self.attempts.append(child_id)
        ex.add_child(self.node_id, child_id)
        ex.wait_for(child_id, self)

    def _hosts_before(self, ex: Execution, k: int) -> tuple[str, ...]:
        """`affinity.nodeAntiAffinity` (even `{}`): the hosts attempts 0..k-1 ran on, as Argo's
        RetryNodeAntiAffinity collects the Retry node's children's `hostNodeName` — O(attempts).
        A host is named once (Argo may repeat it; `NotIn` means the same either way)."""
        affinity = self.strategy.get("affinity")
        if not isinstance(affinity, dict) or not isinstance(affinity.get("nodeAntiAffinity"), dict):
            return ()
        hosts: dict[str, None] = {}
        for attempt_id in self.attempts[:k]:
            node = ex.nodes.get(attempt_id)
            if node is not None and node.host_node_name:
                hosts[node.host_node_name] = None
        return tuple(hosts)

    def _finish(self, ex: Execution, phase: str, message: str | None, outputs: Any = None) -> None:
        changes: dict[str, Any] = {"phase": phase, "message": message}
        if outputs is not None:
            changes["outputs"] = outputs
        ex.update(self.node_id, **changes)


def _policy_allows(policy: str, phase: str, message: str) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return phase == "Failed"
    if policy == "OnError":
        return phase == "Error"
    if policy == "OnTransientError":
        return any(p.lower() in message.lower() for p in TRANSIENT_PATTERNS)
    return False


def _duration(node: Any) -> int:
    if not node.started_at or not node.finished_at:
        return 0
    return int(parse_time(node.finished_at).timestamp() - parse_time(node.started_at).timestamp())


def _humanize(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} seconds"
    if s < 3600:
        return f"{s // 60} minutes {s % 60} seconds"
    return f"{s // 3600} hours {s % 3600 // 60} minutes"
