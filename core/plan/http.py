"""HTTP nodes: the task set and the agent pod, decided here, done by the shell (argo-semantics §1.3, §2.3).

An `http` template becomes a node of type `HTTP` (Argo's name and ID rules, like any node),
created Pending. Its substituted template goes into the workflow's WorkflowTaskSet as
`spec.tasks[nodeID]` (a `PutTaskSet` upsert, batched per plan), and one agent pod is asked for
while any HTTP node is unfinished. The agent performs the request and writes the outcome to the
task set's `status.nodes[nodeID]` (phase, message, outputs with `result` = the response body);
the task-set informer hands that object to the plan, which copies each entry onto its node, as
Argo's reconcileTaskSet does. Only entries present in `status.nodes` are read, and finished
entries are pruned from the task set (`PruneTaskSet`), so the cost is that of the unfinished
HTTP nodes with a result, never a scan of the tree.

Everything else a node has just works because an HTTP node is an ordinary leaf: retries (each
attempt its own node and task), `when`, steps and DAGs (a fulfilled node wakes its frame),
exit handlers and lifecycle hooks (hook nodes are calls like any other), template `timeout` (a
node still Pending past its deadline is Failed `timeout` by `deadlines.expire_pending`, the same
rule as a pod that never starts), shutdown and the workflow deadline (`stop`).

The agent pod (none with the ConfigMap's `disableAgentPodCreation`: an agent run elsewhere
serves the task sets): created with the first unfinished HTTP node, deleted when none is left (Argo
keeps it until the workflow completes; tiphys frees it earlier, as the brief for this port asks,
and makes it again for a later HTTP node). Its pod events reach `on_agent_pod`: a pod that is
deleted while nodes wait is made again; a Failed agent pod errors every waiting HTTP node with
Argo's `agent pod failed with reason:"<message>"` and is replaced for later ones. When the
workflow completes, the task set is labelled `completed=true` (the agent exits on that) and the
agent pod is deleted; the task set itself goes with the Workflow (owner reference).
"""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.lang.errors import LangError
from tiphys.core.plan.actions import CompleteTaskSet, CreatePod, DeletePod, PruneTaskSet, PutTaskSet
from tiphys.core.plan.agentpod import agent_pod, agent_pod_name
from tiphys.core.plan.execution import FULFILLED, Execution
from tiphys.core.spec import Outputs

__all__ = ["HttpNodes", "start", "adopt", "apply_task_set", "on_agent_pod", "settle", "stop", "finish",
           "lost_agent_create", "AGENT_FAILED"]

AGENT_FAILED = 'agent pod failed with reason:"{}"'  # Argo's markTaskSetNodesError text
_PHASES = frozenset({"Running", "Succeeded", "Failed", "Error", "Skipped", "Omitted"})


class HttpNodes:
    """The HTTP side of one Execution (`Execution.http`, made on first need)."""

    __slots__ = ("active", "to_put", "to_prune", "unclaimed", "agent_requested", "task_set_made", "agent_name")

    def __init__(self, workflow: str) -> None:
        self.active: dict[str, dict] = {}  # unfinished HTTP node id -> its task (the substituted template)
        self.to_put: dict[str, dict] = {}  # tasks to upsert at the end of this plan
        self.to_prune: list[str] = []  # finished node ids to drop from the task set
        self.unclaimed: dict[str, dict] = {}  # results for node ids not (re)made yet (after a restart)
        self.agent_requested = False  # a CreatePod for the agent stands (made or being made)
        self.task_set_made = False
        self.agent_name = agent_pod_name(workflow)


def _state(ex: Execution) -> HttpNodes:
    st = ex.http
    if st is None:
        st = ex.http = HttpNodes(ex.meta.name)
    return st


def _prepare(ex: Execution, call: Any, resolved: Any, inputs: dict, scope: dict) -> dict:
    from tiphys.core.plan.walk import _substitute

    template = _substitute(ex, resolved.template, scope)
    return {**template, "inputs": inputs} if inputs else template


def start(ex: Execution, call: Any, resolved: Any, inputs: dict, scope: dict) -> str:
    """Argo's executeHTTPTemplate: the HTTP node, Pending, and its task in the task set."""
    from tiphys.core.plan.deadlines import TimeoutFormatError, template_deadline, watch_pending
    from tiphys.core.plan.walk import _error_node, node_kwargs

    try:
        template = _prepare(ex, call, resolved, inputs, scope)
    except LangError as exc:
        return _error_node(ex, call, str(exc))
    node = ex.init_node(call.name, "HTTP", inputs=inputs, **node_kwargs(call, resolved))
    if node.phase in FULFILLED:
        return node.id_
    if ex.shutting_down and not call.on_exit:
        ex.update(node.id_, phase="Failed", message=f"workflow shutdown with strategy:  {ex.spec.get('shutdown')}")
        return node.id_
    try:
        at = template_deadline(ex, call.name, template, retry_attempt=call.retry_attempt)
    except TimeoutFormatError as exc:
        ex.update(node.id_, phase="Error", message=str(exc))
        return node.id_
    if at is not None:
        watch_pending(ex, node.id_, at)
    _register(ex, node.id_, template)
    return node.id_


