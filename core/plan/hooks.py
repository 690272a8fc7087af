"""Exit hooks of steps and tasks (`hooks.exit`, or the older `onExit`): `<node>.onExit` (§5.11).

A hook starts when its step or task node has Completed (not when Skipped or Omitted), in the
same boundary, as a child of that node; its arguments may use the node's own outputs. The group
or DAG waits for it, but its phase never changes the step's own.
"""
from __future__ import annotations

from typing import Any

from tiphys.core.lang.errors import LangError
from tiphys.core.lang.tags import substitute, substitute_object
from tiphys.core.plan.execution import COMPLETED, Execution
from tiphys.core.plan.scope import node_scope
from tiphys.core.plan.walk import Call, execute
from tiphys.core.status import ids

__all__ = ["exit_hook_of", "start_exit_hook"]


def exit_hook_of(step: dict) -> dict | None:
    hooks = step.get("hooks") or {}
    if isinstance(hooks.get("exit"), dict):
        return hooks["exit"]
    if isinstance(step.get("onExit"), str) and step["onExit"]:
        return {"template": step["onExit"]}
    return None


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
