"""Taking observed pods and WorkflowTaskResults into the node tree (Argo's assessNodeStatus and
taskResultReconciliation), one changed object at a time."""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.plan.actions import SignalPod
from tiphys.core.plan.agentpod import AGENT_COMPONENT, COMPONENT_LABEL
from tiphys.core.plan.execution import FULFILLED, Execution
from tiphys.core.spec import Outputs

__all__ = ["apply_pod", "apply_task_result", "apply_parked", "pod_deleted", "NODE_ID", "NODE_NAME", "OUTPUTS_COMPLETED"]

NODE_ID = "workflows.argoproj.io/node-id"
NODE_NAME = "workflows.argoproj.io/node-name"
OUTPUTS_COMPLETED = "workflows.argoproj.io/report-outputs-completed"
TASK_RESULT_TIMEOUT = 60.0  # seconds a Succeeded pod waits for its outputs before we stop waiting

_outputs_decoder = msgspec.json.Decoder(Outputs)


def _node_of(ex: Execution, pod: dict) -> str | None:
    meta = pod.get("metadata") or {}
    node_id = (meta.get("annotations") or {}).get(NODE_ID)
    if not node_id:
        node_id = ex.leaf_of_pod.get(meta.get("name", ""))
    return node_id if node_id in ex.nodes else None


def _agent(pod: dict) -> bool:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL) == AGENT_COMPONENT


def apply_pod(ex: Execution, pod: dict) -> None:
    from tiphys.core.plan._poderrors import PodStatusError
    from tiphys.core.plan.assess import assess_pod, should_kill_sidecars

    if _agent(pod):  # the HTTP agent pod has no node (http.py)
        from tiphys.core.plan import http

        return http.on_agent_pod(ex, pod, deleted=False)
    node_id = _node_of(ex, pod)
    if node_id is None:
        _park(ex, pod, "pod")
        return
    node = ex.nodes[node_id]
    meta = pod.get("metadata") or {}
    ex.pod_of_node[node_id] = (meta.get("name", ""), meta.get("uid", ""), (pod.get("status") or {}).get("phase", ""),
                               meta.get("labels") or {})
    if node.phase in FULFILLED and node.task_result_synced is not False:
        if ex.pod_gc is not None:
            ex.pod_gc.consider(ex, node_id)  # e.g. the pod of a node failed by a timeout, seen only now
        return
    template = ex.pod_templates.get(node_id) or {}
    daemon = bool(template.get("daemon"))
    mains = [c.get("name") for c in (template.get("containerSet") or {}).get("containers") or []] or ["main"]
    try:
        seen = assess_pod(pod, daemon=daemon, daemoned=bool(node.daemoned), main_containers=mains)
    except PodStatusError as exc:  # an unreadable pod fails its node, never the reconcile
        ex.update(node_id, phase="Error", message=str(exc), task_result_synced=True)
        return
    changes: dict[str, Any] = {}
    if seen.host_node_name and seen.host_node_name != node.host_node_name:
        changes["host_node_name"] = seen.host_node_name
    if seen.exit_code is not None:
        outputs = node.outputs or Outputs()
        if outputs.exit_code != seen.exit_code:
            changes["outputs"] = msgspec.structs.replace(outputs, exit_code=seen.exit_code)
    if seen.daemoned and not node.daemoned:
        changes["daemoned"] = True
        changes["pod_ip"] = seen.pod_ip or None
    phase = seen.phase
    if phase in ("Succeeded", "Failed", "Error") and seen.wait_running and pod.get("status", {}).get("phase") != "Failed":
        phase = node.phase  # outputs are still being uploaded: hold (§5.7)
    if phase != node.phase and node.phase not in FULFILLED:
        changes["phase"] = phase
        if phase in ("Failed", "Error"):
            changes["task_result_synced"] = True  # a failed pod reports what it can; never hang on it
        if seen.finished_at and phase in FULFILLED:
            changes["finished_at"] = seen.finished_at
        if seen.resources_duration and phase in FULFILLED:  # node resourcesDuration (metrics read it, §3.3)
            changes["resources_duration"] = dict(seen.resources_duration)
    message = seen.message or None
    if phase not in ("Pending",) and node.phase == "Pending" and phase not in ("Failed", "Error"):
        message = None
    if message != node.message and (phase in ("Pending", "Failed", "Error") or node.message):
        changes["message"] = message
    if seen.task_result_abandoned and node.task_result_synced is False:
        changes["task_result_synced"] = True  # the wait container is gone: its outputs never come
    if changes:
        ex.update(node_id, **changes)
    if phase == "Succeeded" and ex.nodes[node_id].task_result_synced is False:
        ex.awaiting_outputs[node_id] = ex.now_ts + TASK_RESULT_TIMEOUT
        ex.requeue(ex.now_ts + TASK_RESULT_TIMEOUT)
    kill = tuple(should_kill_sidecars(pod, main_containers=mains))
    name = pod["metadata"]["name"]
    if kill and pod.get("status", {}).get("phase") == "Running" and ex.signalled.get(name) != kill:
        ex.signalled[name] = kill  # once per set of containers: the check repeats on every pod event
        ex.actions.append(SignalPod(name, kill))


