"""Exit hooks and lifecycle hooks of steps, tasks and the workflow (§5.11).

Exit hooks (`hooks.exit`, or the older `onExit`): `<node>.onExit` starts when its step or task
node has Completed (not when Skipped or Omitted), in the same boundary, as a child of that node;
its arguments may use the node's own outputs. The group or DAG waits for it, but its phase never
changes the step's own.

Lifecycle hooks (`hooks.<name>` with an `expression`): the first time the expression is true the
node `<node>.hooks.<name>` (workflow level: `wf.hooks.<name>`, a child of the root) is created,
and from then on it is driven to completion whatever the expression says. A step group, a DAG's
dependants, and the workflow's exit handler wait for every hook node that was created.

When expressions are evaluated. Argo evaluates them on every reconcile, walking the whole tree.
tiphys evaluates a step/task hook when something its environment holds may have changed: when the
hooked node is tracked (created, or found again after a restart), on every phase change of the
hooked node (`Execution.phase_watch`, called from `_put`), and when it becomes fulfilled (its task
result may arrive after its phase). The environment is the frame's scope plus the hooked node's
own `steps.<s>.*` / `tasks.<t>.*`; the frame's scope does not change while the node runs (a steps
group publishes outputs when it closes, a DAG task's ancestors are all done before it starts), so
an expression over a sibling's status is seen only at those moments. Workflow-level hooks are few
and their globals (`workflow.status`, `workflow.duration`, global outputs) change anywhere, so
those not yet fired are evaluated once per plan: O(hooks), independent of the tree's size.

Expression errors. Argo marks the node whose hooks it was running Error with the evaluation error:
the step group (then the Steps node Failed with the same message), the DAG task node, or the
workflow's root node. tiphys never changes a node that is already fulfilled and does not abandon
running children, so it records the error and applies it when the place finishes: the step group
ends Error with the message (the Steps node Failed), the DAG ends Error, the workflow ends Error.
The hook is not evaluated again and no hook node is made.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

from tiphys.core.lang.conditions import evaluate_condition
from tiphys.core.lang.errors import LangError
from tiphys.core.lang.tags import substitute, substitute_object
from tiphys.core.plan.execution import COMPLETED, Execution
from tiphys.core.plan.scope import node_scope
from tiphys.core.plan.walk import Call, execute
from tiphys.core.status import ids

__all__ = ["exit_hook_of", "start_exit_hook", "lifecycle_hooks_of", "LifecycleHooks", "WorkflowHooks"]


def exit_hook_of(step: dict) -> dict | None:
    hooks = step.get("hooks") or {}
    if isinstance(hooks.get("exit"), dict):
        return hooks["exit"]
    if isinstance(step.get("onExit"), str) and step["onExit"]:
        return {"template": step["onExit"]}
    return None


def lifecycle_hooks_of(holder: dict) -> list[tuple[str, dict]]:
    """The non-exit hooks of a step, task or workflow spec, by name (Argo's map order is random)."""
    hooks = holder.get("hooks")
    if not isinstance(hooks, dict):
        return []
    return sorted((str(k), v) for k, v in hooks.items() if k != "exit" and isinstance(v, dict))


def start_exit_hook(ex: Execution, step: dict, node_id: str, scope: dict, prefix: str, parent: Call,
                    boundary_id: str, context: Any) -> str | None:
    """Start the hook of a finished step/task node; its node id, or None when there is none to run."""
    hook = exit_hook_of(step)
    node = ex.nodes[node_id]
    if hook is None or node.phase not in COMPLETED:
        return None
    own = node_scope(f"{prefix}.{step.get('name', '')}", node, ex.outputs_of(node_id))
    local = {**scope, **own}
    name = ids.exit_handler_name(node.name or "")
    expression = hook.get("expression")
    try:
        if expression and substitute("{{=" + str(expression) + "}}", local) != "true":
            return None
        body = substitute_object({k: v for k, v in hook.items() if k != "expression"}, local)
    except LangError as exc:
        failed = ex.init_node(name, "Skipped", boundary_id=boundary_id, phase="Error", message=str(exc), hooked=True)
        ex.add_child(node_id, failed.id_)
        return failed.id_
    call = Call(name=name, holder=body, arguments=body.get("arguments") or {}, boundary_id=boundary_id,
                locals=dict(parent.locals), depth=parent.depth + 1, on_exit=True, hooked=True, context=context)
    hook_id = execute(ex, call)
    ex.add_child(node_id, hook_id)
    return hook_id


class HookError(Exception):
    """A lifecycle hook's expression could not be evaluated (Argo's `EvalBool` message)."""


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=256)
def _names_in(expression: str) -> frozenset[str] | None:
    """Identifiers an expression can read by name; None when it may read any (`$env`)."""
    return None if "$env" in expression else frozenset(_IDENT.findall(expression))


