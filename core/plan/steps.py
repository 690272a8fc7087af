"""Steps templates (Argo's steps.go): groups run in order, the steps of a group in parallel.

The frame holds the index of the current group and counts its unfinished children, so a child's
completion costs O(1) and only the group's last completion advances to the next group.
"""
from __future__ import annotations

from collections import ChainMap
from typing import Any

from tiphys.core.lang.tags import substitute_object
from tiphys.core.lang.errors import LangError, UnresolvedVariable
from tiphys.core.plan.execution import FAILED_OR_ERROR, Execution, continues_on
from tiphys.core.plan.hooks import LifecycleHooks, exit_hook_of, start_exit_hook
from tiphys.core.plan.loops import LoopError, expand
from tiphys.core.plan.outputs import composite_outputs
from tiphys.core.plan.scope import aggregate_scope, node_scope, substitute_call
from tiphys.core.plan.walk import Call, execute, node_kwargs
from tiphys.core.lang.errors import WhenError
from tiphys.core.lang.govaluate import evaluate_when
from tiphys.core.status import ids

__all__ = ["StepsFrame"]


class StepsFrame:
    def __init__(self, ex: Execution, call: Call, resolved: Any, scope: dict) -> None:
        self.node_id = ex.node_id(call.name)
        self.call = call
        self.resolved = resolved
        self.groups: list[list[dict]] = [g for g in resolved.template.get("steps") or []]
        self.scope = scope
        self.group = -1
        self.pending = 0  # unfulfilled children of the current group
        self.children: list[tuple[str, dict, bool]] = []  # (node id, step, looped) of the current group
        self.prev_outbound: list[str] = []
        # template `parallelism`: steps of a group wait here for a free slot
        limit = resolved.template.get("parallelism")
        self.limit = limit if isinstance(limit, int) and limit > 0 else 0
        self.fail_fast = resolved.template.get("failFast") is True
        self.queued: list = []
        self.running = 0
        self.failed_child = False
        self.stopped_fast = False
        self.step_of: dict[str, dict] = {}  # child node id -> its step (for exit hooks)
        self.hook_queue: list[str] = []  # finished children whose exit hook is still to start
        self.lifecycle = LifecycleHooks(self)  # `hooks.<name>` of the current group's steps
        self.lifecycle.on_made = self._hook_made

    @classmethod
    def start(cls, ex: Execution, call: Call, resolved: Any, inputs: dict, scope: dict) -> str:
        node = ex.init_node(call.name, "Steps", phase="Running", inputs=inputs, **node_kwargs(call, resolved))
        frame = cls(ex, call, resolved, scope)
        ex.frames[node.id_] = frame
        ex.schedule(frame)
        return node.id_

    def _hook_made(self, slot: Any) -> None:
        self.pending += 1  # the group closes only when every lifecycle hook node made is fulfilled

    def child_done(self, ex: Execution, child_id: str, slot: Any) -> None:
        if isinstance(slot, tuple):  # ("lifecycle", child): one of a child's lifecycle hooks ended
            self.pending -= 1
            self.lifecycle.hook_done(slot[1])
            return
        self.lifecycle.touch(child_id)  # fulfilled (maybe only now, by its task result): judge once more
        if slot != "hook" and exit_hook_of(self.step_of.get(child_id) or {}) is not None:
            self.hook_queue.append(child_id)  # its slot passes to the hook, started in evaluate()
        else:
            self.pending -= 1
        if slot == "started":
            self.running -= 1
        if ex.nodes[child_id].phase in FAILED_OR_ERROR:
            self.failed_child = True

    def _fill(self, ex: Execution) -> None:
        """Start queued steps while the template's parallelism allows."""
        while self.queued and (not self.limit or self.running < self.limit):
            if self.fail_fast and self.failed_child:
                # Argo: failFast + a failed child, nothing active -> the group and template fail
                self.queued.clear()
                self.stopped_fast = True
                return
            start = self.queued.pop(0)
            start()

    def _start_hooks(self, ex: Execution) -> None:
        while self.hook_queue:
            child_id = self.hook_queue.pop(0)
            hook_id = start_exit_hook(ex, self.step_of[child_id], child_id, self.scope, "steps", self.call,
                                      self.node_id, self.resolved.context)
            if hook_id is None:
                self.pending -= 1
            else:
                ex.wait_for(hook_id, self, "hook")

    def evaluate(self, ex: Execution) -> None:
        self.lifecycle.evaluate(ex, self.scope)
        self._start_hooks(ex)
        self._fill(ex)
        while self.pending <= 0 and not self.queued:
            if self.group >= 0 and not self._close_group(ex):
                return
            if ex.suspended or ex.shutting_down:
                if ex.shutting_down:
                    self._finish(ex, "Failed", f"Stopped with strategy '{ex.spec.get('shutdown')}'")
                return
            self.group += 1
            if self.group >= len(self.groups):
                self._succeed(ex)
                return
            if not self._open_group(ex):
                return
            # children found fulfilled at once (a restart, a skipped step) are judged before the group closes
            self.lifecycle.evaluate(ex, self.scope)

    def _group_name(self) -> str:
        return ids.step_group_name(self.call.name, self.group)

    def _open_group(self, ex: Execution) -> bool:
        name = self._group_name()
        gnode = ex.init_node(name, "StepGroup", boundary_id=self.node_id, phase="Running")
        parents = self.prev_outbound or [self.node_id]
        for p in parents:
            ex.add_child(p, gnode.id_)
        self.children = []
        steps = self.groups[self.group] or []
        for step in steps:
            try:
                # an overlay, not a copy: the scope grows by every finished step
                resolved_step = substitute_call(step, ChainMap({"steps.name": step.get("name", "")}, self.scope),
                                                "steps")
            except UnresolvedVariable as exc:
                # Argo requeues while a producer may still finish; ours have all finished here
                self._step_error(ex, gnode.id_, step, str(exc))
                continue
            except LangError as exc:
                self._step_error(ex, gnode.id_, step, str(exc))
                continue
            try:
                items = expand(resolved_step)
            except LoopError as exc:
                self._step_error(ex, gnode.id_, step, str(exc))
                continue
            base = ids.step_name(name, step.get("name", ""))
            if items is None:
                self._queue(ex, gnode.id_, base, step, resolved_step, {}, False)
            elif not items:
                node = ex.init_node(base, "Skipped", boundary_id=self.node_id, phase="Skipped",
                                    message="Skipped, empty params")
                ex.add_child(gnode.id_, node.id_)
                self._track(ex, node.id_, step, True)
            else:
                for index, (desc, item_scope) in enumerate(items):
                    child = substitute_object(resolved_step, item_scope)
                    self._queue(ex, gnode.id_, ids.loop_child_name(base, index, desc), step, child, item_scope, True)
        self._fill(ex)
        return True

    def _queue(self, ex: Execution, group_id: str, name: str, step: dict, body: dict, item_scope: dict,
               looped: bool) -> None:
        def start() -> None:
            self.running += 1
            self._run_step(ex, group_id, name, step, body, item_scope, looped, slot="started")
        self.queued.append(start)

    def _step_error(self, ex: Execution, group_id: str, step: dict, message: str) -> None:
        node = ex.init_node(ids.step_name(self._group_name(), step.get("name", "")), "Skipped",
                            boundary_id=self.node_id, phase="Error", message=message)
        ex.add_child(group_id, node.id_)
        self._track(ex, node.id_, step, False)

    def _run_step(self, ex: Execution, group_id: str, name: str, step: dict, body: dict, item_scope: dict,
                  looped: bool, slot: Any = None) -> None:
        when = body.get("when")
        if when is not None:
            try:
                ok = evaluate_when(str(when))
            except WhenError as exc:
                node = ex.init_node(name, "Skipped", boundary_id=self.node_id, phase="Error", message=str(exc))
                ex.add_child(group_id, node.id_)
                self._track(ex, node.id_, step, looped, slot)
                return
            if not ok:
                node = ex.init_node(name, "Skipped", boundary_id=self.node_id, phase="Skipped",
                                    message=f"when '{when}' evaluated false")
                ex.add_child(group_id, node.id_)
                self._track(ex, node.id_, step, looped, slot)
                return
        call = Call(name=name, holder=body, arguments=body.get("arguments") or {}, boundary_id=self.node_id,
                    locals={**item_scope, "steps.name": step.get("name", "")}, depth=self.call.depth + 1,
                    on_exit=self.call.on_exit, context=self.resolved.context)
        child_id = execute(ex, call)
        ex.add_child(group_id, child_id)
        self._track(ex, child_id, step, looped, slot)

    def _track(self, ex: Execution, child_id: str, step: dict, looped: bool, slot: Any = None) -> None:
        self.children.append((child_id, step, looped))
        self.step_of[child_id] = step
        self.pending += 1
        node = ex.nodes[child_id]
        self.lifecycle.track(ex, child_id, step, f"steps.{node.display_name or step.get('name', '')}",
                             f"steps.{step.get('name', '')}", child_id)
        ex.wait_for(child_id, self, slot)

    def _close_group(self, ex: Execution) -> bool:
        """The current group's children are all fulfilled: judge it, publish outputs. False = stop here."""
        gid = ex.node_id(self._group_name())
        failed = None
        for child_id, step, _ in self.children:
            child = ex.nodes[child_id]
            if child.phase in FAILED_OR_ERROR and not continues_on(step, child.phase):
                failed = child
                break
        by_step: dict[str, list[str]] = {}
        for child_id, step, looped in self.children:
            by_step.setdefault(step.get("name", ""), []).append(child_id)
        for step_name, child_ids in by_step.items():
            looped = any(l for c, s, l in self.children if s.get("name") == step_name)
            prefix = f"steps.{step_name}"
            if looped:
                self.scope.update(aggregate_scope(prefix, [(ex.nodes[c], ex.outputs_of(c)) for c in child_ids]))
            else:
                c = child_ids[-1]
                self.scope.update(node_scope(prefix, ex.nodes[c], ex.outputs_of(c)))
        outbound = [o for c, _, _ in self.children for o in ex.outbound(c)]
        self.prev_outbound = outbound or [gid]
        if self.lifecycle.error is not None:  # Argo marks the group Error, then fails the Steps node with it
            message = self.lifecycle.error
            ex.update(gid, phase="Error", message=message)
            self._finish(ex, "Failed", message)
            return False
        if failed is not None:
            message = "template has failed or errored children and failFast enabled" if self.stopped_fast \
                else f"child '{failed.id_}' failed"
            ex.update(gid, phase="Failed", message=message)
            self._finish(ex, "Failed", message)
            return False
        ex.update(gid, phase="Succeeded")
        return True

    def _succeed(self, ex: Execution) -> None:
        try:
            outputs = composite_outputs(self.resolved.template, self.scope)
        except LangError as exc:
            self._finish(ex, "Error", str(exc))
            return
        ex.publish_globals(self.resolved.template, outputs)
        ex.update(self.node_id, outputs=outputs)
        self._finish(ex, "Succeeded", None)

    def _finish(self, ex: Execution, phase: str, message: str | None) -> None:
        ex.update(self.node_id, outbound_nodes=self.prev_outbound or None)
        ex.update(self.node_id, phase=phase, message=message)