def _park(ex: Execution, pod: dict, kind: str) -> None:
    """An object for a node that does not exist yet (after a restart, before the walk recreates it)."""
    node_id = ((pod.get("metadata") or {}).get("annotations") or {}).get(NODE_ID)
    if node_id:
        ex.parked[f"{kind}/{node_id}"] = (kind, pod)


def apply_parked(ex: Execution) -> bool:
    """Apply parked objects whose node now exists; True if any was applied."""
    ready = [k for k in ex.parked if k.split("/", 1)[-1] in ex.nodes]
    for key in ready:
        kind, obj = ex.parked.pop(key)
        (apply_pod if kind == "pod" else apply_task_result)(ex, obj)
    return bool(ready)


def pod_deleted(ex: Execution, pod: dict) -> None:
    """A pod vanished before its node finished: Argo's `pod deleted` rule (§5.7)."""
    if _agent(pod):
        from tiphys.core.plan import http

        return http.on_agent_pod(ex, pod, deleted=True)
    node_id = _node_of(ex, pod)
    if node_id is None:
        return
    node = ex.nodes[node_id]
    if node.phase in FULFILLED:
        if node.task_result_synced is False:
            ex.update(node_id, task_result_synced=True)
        return
    ex.update(node_id, phase="Error", message="pod deleted", task_result_synced=True)


def apply_task_result(ex: Execution, result: dict) -> None:
    """Copy a WorkflowTaskResult's outputs into its node (name = node ID)."""
    meta = result.get("metadata") or {}
    node_id = meta.get("name", "")
    node = ex.nodes.get(node_id)
    if node is None:
        ex.parked[f"result/{node_id}"] = ("result", result)
        return
    changes: dict[str, Any] = {}
    raw = result.get("outputs")
    if isinstance(raw, dict) and raw:
        outputs = msgspec.convert(raw, type=Outputs)
        if outputs.exit_code is None and node.outputs is not None and node.outputs.exit_code is not None:
            outputs = msgspec.structs.replace(outputs, exit_code=node.outputs.exit_code)
        if outputs != node.outputs:
            changes["outputs"] = outputs
    progress = result.get("progress")
    if isinstance(progress, str) and _valid_progress(progress):
        changes["progress"] = progress
    completed = (meta.get("labels") or {}).get(OUTPUTS_COMPLETED)
    if completed == "true":
        changes["task_result_synced"] = True
    elif completed == "false" and node.phase not in FULFILLED:
        changes["task_result_synced"] = False
    if changes:
        ex.update(node_id, **changes)
        ex.awaiting_outputs.pop(node_id, None) if changes.get("task_result_synced") else None
        if "outputs" in changes:
            ex.publish_leaf_globals(node_id)


def _valid_progress(text: str) -> bool:
    done, _, total = text.partition("/")
    return done.isdigit() and total.isdigit() and int(done) <= int(total)