def _visible(expression: str, scope: dict) -> dict:
    """The scope entries an expression can reach: building the env of every global per event
    would cost more than the evaluation (a key's first segment must be named in the text)."""
    names = _names_in(expression)
    if names is None:
        return scope
    return {k: v for k, v in scope.items() if k.split(".", 1)[0] in names}


def _fires(hook: dict, scope: dict, hook_node: str) -> bool:
    expression = hook.get("expression")
    if not expression:  # validation refuses this; a spec edited in place could still carry it
        raise HookError(f"Expression required for hook {hook_node}")
    try:
        return evaluate_condition(str(expression), _visible(str(expression), scope))
    except LangError as exc:
        raise HookError(f"unable to evaluate expression '{expression}': {exc}") from exc


def _hook_call(hook: dict, name: str, arguments: dict, *, boundary_id: str, parent: Call | None,
               context: Any) -> Call:
    holder = {k: hook[k] for k in ("template", "templateRef", "inline") if k in hook}
    return Call(name=name, holder=holder, arguments=arguments, boundary_id=boundary_id,
                locals=dict(parent.locals) if parent else {}, depth=parent.depth + 1 if parent else 0,
                on_exit=True, hooked=True, context=context)  # Argo runs hooks as onExit templates


class _Hooked:
    """One hooked step/task node: its hooks, which were made, how many are unfulfilled."""

    __slots__ = ("hooks", "key", "arg_prefix", "slot", "made", "open")

    def __init__(self, hooks: list[tuple[str, dict]], key: str, arg_prefix: str, slot: Any) -> None:
        self.hooks = hooks
        self.key = key  # `steps.<display name>` / `tasks.<name>`: where the expression sees its status
        self.arg_prefix = arg_prefix  # `steps.<step name>`: where hook arguments see its outputs
        self.slot = slot  # the frame's own tag for this node, passed back with ("lifecycle", slot)
        self.made: set[str] = set()
        self.open = 0


