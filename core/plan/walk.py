"""`execute`: Argo's executeTemplate for one call — resolve, bind inputs, create the node.

Composite templates (steps, dag) get a frame that drives their children; a template with a
retryStrategy gets a Retry frame whose attempts are calls of the same template. Leaf templates
become Pod nodes plus a CreatePod action. Calling `execute` for a node that exists returns it
(after a restart it rebuilds the node's frame from its children): creating twice is impossible.
"""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.lang.tags import substitute_object
from tiphys.core.lang.errors import LangError
from tiphys.core.plan.actions import CreatePod
from tiphys.core.plan.artifact_repo import archive_location
from tiphys.core.plan import suspend
from tiphys.core.plan.execution import FULFILLED, Execution
from tiphys.core.plan.templates import LEAF_TYPES, TemplateError, bind_inputs, resolve, template_type
from tiphys.core.spec import Outputs
from tiphys.core.status import ids

__all__ = ["Call", "execute", "MAX_DEPTH"]

MAX_DEPTH = 100


class Call(msgspec.Struct, kw_only=True):
    """One invocation of a template: who calls it, with what, under which boundary."""

    name: str  # the node name
    holder: dict  # the step / task / hook / {"template": entrypoint}
    arguments: dict = {}
    boundary_id: str = ""
    locals: dict = {}  # steps.name / tasks.name / item ...
    depth: int = 0
    on_exit: bool = False
    hooked: bool = False
    retry_attempt: bool = False
    # retryStrategy.affinity.nodeAntiAffinity: hosts of the earlier attempts, kept off (retry.py)
    avoid_hosts: tuple[str, ...] = ()
    context: tuple[str, bool] | None = None  # the WorkflowTemplate this call's `template:` refers into


def execute(ex: Execution, call: Call) -> str:
    node_id = ex.node_id(call.name)
    existing = ex.get(node_id)
    if existing is not None and (existing.phase in FULFILLED or node_id in ex.frames or
                                 existing.type_ in ("Pod", "Suspend", "HTTP")) and not _waits_for_lock(ex, node_id):
        if existing.type_ == "Pod" and node_id not in ex.pod_templates and existing.phase not in FULFILLED:
            _adopt_leaf(ex, call, node_id)
        elif existing.type_ == "HTTP" and existing.phase not in FULFILLED:
            from tiphys.core.plan import http

            http.adopt(ex, call, node_id)
        return node_id
    if call.depth >= MAX_DEPTH:
        return _error_node(ex, call, "Maximum recursion depth exceeded. See "
                           "https://argo-workflows.readthedocs.io/en/latest/scaling/#maximum-recursion-depth")
    try:
        resolved = resolve(call.holder, ex.templates, ex.stored_templates, ex.library, ex.meta.name,
                           ex.spec.get("templateDefaults"), call.context)
        inputs, input_scope = bind_inputs(resolved.template, call.arguments, configmaps=ex.configmaps)
    except TemplateError as exc:
        return _error_node(ex, call, str(exc))
    template = resolved.template
    kind = template_type(template)
    if not kind:
        return _error_node(ex, call, f"Template '{resolved.name}' missing specification")
    if template.get("metrics") is not None and not call.retry_attempt:  # the Retry node carries them
        from tiphys.core.plan.metrics import watch

        watch(ex, node_id, template)
    retry = template.get("retryStrategy") or (ex.spec.get("retryStrategy") if kind in LEAF_TYPES else None)
    fresh = False
    if template.get("synchronization") and not call.retry_attempt:  # §5.3 step 9 (sync.py)
        from tiphys.core.plan import sync

        state = sync.acquire_node(ex, call, node_id, template, kind, retried=bool(retry),
                                  node_kwargs=node_kwargs(call, resolved), inputs=inputs)
        if state in (sync.WAITING, sync.FAILED):
            return node_id
        fresh = state == sync.ACQUIRED_AFTER_WAIT
    scope = {**ex.global_scope, **call.locals, **input_scope, "node.name": call.name}
    if template.get("memoize") is not None and not call.retry_attempt and (fresh or node_id not in ex.nodes):
        from tiphys.core.plan import memo  # §5.3 step 10: a hit (or a bad memoize) ends the node here

        missed = memo.before_start(ex, call, node_id, template, kind, scope=scope, retried=bool(retry),
                                   node_kwargs=node_kwargs(call, resolved), inputs=inputs)
        if missed is None:
            return node_id
        started = _dispatch(ex, call, resolved, inputs, scope, kind, retry, fresh)
        memo.after_start(ex, started, missed)
        return started
    return _dispatch(ex, call, resolved, inputs, scope, kind, retry, fresh)


