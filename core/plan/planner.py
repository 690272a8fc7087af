"""`plan`: one reconcile decision — observed changes in, node updates and actions out.

The order follows Argo's operate() (argo-semantics §5.2): take observations (task results, then
pods), mark the workflow Running on first sight, apply shutdown and deadlines, run the entry
template (only woken frames do work), then the exit handler, then the workflow phase.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec

from tiphys.core.plan import claims, http, pdb, podgc, suspend, sync
from tiphys.core.plan.actions import Action, DeletePod, DeleteTaskResults, EmitEvent
from tiphys.core.plan.deadlines import expire_pending
from tiphys.core.plan.execution import FAILED_OR_ERROR, FULFILLED, Execution
from tiphys.core.plan.hooks import WorkflowHooks
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.observe import apply_parked, apply_pod, apply_task_result, pod_deleted
from tiphys.core.plan.scope import global_scope, parse_time
from tiphys.core.plan.walk import Call, execute
from tiphys.core.spec import NodeStatus, Outputs, as_text

__all__ = ["Observed", "PlanResult", "Workflow", "plan", "new_execution", "apply_client_resume"]


class Observed(msgspec.Struct, kw_only=True):
    """What changed since the last plan: pods (current state), deleted pods, task results, and the
    workflow's WorkflowTaskSet (HTTP nodes' outcomes, http.py)."""

    pods: list[dict] = []
    deleted_pods: list[dict] = []
    task_results: list[dict] = []
    task_sets: list[dict] = []


def apply_client_resume(ex: Execution, live_nodes: dict[str, NodeStatus], /) -> None:
    """Suspend nodes a client finished in the stored status (`argo resume`, `argo stop --node...`).

    Clients write those phases (and supplied outputs) into status.nodes themselves (§5.12); the
    controller takes them over instead of overwriting them with its own copy.
    """
    applied, ex.actions = ex.actions, []  # the last plan's actions were applied already
    for node_id in list(ex.active_suspends):
        live = live_nodes.get(node_id)
        if live is None or live.phase in (None, "Running", "Pending"):
            continue
        ex.active_suspends.discard(node_id)
        ex.suspends.pop(node_id, None)
        ex.update(node_id, phase=live.phase, message=live.message, outputs=live.outputs,
                  finished_at=live.finished_at or ex.now)
    # what fulfilling a node decided (its metrics, a memoize save) goes out with the next plan
    ex.carried_actions.extend(ex.actions)
    ex.actions = applied


class PlanResult(msgspec.Struct, kw_only=True):
    actions: list[Action]
    changed_nodes: set[str]
    status_changed: bool
    requeue_after: float | None


class Workflow:
    """Workflow-level status beside the nodes: phase, times, message, outputs, conditions."""

    def __init__(self, status: dict) -> None:
        self.phase: str = status.get("phase") or ""
        self.started_at: str = status.get("startedAt") or ""
        self.finished_at: str = status.get("finishedAt") or ""
        self.message: str = status.get("message") or ""
        self.progress: str = status.get("progress") or ""
        self.outputs: dict | None = status.get("outputs")
        self.conditions: list[dict] = list(status.get("conditions") or [])
        self.persistent_volume_claims: list[dict] = list(status.get("persistentVolumeClaims") or [])
        self.changed = False

    def set(self, **fields: Any) -> None:
        for k, v in fields.items():
            if getattr(self, k) != v:
                setattr(self, k, v)
                self.changed = True


def new_execution(meta: WorkflowMeta, spec: dict, status: dict, nodes: dict[str, NodeStatus], /, *,
                  settings: PodSettings = PodSettings(), library: Any = None, configmaps: Any = None,
                  locks: Any = None) -> Execution:
    """An Execution for a workflow, rebuilt from its status (after a restart) or fresh.

    `locks` is the controller's sync.LockService; without one the workflow's locks are its own.
    """
    ex = Execution(meta, spec, nodes, settings=settings, library=library, configmaps=configmaps,
                   stored_templates=status.get("storedTemplates") or {}, locks=locks or sync.LocalLocks())
    # what this workflow holds already (the service was rebuilt from status.synchronization)
    for holder in ex.locks.holders_of(sync.workflow_holder(ex)):
        node_id = holder.split("/", 2)[2] if holder.count("/") >= 2 else ""
        if node_id:
            ex.lock_holders[node_id] = holder
        else:
            ex.workflow_lock_held = True
    ex.workflow = Workflow(status)
    ex.stored_workflow_template_spec = status.get("storedWorkflowTemplateSpec")
    from tiphys.core.plan.templates import configmap_value

    params = [{"name": p.get("name"),
               "value": as_text(p["value"]) if p.get("value") is not None else
               (configmap_value(p.get("valueFrom"), configmaps) or "")}
              for p in (spec.get("arguments") or {}).get("parameters") or [] if isinstance(p, dict)]
    # the arguments as resolved: the entrypoint's inputs bind to these values
    ex.spec = {**spec, "arguments": {**(spec.get("arguments") or {}), "parameters": params}} if params else spec
    ex.global_scope = global_scope(meta, spec, params)
    for k, v in ((status.get("outputs") or {}).get("parameters") and
                 {p["name"]: p.get("value") for p in status["outputs"]["parameters"]} or {}).items():
        ex.global_outputs[k] = as_text(v)
        ex.global_scope[f"workflow.outputs.parameters.{k}"] = as_text(v)
    ex.root_id = ex.node_id(meta.name)
    ex.exit_id = ex.node_id(f"{meta.name}.onExit")
    ex.workflow_hooks = WorkflowHooks(ex.spec)
    policy = podgc.policy_of(ex.spec, settings)
    if policy is not None and policy.per_pod:  # workflow-level strategies act after completion only
        ex.pod_gc = podgc.PodGCQueue(policy)
    return ex


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(ex: Execution, observed: Observed, now: float, /) -> PlanResult:
    wf: Workflow = ex.workflow
    ex.now_ts = now
    ex.now = _rfc3339(now)
    # lost creates, for nodes still waiting (and the HTTP agent pod while HTTP nodes wait)
    ex.actions = [*ex.carried_actions, *(a for a in ex.retry_creates if ex.nodes.get(a.node_id) is not None
                                         and ex.nodes[a.node_id].phase == "Pending" or http.lost_agent_create(ex, a))]
    ex.carried_actions, ex.retry_creates = [], []
    ex.requeue_at = None
    ex.changed_since_write = set()
    ex.locks_changed = False
    if wf.phase in ("Succeeded", "Failed", "Error"):
        return PlanResult(actions=[], changed_nodes=set(), status_changed=False, requeue_after=None)
    for result in observed.task_results:
        apply_task_result(ex, result)
    for task_set in observed.task_sets:
        http.apply_task_set(ex, task_set)
    for pod in observed.pods:
        apply_pod(ex, pod)
    for pod in observed.deleted_pods:
        pod_deleted(ex, pod)
    _timers(ex, now)
    if not wf.phase or wf.phase == "Pending":
        if not ex.workflow_lock_held and not sync.acquire_workflow(ex):  # §5.2 step 8: waits Pending
            return PlanResult(actions=ex.actions, changed_nodes=set(), requeue_after=None,
                              status_changed=wf.changed or ex.locks_changed)
        first_start = not wf.started_at  # a workflow that waited for a lock was Pending before
        if first_start:
            ex.actions.append(EmitEvent("WorkflowRunning", "Workflow Running"))
        wf.set(phase="Running", started_at=wf.started_at or ex.now)
        if first_start and pdb.start(ex):  # §5.2 step 10: the PDB first; the entry template next plan
            return PlanResult(actions=ex.actions, changed_nodes=set(), status_changed=True, requeue_after=0.0)
    ex.suspended = bool(ex.spec.get("suspend"))
    if ex.was_suspended and not ex.suspended:  # resumed: every frame may start what it held back
        for frame in list(ex.frames.values()):
            ex.schedule(frame)
    ex.was_suspended = ex.suspended
    shutdown = ex.spec.get("shutdown") or ""
    ex.shutting_down = shutdown in ("Stop", "Terminate")
    _deadline(ex, wf, now)
    if ex.shutting_down or ex.past_deadline:
        _stop_running(ex, shutdown)
    ex.global_scope["workflow.status"] = wf.phase
    ex.global_scope["workflow.duration"] = f"{max(0.0, now - parse_time(wf.started_at).timestamp()):f}"
    if not ex.metrics_started and ex.spec.get("metrics") is not None:
        from tiphys.core.plan.metrics import workflow_started

        workflow_started(ex)  # real-time gauges of the workflow, once per Execution
    # Argo creates the volumeClaimTemplates PVCs before it executes the entry template: until the
    # reconciler reports them made, nothing starts (claims.py)
    ex.claims_waiting = claims.request(ex)
    if not ex.claims_waiting:
        _run(ex, wf, shutdown)
    http.settle(ex)  # tasks put, finished ones pruned, the agent pod as needed
    wf.set(progress=ex.progress)
    changed = set(ex.changed)
    ex.changed.clear()
    if ex.pod_gc is not None:
        for node_id in changed:
            if ex.nodes[node_id].type_ == "Pod":
                ex.pod_gc.consider(ex, node_id)
    requeue = None if ex.requeue_at is None else max(0.0, ex.requeue_at - now)
    return PlanResult(actions=ex.actions, changed_nodes=changed,
                      status_changed=bool(changed) or wf.changed or ex.locks_changed, requeue_after=requeue)


def _run(ex: Execution, wf: Workflow, shutdown: str) -> None:
    """The entry template (only woken frames work), then the exit handler and the workflow phase."""
    if ex.root_id not in ex.nodes or ex.root_id not in ex.frames and not ex.fulfilled(ex.root_id):
        entry = ex.spec.get("entrypoint", "")
        execute(ex, Call(name=ex.meta.name, holder={"template": entry}, arguments=ex.spec.get("arguments") or {}))
    _resume_adopted(ex)
    if ex.lock_waiting and not ex.suspended:  # a suspended workflow starts nothing (§5.2 step 11)
        sync.retry_waiting(ex, execute)
    ex.run_frames()
    if ex.lock_waiting and ex.locks_changed and not ex.suspended:
        sync.retry_waiting(ex, execute)  # a frame that just finished released a lock its siblings wait for
        ex.run_frames()
    for _ in range(100):  # after a restart: results and pods of nodes the walk just re-created
        if not ex.parked or not apply_parked(ex):
            break
        ex.run_frames()
    if ex.adopted:  # leaves the walk just re-found: their pods (and template deadlines) now, not next event
        _resume_adopted(ex)
        ex.run_frames()
    if ex.workflow_hooks.hooks:  # spec.hooks.<name>: judged every plan until made (hooks.py), O(hooks)
        ex.workflow_hooks.run(ex, ex.nodes[ex.root_id].phase)
        ex.run_frames()
    if ex.fulfilled(ex.root_id) and ex.workflow_hooks.fulfilled(ex):
        _exit_handler(ex, wf, shutdown)


def _timers(ex: Execution, now: float) -> None:
    expire_pending(ex, now)  # template `timeout`s of nodes still Pending (deadlines.py)
    for node_id, at in list(ex.suspends.items()):
        if now >= at:
            del ex.suspends[node_id]
            ex.active_suspends.discard(node_id)
            _resume_on_time(ex, node_id)
        else:
            ex.requeue(at)
    for node_id, at in list(ex.awaiting_outputs.items()):
        node = ex.nodes.get(node_id)
        if node is None or node.task_result_synced is not False:
            del ex.awaiting_outputs[node_id]
        elif now >= at:
            del ex.awaiting_outputs[node_id]
            ex.update(node_id, task_result_synced=True)
        else:
            ex.requeue(at)


def _resume_on_time(ex: Execution, node_id: str) -> None:
    """A suspend `duration` elapsed: Succeeded, its supplied outputs settled by their defaults."""
    outputs = ex.nodes[node_id].outputs
    try:
        settled = suspend.with_defaults(msgspec.to_builtins(outputs) if outputs is not None else None)
    except suspend.SuppliedError as exc:
        ex.update(node_id, phase="Error", message=str(exc))
        return
    ex.update(node_id, phase="Succeeded",
              outputs=msgspec.convert(settled, type=Outputs) if settled is not None else None)


def _deadline(ex: Execution, wf: Workflow, now: float) -> None:
    seconds = ex.spec.get("activeDeadlineSeconds")
    if not isinstance(seconds, int) or not wf.started_at:
        return
    deadline = int(parse_time(wf.started_at).timestamp()) + seconds
    ex.deadline_text = _rfc3339(deadline)
    if now >= deadline:
        ex.past_deadline = True
    else:
        ex.requeue(deadline)


def _stop_running(ex: Execution, shutdown: str) -> None:
    """Shutdown or deadline: fail unfinished leaves outside exit handlers and delete their pods."""
    message = "Step exceeded its deadline" if ex.past_deadline and not shutdown else \
        f"workflow shutdown with strategy:  {shutdown}"
    for node_id, template in list(ex.pod_templates.items()):
        node = ex.nodes.get(node_id)
        if node is None or node.phase in FULFILLED or _in_exit_handler(ex, node) and shutdown != "Terminate":
            continue
        ex.update(node_id, phase="Failed", message=message, task_result_synced=True)
        pod = next((p for p, n in ex.leaf_of_pod.items() if n == node_id), None)
        if pod:
            ex.actions.append(DeletePod(pod))
    for node_id in list(ex.active_suspends):  # timed or not: a stopped workflow resumes nothing
        ex.suspends.pop(node_id, None)
        ex.active_suspends.discard(node_id)
        if not _in_exit_handler(ex, ex.nodes[node_id]):
            ex.update(node_id, phase="Failed", message=message)
    sync.stop_waiting(ex, message)
    http.stop(ex, message, keep=lambda n: _in_exit_handler(ex, n) and shutdown != "Terminate")
    for frame in list(ex.frames.values()):
        ex.schedule(frame)


def _in_exit_handler(ex: Execution, node: NodeStatus) -> bool:
    seen = 0
    while node is not None and seen < 200:
        if (node.display_name or "").endswith(".onExit") or (node.name or "").endswith(".onExit"):
            return True
        if node.node_flag is not None and node.node_flag.hooked:  # lifecycle hooks run as onExit templates
            return True
        node = ex.nodes.get(node.boundary_id) if node.boundary_id else None
        seen += 1
    return False


def _resume_adopted(ex: Execution) -> None:
    """Pods of leaves adopted after a restart are (re)created if their node is still Pending."""
    from tiphys.core.plan.walk import _create_pod

    for call, node_id, pod_name in ex.adopted:
        if ex.nodes[node_id].phase == "Pending":
            ex.pods_active -= 1
            _create_pod(ex, call, node_id, pod_name, ex.pod_templates[node_id])
    ex.adopted.clear()


def _exit_handler(ex: Execution, wf: Workflow, shutdown: str) -> None:
    root = ex.nodes[ex.root_id]
    holder = None
    hooks = ex.spec.get("hooks") or {}
    if isinstance(hooks.get("exit"), dict):
        holder = hooks["exit"]
    elif ex.spec.get("onExit"):
        holder = {"template": ex.spec["onExit"]}
    status = {"Succeeded": "Succeeded", "Skipped": "Succeeded", "Omitted": "Succeeded"}.get(root.phase, root.phase)
    if ex.workflow_hooks.error is not None:  # Argo marks the root Error with a hook's expression error
        status = "Error"
    if holder is not None and shutdown != "Terminate":
        ex.global_scope["workflow.status"] = status
        ex.global_scope["workflow.failures"] = _failures(ex)
        execute(ex, Call(name=f"{ex.meta.name}.onExit", holder=holder,
                         arguments=holder.get("arguments") or ex.spec.get("arguments") or {},
                         on_exit=True, hooked=True))
        ex.run_frames()
        if not ex.fulfilled(ex.exit_id):
            return
    phase, message = status, ex.workflow_hooks.error or root.message or ""
    if shutdown:
        message = f"Stopped with strategy '{shutdown}'"
        phase = "Failed"
    elif ex.past_deadline and phase not in FAILED_OR_ERROR:
        phase, message = "Failed", "Step exceeded its deadline"
    exit_node = ex.nodes.get(ex.exit_id)
    if phase == "Succeeded" and exit_node is not None and exit_node.phase in FAILED_OR_ERROR:
        phase, message = exit_node.phase, exit_node.message or ""
    outputs = None
    if ex.global_outputs or ex.global_artifacts:
        outputs = msgspec.to_builtins(msgspec.convert({
            "parameters": [{"name": k, "value": v} for k, v in ex.global_outputs.items()] or None,
            "artifacts": [msgspec.to_builtins(a) for a in ex.global_artifacts.values()] or None}, type=Outputs))
    wf.set(phase=phase, message=message, finished_at=ex.now, outputs=outputs)
    if ex.spec.get("metrics") is not None:
        from tiphys.core.plan.metrics import workflow_completed

        workflow_completed(ex)
    wf.conditions = [c for c in wf.conditions if c.get("type") != "Completed"] + [
        {"type": "Completed", "status": "True"}]
    ex.actions.append(EmitEvent(f"Workflow{phase}", message or f"Workflow {phase.lower()}",
                                event_type="Normal" if phase == "Succeeded" else "Warning"))
    ex.actions.append(DeleteTaskResults())
    pdb.finish(ex)
    http.finish(ex)
    claims.release(ex)  # volumeClaimGC
    sync.release_all(ex)


def _failures(ex: Execution) -> str:
    import json

    failed = [{"displayName": n.display_name, "message": n.message or "", "templateName": n.template_name or "",
               "phase": n.phase, "podName": "", "finishedAt": n.finished_at or ""}
              for n in ex.nodes.values() if n.phase in FAILED_OR_ERROR]
    return json.dumps(json.dumps(failed, separators=(",", ":")) if failed else None)