class LifecycleHooks:
    """The lifecycle hooks of one Steps or DAG frame's children.

    The frame `track`s each child whose step/task has hooks, calls `evaluate` at the start of its
    own evaluation, and waits for every hook node made with slot `("lifecycle", slot)`;
    `hook_done` tells it how many are still open for that child.
    """

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.nodes: dict[str, _Hooked] = {}
        self.dirty: dict[str, None] = {}  # ordered set of hooked node ids to evaluate
        self.error: str | None = None  # the first expression error (applied by the frame)
        self.on_made: Callable[[Any], None] | None = None  # the frame counts a new open hook

    def track(self, ex: Execution, node_id: str, holder: dict, key: str, arg_prefix: str, slot: Any) -> None:
        hooks = lifecycle_hooks_of(holder)
        if not hooks or node_id in self.nodes:
            return
        self.nodes[node_id] = _Hooked(hooks, key, arg_prefix, slot)
        ex.phase_watch[node_id] = self._changed
        self.dirty[node_id] = None
        ex.schedule(self.frame)

    def _changed(self, ex: Execution, node_id: str) -> None:
        self.dirty[node_id] = None
        ex.schedule(self.frame)

    def touch(self, node_id: str) -> None:
        if node_id in self.nodes:
            self.dirty[node_id] = None

    def open(self, node_id: str) -> int:
        entry = self.nodes.get(node_id)
        return entry.open if entry is not None else 0

    def hook_done(self, node_id: str) -> int:
        entry = self.nodes[node_id]
        entry.open -= 1
        return entry.open

    def evaluate(self, ex: Execution, scope: dict) -> None:
        while self.dirty:
            node_id = next(iter(self.dirty))
            del self.dirty[node_id]
            self._evaluate(ex, node_id, scope)
            if ex.fulfilled(node_id):  # its status is final: nothing it depends on changes any more
                ex.phase_watch.pop(node_id, None)

    def _evaluate(self, ex: Execution, node_id: str, scope: dict) -> None:
        entry = self.nodes[node_id]
        node = ex.nodes[node_id]
        outputs = ex.outputs_of(node_id)
        local = {**scope, **node_scope(entry.key, node, outputs)}
        frame = self.frame
        for name, hook in entry.hooks:
            if name in entry.made:
                continue
            hook_node = ids.hook_name(node.name or "", name)
            if ex.node_id(hook_node) not in ex.nodes:  # made before a restart: found again, not re-judged
                try:
                    if not _fires(hook, local, hook_node):
                        continue
                except HookError as exc:
                    entry.made.add(name)  # judged once: Argo would fail the same way on every reconcile
                    self.error = self.error or str(exc)
                    continue
            entry.made.add(name)
            arguments = hook.get("arguments") or {}
            if arguments:
                try:
                    arguments = substitute_object(arguments, {**local, **node_scope(entry.arg_prefix, node, outputs)})
                except LangError as exc:
                    self.error = self.error or str(exc)
                    continue
            call = _hook_call(hook, hook_node, arguments, boundary_id=frame.node_id, parent=frame.call,
                              context=frame.resolved.context)
            hook_id = execute(ex, call)
            ex.add_child(node_id, hook_id)
            entry.open += 1
            if self.on_made is not None:
                self.on_made(entry.slot)
            ex.wait_for(hook_id, frame, ("lifecycle", entry.slot))


class WorkflowHooks:
    """`spec.hooks.<name>` other than `exit`: `wf.hooks.<name>`, children of the root, no boundary."""

    def __init__(self, spec: dict) -> None:
        self.hooks = lifecycle_hooks_of(spec)
        self.made: dict[str, str] = {}  # hook name -> node id
        self.error: str | None = None

    def run(self, ex: Execution, root_phase: str) -> None:
        """Evaluate the hooks not made yet and make those that fire.

        `workflow.status` is the root node's phase as a workflow phase, as Argo sets it just before
        it runs these hooks (Skipped/Omitted read as Succeeded).
        """
        if not self.hooks:
            return
        status = {"Skipped": "Succeeded", "Omitted": "Succeeded"}.get(root_phase, root_phase)
        scope = {**ex.global_scope, "workflow.status": status}
        for name, hook in self.hooks:
            if name in self.made:
                continue
            hook_node = ids.hook_name(ex.meta.name, name)
            if ex.node_id(hook_node) not in ex.nodes:
                try:
                    if not _fires(hook, scope, hook_node):
                        continue
                except HookError as exc:
                    self.made[name] = ""
                    self.error = self.error or str(exc)
                    continue
            call = _hook_call(hook, hook_node, hook.get("arguments") or {}, boundary_id="", parent=None, context=None)
            self.made[name] = execute(ex, call)
            ex.add_child(ex.root_id, self.made[name])

    def fulfilled(self, ex: Execution) -> bool:
        """Every hook node made so far is fulfilled (the exit handler waits for them)."""
        return all(not hook_id or ex.fulfilled(hook_id) for hook_id in self.made.values())
