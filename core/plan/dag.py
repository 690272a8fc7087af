"""DAG templates (Argo's dag.go) driven by the compiled scheduler of `tiphys.core.dag`.

Argo rebuilds a DAG's context and visits every task on each reconcile. Here the DAG is compiled
once per template and a `Scheduler` keeps the state: a finished child is one `done()` call and
`ready()` returns exactly the tasks it released, so a pod event costs work proportional to the
successors it touches. After a controller restart the frame is rebuilt by replaying the existing
nodes through the same calls (an O(n) pass, once).
"""
from __future__ import annotations

from collections import deque
from collections import ChainMap
from typing import Any

from tiphys.core.dag import Outcome, Scheduler, compile_dag, from_phase
from tiphys.core.lang.errors import LangError, UnresolvedVariable
from tiphys.core.lang.tags import substitute_object
from tiphys.core.plan.execution import FAILED_OR_ERROR, Execution, continues_on
from tiphys.core.plan.hooks import LifecycleHooks, exit_hook_of, start_exit_hook
from tiphys.core.plan.loops import LoopError, expand
from tiphys.core.plan.outputs import composite_outputs
from tiphys.core.plan.scope import aggregate_scope, node_scope, substitute_call
from tiphys.core.plan.walk import Call, execute, node_kwargs
from tiphys.core.lang.errors import WhenError
from tiphys.core.lang.govaluate import evaluate_when
from tiphys.core.status import ids

__all__ = ["DagFrame", "TaskGroupFrame", "outcome_of"]


def outcome_of(ex: Execution, node_id: str) -> int:
    node = ex.nodes[node_id]
    bits = from_phase(node.phase) if node.phase in ("Succeeded", "Failed", "Error", "Skipped", "Omitted") else 0
    if node.daemoned:
        bits |= int(Outcome.DAEMONED)
    if node.type_ == "TaskGroup":
        phases = [ex.nodes[c].phase for c in node.children or () if c in ex.nodes]
        if any(p == "Succeeded" for p in phases):
            bits |= int(Outcome.ANY_SUCCEEDED)
        if phases and all(p == "Failed" for p in phases):
            bits |= int(Outcome.ALL_FAILED)
    return bits