def _dispatch(ex: Execution, call: Call, resolved: Any, inputs: dict, scope: dict, kind: str, retry: Any,
              fresh: bool) -> str:
    if retry and not call.retry_attempt:
        from tiphys.core.plan.retry import RetryFrame

        return RetryFrame.start(ex, call, resolved, inputs, retry)
    if kind in LEAF_TYPES:
        return _start_leaf(ex, call, resolved, inputs, scope, fresh=fresh)
    if kind == "steps":
        from tiphys.core.plan.steps import StepsFrame

        return StepsFrame.start(ex, call, resolved, inputs, scope)
    if kind == "dag":
        from tiphys.core.plan.dag import DagFrame

        return DagFrame.start(ex, call, resolved, inputs, scope)
    if kind == "suspend":
        return _start_suspend(ex, call, resolved, inputs, scope)
    if kind == "http":  # the task set and the agent pod (http.py)
        from tiphys.core.plan import http

        return http.start(ex, call, resolved, inputs, scope)
    return _error_node(ex, call, f"{kind} templates are not supported by tiphys yet")


def node_kwargs(call: Call, resolved: Any) -> dict:
    return dict(boundary_id=call.boundary_id, template_name=resolved.name if not resolved.ref else "",
                template_ref=resolved.ref, template_scope=resolved.scope, hooked=call.hooked,
                retried=call.retry_attempt)


def _error_node(ex: Execution, call: Call, message: str) -> str:
    node = ex.init_node(call.name, "Skipped", boundary_id=call.boundary_id, phase="Error", message=message,
                        hooked=call.hooked)
    return node.id_


def _substitute(ex: Execution, template: dict, scope: dict) -> dict:
    body = {k: v for k, v in template.items() if k not in ("steps", "dag")}
    return substitute_object(body, scope)


def pod_name_of(ex: Execution, call: Call, resolved: Any) -> str:
    version = ids.pod_name_version(ex.meta.annotations.get("workflows.argoproj.io/pod-name-format")
                                   or ex.settings.pod_name_format)
    ex.node_id(call.name)  # settles the salt if its hash is taken
    return ids.pod_name(ex.meta.name, call.name, resolved.name, version=version, salt=ex.salts.get(call.name, 0))


def _waits_for_lock(ex: Execution, node_id: str) -> bool:
    node = ex.nodes[node_id]
    return node.phase == "Pending" and (node_id in ex.lock_waiting or bool(
        node.synchronization_status is not None and node.synchronization_status.waiting))


def _start_leaf(ex: Execution, call: Call, resolved: Any, inputs: dict, scope: dict, *, fresh: bool = False) -> str:
    pod_name = pod_name_of(ex, call, resolved)
    scope = {**scope, "pod.name": pod_name}
    for p in (resolved.template.get("outputs") or {}).get("parameters") or ():
        path = (p.get("valueFrom") or {}).get("path")
        if path:
            scope[f"outputs.parameters.{p.get('name')}.path"] = path
    for a in (resolved.template.get("outputs") or {}).get("artifacts") or ():
        if a.get("path"):
            scope[f"outputs.artifacts.{a.get('name')}.path"] = a["path"]
    try:
        template = _substitute(ex, resolved.template, scope)
    except LangError as exc:
        return _error_node(ex, call, str(exc))
    if inputs.get("artifacts"):
        # artifact locations are templated (`key: "{{workflow.name}}/x"`); parameter values are
        # already final and are never substituted twice
        try:
            inputs = {**inputs, "artifacts": substitute_object(inputs["artifacts"], scope)}
        except LangError as exc:
            return _error_node(ex, call, str(exc))
    if inputs:
        template = {**template, "inputs": inputs}
    template = _with_archive_location(ex, template, scope)
    existed = ex.node_id(call.name) in ex.nodes and not fresh  # fresh: made while it waited for a lock
    node = ex.init_node(call.name, "Pod", inputs=inputs, **node_kwargs(call, resolved))
    if not existed and any(template.get(k) is not None for k in ("container", "script", "containerSet")):
        # the outputs gate (§5.7): its `wait` container reports through a WorkflowTaskResult; until
        # that arrives a Succeeded pod does not fulfil the node (dependents would miss its outputs)
        node = ex.update(node.id_, task_result_synced=False)
    if ex.spec_parallelism_reached():
        ex.deferred.append(lambda: _create_pod(ex, call, node.id_, pod_name, template))
        return node.id_
    _create_pod(ex, call, node.id_, pod_name, template)
    return node.id_