def adopt(ex: Execution, call: Any, node_id: str) -> None:
    """After a restart: an unfinished HTTP node's task is registered (and put) again; the agent
    ran it at most once (it remembers the tasks it has seen), and its result is taken as it comes."""
    from tiphys.core.plan.deadlines import TimeoutFormatError, template_deadline, watch_pending
    from tiphys.core.plan.templates import TemplateError, bind_inputs, resolve

    st = _state(ex)
    if node_id in st.active:
        return
    try:
        resolved = resolve(call.holder, ex.templates, ex.stored_templates, ex.library, ex.meta.name,
                           ex.spec.get("templateDefaults"), call.context)
        inputs, input_scope = bind_inputs(resolved.template, call.arguments, configmaps=ex.configmaps)
        template = _prepare(ex, call, resolved, inputs,
                            {**ex.global_scope, **call.locals, **input_scope, "node.name": call.name})
    except (TemplateError, LangError) as exc:
        ex.update(node_id, phase="Error", message=str(exc))
        return
    try:
        at = template_deadline(ex, call.name, template, retry_attempt=call.retry_attempt)
    except TimeoutFormatError:
        at = None  # reported when the node was made
    if at is not None:
        watch_pending(ex, node_id, at)
    _register(ex, node_id, template)


def _register(ex: Execution, node_id: str, template: dict) -> None:
    st = _state(ex)
    st.active[node_id] = template
    st.to_put[node_id] = template
    result = st.unclaimed.pop(node_id, None)
    if result is not None:
        _take(ex, node_id, result)


def apply_task_set(ex: Execution, task_set: dict, /) -> None:
    """Copy `status.nodes` of the workflow's task set onto the HTTP nodes they name."""
    st = _state(ex)
    st.task_set_made = True  # it exists (after a restart: made by the controller before)
    nodes = (task_set.get("status") or {}).get("nodes")
    if not isinstance(nodes, dict):
        return
    for node_id, result in nodes.items():
        if not isinstance(result, dict):
            continue
        node = ex.nodes.get(node_id)
        if node is None:
            st.unclaimed[node_id] = result  # the walk has not re-made it yet
            continue
        if node.type_ not in ("HTTP", "Plugin"):
            continue
        if node.phase not in FULFILLED:
            _take(ex, node_id, result)
        if node_id not in st.active and ex.nodes[node_id].phase in FULFILLED:
            st.to_prune.append(node_id)  # not registered (a restart): `settle` would not see it


def _take(ex: Execution, node_id: str, result: dict) -> None:
    phase = result.get("phase")
    if phase not in _PHASES or ex.nodes[node_id].phase in FULFILLED:
        return
    changes: dict[str, Any] = {"phase": phase}
    message = result.get("message")
    if isinstance(message, str) and message:
        changes["message"] = message
    outputs = result.get("outputs")
    if isinstance(outputs, dict) and outputs:
        try:
            changes["outputs"] = msgspec.convert(outputs, type=Outputs)
        except msgspec.ValidationError as exc:
            changes.update(phase="Error", message=f"task set node {node_id}: unreadable outputs: {exc}")
    ex.update(node_id, **changes)


def on_agent_pod(ex: Execution, pod: dict, /, *, deleted: bool) -> None:
    """An event of the workflow's agent pod (label component=agent)."""
    st = _state(ex)
    if deleted:
        st.agent_requested = False  # `settle` makes a new one if nodes still wait
        return
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return  # going away (we asked): its last status says nothing about the next agent
    st.agent_requested = True  # it exists (after a restart too): deleted when no node needs it
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    if phase in ("", "Pending", "Running", "Succeeded"):
        return
    # Argo's assessAgentPodStatus: Failed -> the pod's message; anything else is unexpected
    message = (status.get("message") or "") if phase == "Failed" else \
        f"Unexpected pod phase for {st.agent_name}: {phase}"
    for node_id in list(st.active):
        ex.update(node_id, phase="Error", message=AGENT_FAILED.format(message))
    if st.agent_requested:
        ex.actions.append(DeletePod(st.agent_name))  # a fresh one for later HTTP nodes
        st.agent_requested = False


def stop(ex: Execution, message: str, /, *, keep: Any) -> None:
    """Shutdown or deadline: unfinished HTTP nodes fail, except those `keep(node)` spares (exit handlers)."""
    st = ex.http
    if st is None:
        return
    for node_id in list(st.active):
        node = ex.nodes.get(node_id)
        if node is not None and node.phase not in FULFILLED and not keep(node):
            ex.update(node_id, phase="Failed", message=message)


def settle(ex: Execution) -> None:
    """End of a plan: finished nodes leave the task set; tasks are put; the agent pod follows need."""
    st = ex.http
    if st is None:
        return
    changed = ex.changed if len(ex.changed) < len(st.active) else list(st.active)
    for node_id in [n for n in changed if n in st.active]:
        if ex.nodes[node_id].phase in FULFILLED:
            del st.active[node_id]
            st.to_put.pop(node_id, None)
            st.to_prune.append(node_id)
    if st.to_put:
        ex.actions.append(PutTaskSet(dict(st.to_put)))
        st.to_put.clear()
        st.task_set_made = True
    if st.to_prune:
        if st.task_set_made:
            ex.actions.append(PruneTaskSet(tuple(st.to_prune)))
        st.to_prune.clear()
    if st.active and not st.agent_requested and ex.settings.agent_pod_creation:
        ex.actions.append(CreatePod("", agent_pod(ex.meta, ex.spec, settings=ex.settings)))
        st.agent_requested = True
    elif not st.active and st.agent_requested:
        ex.actions.append(DeletePod(st.agent_name))
        st.agent_requested = False


def finish(ex: Execution) -> None:
    """The workflow completed: the task set is marked completed and the agent pod deleted."""
    st = ex.http
    if st is None:
        return
    settle(ex)
    if st.task_set_made:
        ex.actions.append(CompleteTaskSet())
    if st.agent_requested:
        ex.actions.append(DeletePod(st.agent_name))
        st.agent_requested = False
    st.active.clear()


def lost_agent_create(ex: Execution, action: CreatePod, /) -> bool:
    """A failed agent-pod create is issued again only while HTTP nodes still wait."""
    st = ex.http
    return st is not None and bool(st.active) and action.node_id == ""