class DagFrame:
    def __init__(self, ex: Execution, call: Call, resolved: Any, scope: dict) -> None:
        template = resolved.template
        self.node_id = ex.node_id(call.name)
        self.call = call
        self.resolved = resolved
        self.scope = scope
        dag = template.get("dag") or {}
        self.tasks: list[dict] = list(dag.get("tasks") or [])
        self.compiled = ex.compile_once(("dag", resolved.scope, resolved.name, call.name), compile_dag, self.tasks)
        target = dag.get("target")
        if isinstance(target, str) and "{{" in target:
            target = substitute_object(target, scope)
        self.targets = [t for t in (target or "").replace(",", " ").split() if t] or None
        parallelism = template.get("parallelism")
        # Argo's DAG keeps starting tasks whose `depends` hold after a failure (so `B.Failed` handlers
        # run) and lets the failed target decide the phase once nothing runs (§5.5, assessDAGPhase);
        # `failFast` only changes how that phase is assessed, so the scheduler never halts here.
        self.sched = Scheduler(self.compiled, fail_fast=False, targets=self.targets,
                               parallelism=int(parallelism) if isinstance(parallelism, int) else 0)
        self.task_node: dict[int, str] = {}
        self.outcomes: deque[tuple[int, int]] = deque()
        self.first_failure: tuple[str, str] | None = None
        self.hook_queue: deque[tuple[int, str]] = deque()  # finished tasks whose exit hook is to start
        self.lifecycle = LifecycleHooks(self)  # `hooks.<name>` of the tasks
        self.settling: deque[int] = deque()  # fulfilled tasks: counted once their lifecycle hooks are done
        self.fulfilled_tasks: set[int] = set()
        self.settled: set[int] = set()

    @classmethod
    def start(cls, ex: Execution, call: Call, resolved: Any, inputs: dict, scope: dict) -> str:
        node = ex.init_node(call.name, "DAG", phase="Running", inputs=inputs, **node_kwargs(call, resolved))
        frame = cls(ex, call, resolved, scope)
        ex.frames[node.id_] = frame
        ex.schedule(frame)
        return node.id_

    def child_done(self, ex: Execution, child_id: str, slot: Any) -> None:
        if isinstance(slot, tuple) and slot[0] == "lifecycle":  # a lifecycle hook of task slot[1] ended
            t = slot[1]
            if self.lifecycle.hook_done(self.task_node[t]) == 0 and t in self.fulfilled_tasks:
                self.settling.append(t)
        elif isinstance(slot, tuple):  # ("hook", task): the task's exit hook ended, the task counts now
            task = slot[1]
            self.outcomes.append((task, outcome_of(ex, self.task_node[task])))
        else:
            self.fulfilled_tasks.add(slot)
            self.lifecycle.touch(child_id)  # its final status: the hooks are judged once more first
            self.settling.append(slot)

    def _settle(self, ex: Execution) -> None:
        """Fulfilled tasks whose lifecycle hooks are all done: their exit hook, else they count now.

        Argo's executeDAGTask returns before the exit hook while a lifecycle hook is unfulfilled, so
        a task's exit hook starts after its lifecycle hooks; dependents wait for both (§5.11).
        """
        while self.settling:
            t = self.settling.popleft()
            node_id = self.task_node[t]
            if t in self.settled or self.lifecycle.open(node_id) > 0:
                continue
            self.settled.add(t)
            if exit_hook_of(self.tasks[t]) is not None and ex.nodes[node_id].type_ != "TaskGroup":
                self.hook_queue.append((t, node_id))  # dependents wait for the hook (§3.7 readiness)
            else:
                self.outcomes.append((t, outcome_of(ex, node_id)))

    def _watch(self, ex: Execution, t: int, node_id: str) -> None:
        name = self.tasks[t].get("name", "")
        self.lifecycle.track(ex, node_id, self.tasks[t], f"tasks.{name}", f"tasks.{name}", t)

    def _start_hooks(self, ex: Execution) -> None:
        while self.hook_queue:
            t, node_id = self.hook_queue.popleft()
            hook_id = start_exit_hook(ex, self.tasks[t], node_id, self.scope, "tasks", self.call, self.node_id,
                                      self.resolved.context)
            if hook_id is None:
                self.outcomes.append((t, outcome_of(ex, node_id)))
            else:
                ex.wait_for(hook_id, self, ("hook", t))

    def evaluate(self, ex: Execution) -> None:
        progressed = True
        while progressed:
            progressed = False
            self.lifecycle.evaluate(ex, self.scope)
            self._settle(ex)
            self._start_hooks(ex)
            while self.outcomes:
                t, outcome = self.outcomes.popleft()
                self._record(ex, t, outcome)
                self.sched.done(t, outcome)
                progressed = True
            for t in self.sched.take_omitted():
                self._omit(ex, t)
                progressed = True
            if ex.suspended or ex.shutting_down:
                break
            for t in self.sched.ready():
                self._start_task(ex, t)
                progressed = True
        if ex.shutting_down and not self.call.on_exit and self.sched.is_active() is False:
            self._finish(ex, "Failed", None)
        elif not self.sched.is_active():
            self._assess(ex)

    def _record(self, ex: Execution, t: int, outcome: int) -> None:
        task = self.tasks[t]
        node_id = self.task_node[t]
        prefix = f"tasks.{task.get('name')}"
        node = ex.nodes[node_id]
        if node.type_ == "TaskGroup":
            kids = [c for c in node.children or ()]
            self.scope.update(aggregate_scope(prefix, [(ex.nodes[c], ex.outputs_of(c)) for c in kids]))
        else:
            self.scope.update(node_scope(prefix, node, ex.outputs_of(node_id), self._declared(ex, task)))
        if node.phase in FAILED_OR_ERROR and self.first_failure is None and not continues_on(task, node.phase):
            self.first_failure = (node.phase, node_id)

    def _declared(self, ex: Execution, task: dict) -> dict | None:
        name = task.get("template")
        t = ex.templates.get(name) if isinstance(name, str) else None
        return (t or {}).get("outputs")

    def _link(self, ex: Execution, t: int, child_id: str) -> None:
        deps = self.compiled.dependencies(t)
        if not deps:
            ex.add_child(self.node_id, child_id)
        for d in deps:
            dep_node = self.task_node.get(d)
            for o in ex.outbound(dep_node) if dep_node else ():
                ex.add_child(o, child_id)

    def _omit(self, ex: Execution, t: int) -> None:
        name = ids.task_name(self.call.name, self.tasks[t].get("name", ""))
        node = ex.init_node(name, "Skipped", boundary_id=self.node_id, phase="Omitted",
                            message="omitted: depends condition not met")
        self.task_node[t] = node.id_
        self._link(ex, t, node.id_)
        self.scope.update(node_scope(f"tasks.{self.tasks[t].get('name')}", node, None,
                                     self._declared(ex, self.tasks[t])))

    def _skip(self, ex: Execution, t: int, name: str, phase: str, message: str) -> None:
        node = ex.init_node(name, "Skipped", boundary_id=self.node_id, phase=phase, message=message)
        self.task_node[t] = node.id_
        self._link(ex, t, node.id_)
        self._watch(ex, t, node.id_)
        ex.wait_for(node.id_, self, t)

    def _start_task(self, ex: Execution, t: int) -> None:
        task = self.tasks[t]
        name = ids.task_name(self.call.name, task.get("name", ""))
        try:
            # an overlay, not a copy: the scope grows by every finished task (a copy is O(n) a start)
            body = substitute_call(task, ChainMap({"tasks.name": task.get("name", "")}, self.scope), "tasks")
            items = expand(body)
        except UnresolvedVariable as exc:
            self._skip(ex, t, name, "Error", f"task '{name}' errored: {exc}")
            return
        except (LangError, LoopError) as exc:
            self._skip(ex, t, name, "Error", f"task '{name}' errored: {exc}")
            return
        if items is None:
            child_id = self._run(ex, name, task, body, {}, None)
            if child_id is None:
                return
            self.task_node[t] = child_id
            self._link(ex, t, child_id)
            self._watch(ex, t, child_id)
            ex.wait_for(child_id, self, t)
            return
        if not items:
            self._skip(ex, t, name, "Skipped", "Skipped, empty params")
            return
        group = ex.init_node(name, "TaskGroup", boundary_id=self.node_id, phase="Running")
        self.task_node[t] = group.id_
        self._link(ex, t, group.id_)
        frame = TaskGroupFrame(group.id_)
        ex.frames[group.id_] = frame
        for index, (desc, item_scope) in enumerate(items):
            child_body = substitute_object(body, item_scope)
            child_id = self._run(ex, ids.loop_child_name(name, index, desc), task, child_body, item_scope, group.id_)
            if child_id is not None:
                ex.add_child(group.id_, child_id)
                frame.track(ex, child_id)
        self._watch(ex, t, group.id_)
        ex.wait_for(group.id_, self, t)
        ex.schedule(frame)

    def _run(self, ex: Execution, name: str, task: dict, body: dict, item_scope: dict, group: str | None) -> str | None:
        when = body.get("when")
        if when is not None:
            try:
                ok = evaluate_when(str(when))
            except WhenError as exc:
                return ex.init_node(name, "Skipped", boundary_id=self.node_id, phase="Error", message=str(exc)).id_
            if not ok:
                return ex.init_node(name, "Skipped", boundary_id=self.node_id, phase="Skipped",
                                    message=f"when '{when}' evaluated false").id_
        call = Call(name=name, holder=body, arguments=body.get("arguments") or {}, boundary_id=self.node_id,
                    locals={**item_scope, "tasks.name": task.get("name", "")}, depth=self.call.depth + 1,
                    on_exit=self.call.on_exit, context=self.resolved.context)
        return execute(ex, call)

    def _targets(self) -> list[int]:
        if self.targets:
            return [self.compiled.task_index(n) for n in self.targets]
        return [t for t in range(len(self.tasks)) if not self.compiled.successors(t)]

    def _branch_phase(self, ex: Execution, t: int, memo: dict[int, str]) -> str:
        """The phase a target stands for: its own when Completed, else (Skipped/Omitted) its branch's."""
        if t in memo:
            return memo[t]
        node_id = self.task_node.get(t)
        phase = ex.nodes[node_id].phase if node_id else ""
        if phase in ("Skipped", "Omitted"):
            inherited = [self._branch_phase(ex, d, memo) for d in self.compiled.dependencies(t)]
            bad = [p for p in inherited if p in FAILED_OR_ERROR]
            phase = bad[0] if bad else phase
        memo[t] = phase
        return phase

    def _assess(self, ex: Execution) -> None:
        if self.lifecycle.error is not None:  # Argo marks the hooked task Error; here the DAG ends so (hooks.py)
            self._finish(ex, "Error", self.lifecycle.error)
            return
        memo: dict[int, str] = {}
        for t in self._targets():
            phase = self._branch_phase(ex, t, memo)
            if phase in FAILED_OR_ERROR and not continues_on(self.tasks[t], phase):
                self._finish(ex, phase, None)
                return
            if not phase and self.first_failure is not None:
                self._finish(ex, self.first_failure[0], None)
                return
        try:
            outputs = composite_outputs(self.resolved.template, self.scope)
        except LangError as exc:
            self._finish(ex, "Error", str(exc))
            return
        ex.publish_globals(self.resolved.template, outputs)
        ex.update(self.node_id, outputs=outputs)
        self._finish(ex, "Succeeded", None)

    def _finish(self, ex: Execution, phase: str, message: str | None) -> None:
        outbound = [o for t in self._targets() if t in self.task_node for o in ex.outbound(self.task_node[t])]
        ex.update(self.node_id, outbound_nodes=outbound or None)
        ex.update(self.node_id, phase=phase, message=message)


class TaskGroupFrame:
    """A looped DAG task: Succeeded when every child is fulfilled and none failed."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.pending = 0
        self.children: list[str] = []

    def track(self, ex: Execution, child_id: str) -> None:
        self.children.append(child_id)
        self.pending += 1
        ex.wait_for(child_id, self)

    def child_done(self, ex: Execution, child_id: str, slot: Any) -> None:
        self.pending -= 1

    def evaluate(self, ex: Execution) -> None:
        if self.pending > 0:
            return
        failed = [ex.nodes[c].phase for c in self.children if ex.nodes[c].phase in FAILED_OR_ERROR]
        ex.update(self.node_id, phase=failed[-1] if failed else "Succeeded")