def _create_pod(ex: Execution, call: Call, node_id: str, pod_name: str, template: dict) -> bool:
    if ex.spec_parallelism_reached():
        return False
    if ex.shutting_down and not call.on_exit:
        # no pod, so no outputs will come: the node must not wait for a task result (§5.7)
        ex.update(node_id, phase="Failed", message=f"workflow shutdown with strategy:  {ex.spec.get('shutdown')}",
                  task_result_synced=True)
        return True
    from tiphys.core.plan._poderrors import PodSpecError
    from tiphys.core.plan.deadlines import (TimeoutFormatError, pending_deadline, pod_deadline, template_deadline,
                                            watch_pending)
    from tiphys.core.plan.podspec import build_pod

    try:
        timeout_at = template_deadline(ex, call.name, template, retry_attempt=call.retry_attempt)
        pending_at = pending_deadline(ex, call.name, template)
    except TimeoutFormatError as exc:
        ex.update(node_id, phase="Error", message=str(exc), task_result_synced=True)
        return True
    spec = ex.spec
    if isinstance(spec.get("podSpecPatch"), str) and "{{" in spec["podSpecPatch"]:
        # the workflow-level patch is templated with globals and pod.name (§5.6)
        patch = substitute_object(spec["podSpecPatch"], {**ex.global_scope, "pod.name": pod_name})
        spec = {**spec, "podSpecPatch": patch}
    try:
        pod = build_pod(template, meta=ex.meta, spec=spec, node_id=node_id, node_name=call.name,
                        pod_name=pod_name, settings=ex.settings, on_exit=call.on_exit,
                        deadline=pod_deadline(ex, timeout_at, on_exit=call.on_exit),
                        template_name=template.get("name", ""), now=ex.now_ts, avoid_hosts=call.avoid_hosts,
                        # Argo captures stdout only where `outputs.result` may be read; we always do, so a
                        # reference added by a later step never finds it missing
                        include_script_output=True)
    except PodSpecError as exc:  # Argo: any pod construction failure is a node Error
        ex.update(node_id, phase="Error", message=str(exc), task_result_synced=True)
        return True
    ex.actions.append(CreatePod(node_id, pod))
    ex.pod_templates[node_id] = template
    ex.leaf_of_pod[pod_name] = node_id
    ex.pods_active += 1
    watch_at = min((t for t in (timeout_at, pending_at) if t is not None), default=None)
    if watch_at is not None and ex.nodes[node_id].phase == "Pending":
        watch_pending(ex, node_id, watch_at)
    return True


def _adopt_leaf(ex: Execution, call: Call, node_id: str) -> None:
    """After a restart: remember the pod of an unfinished leaf node (the pod itself exists or is re-made)."""
    try:
        resolved = resolve(call.holder, ex.templates, ex.stored_templates, ex.library, ex.meta.name,
                           ex.spec.get("templateDefaults"), call.context)
        inputs, input_scope = bind_inputs(resolved.template, call.arguments, configmaps=ex.configmaps)
    except TemplateError:
        return
    if resolved.template.get("metrics") is not None and not call.retry_attempt:
        from tiphys.core.plan.metrics import watch  # its completion after the restart is still seen

        watch(ex, node_id, resolved.template)
    pod_name = pod_name_of(ex, call, resolved)
    scope = {**ex.global_scope, **call.locals, **input_scope, "node.name": call.name, "pod.name": pod_name}
    try:
        template = _substitute(ex, resolved.template, scope)
    except LangError:
        return
    ex.pod_templates[node_id] = _with_archive_location(ex, {**template, **({"inputs": inputs} if inputs else {})},
                                                       scope)
    ex.leaf_of_pod[pod_name] = node_id
    ex.pods_active += 1
    ex.adopted.append((call, node_id, pod_name))


def _with_archive_location(ex: Execution, template: dict, scope: dict) -> dict:
    """The workflow's artifact repository as the template's `archiveLocation` where it needs one
    (core.plan.artifact_repo), its key format rendered with the globals and `pod.name`."""
    # set by the controller once the repository is resolved; an Execution made without one
    # (core-only callers) leaves templates as they are
    repository = getattr(ex, "artifact_repository", None)
    if repository is None:
        return template
    location = archive_location(template, repository, workflow_archive_logs=ex.spec.get("archiveLogs"))
    if location is None:
        return template
    try:
        location = substitute_object(location, scope)
    except LangError:
        pass  # an unknown tag stays: the executor renders the key variables it knows, naming others
    return {**template, "archiveLocation": location}


def _start_suspend(ex: Execution, call: Call, resolved: Any, inputs: dict, scope: dict) -> str:
    fresh = ex.node_id(call.name) not in ex.nodes
    node = ex.init_node(call.name, "Suspend", phase="Running", inputs=inputs, **node_kwargs(call, resolved))
    if fresh and (raw := suspend.raw_outputs(resolved.template)) is not None:
        try:  # the processed template's declarations, as Argo's addRawOutputFields copies them
            raw = substitute_object(raw, scope)
        except LangError:
            pass  # a tag only a later value can fill (the default names an output): kept as written
        node = ex.update(node.id_, outputs=msgspec.convert(raw, type=Outputs))
    if node.phase == "Running":
        ex.active_suspends.add(node.id_)
    duration = (resolved.template.get("suspend") or {}).get("duration")
    if duration is not None:
        from tiphys.core.plan.timeouts import parse_duration

        seconds = parse_duration(str(substitute_object(duration, scope)))
        ex.suspends[node.id_] = ex.now_ts + seconds
        ex.requeue(ex.now_ts + seconds)
    return node.id_
