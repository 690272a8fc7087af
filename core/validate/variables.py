"""Every `{{tag}}` a template uses names something that exists where it is used.

Scopes follow Argo's validator: globals everywhere; a template's own inputs and declared output
paths inside it; in a steps template, the steps of earlier groups; in a DAG, the task's ancestors;
`item` only under a loop; metric-only names only in `metrics`. Expression tags (`{{= ... }}`)
are checked by the expression parser, not here.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from tiphys.core.spec import SpecError
from tiphys.core.validate.context import SpecContext, TemplateSite, _dict, _list
from tiphys.core.validate.graph import task_dependencies
from tiphys.core.validate.references import resolve_callee

__all__ = ["check_variables", "simple_tags"]

_TAG = re.compile(r"\{\{(?!=)(.*?)\}\}", re.S)
GLOBALS = {"workflow.name", "workflow.namespace", "workflow.uid", "workflow.mainEntrypoint",
           "workflow.serviceAccountName", "workflow.creationTimestamp", "workflow.priority", "workflow.scheduledTime",
           "workflow.parameters", "workflow.parameters.json", "workflow.labels", "workflow.labels.json",
           "workflow.annotations", "workflow.annotations.json", "workflow.status", "workflow.duration",
           "workflow.failures"}
GLOBAL_PREFIXES = ("workflow.labels.", "workflow.annotations.", "workflow.outputs.parameters.",
                   "workflow.outputs.artifacts.", "workflow.creationTimestamp.")
LOCALS = {"pod.name", "node.name", "steps.name", "tasks.name", "retries", "inputs.parameters",
          "inputs.parameters.json", "lastRetry.exitCode", "lastRetry.status", "lastRetry.duration",
          "lastRetry.message"}
METRIC_NAMES = {"status", "duration", "exitCode", "retries", "outputs.result", "resourcesDuration.cpu",
                "resourcesDuration.memory"}
NODE_FIELDS = {"id", "ip", "status", "exitCode", "startedAt", "finishedAt", "hostNodeName", "outputs.result",
               "outputs.parameters", "outputs.artifacts", "outputs"}


def simple_tags(text: str) -> Iterator[str]:
    for m in _TAG.finditer(text):
        yield m.group(1).strip()


def _leaves(value: Any, path: tuple, skip: frozenset = frozenset()) -> Iterator[tuple[tuple, str]]:
    stack = [(path, value)]
    while stack:
        p, v = stack.pop()
        if isinstance(v, str):
            if "{{" in v:
                yield p, v
        elif isinstance(v, dict):
            for k, item in v.items():
                if len(p) == len(path) and k in skip:
                    continue
                stack.append((p + (k,), item))
        elif isinstance(v, list):
            stack.extend((p + (i,), item) for i, item in enumerate(v))


class _Scope:
    def __init__(self, ctx: SpecContext, template: dict) -> None:
        self.ctx = ctx
        inputs = _dict(template.get("inputs"))
        outputs = _dict(template.get("outputs"))
        names = {f"inputs.parameters.{_dict(p).get('name')}" for p in _list(inputs.get("parameters"))}
        for a in _list(inputs.get("artifacts")):
            names |= {f"inputs.artifacts.{_dict(a).get('name')}", f"inputs.artifacts.{_dict(a).get('name')}.path"}
        for p in _list(outputs.get("parameters")):
            names.add(f"outputs.parameters.{_dict(p).get('name')}.path")
        for a in _list(outputs.get("artifacts")):
            names.add(f"outputs.artifacts.{_dict(a).get('name')}.path")
        self.names = names
        self.params = set(ctx.workflow_parameters())
        # a WorkflowTemplate may use parameters its callers supply, so Argo checks only runnable kinds
        self.check_params = ctx.kind in ("Workflow", "CronWorkflow")

    def problem(self, tag: str, nodes: dict[str, dict | None], prefix: str, loop: bool,
                metric: bool = False) -> str | None:
        if tag in GLOBALS or tag in LOCALS or tag in self.names or tag.startswith(GLOBAL_PREFIXES):
            return None
        if metric and (tag in METRIC_NAMES or tag.startswith("outputs.parameters.")):
            return None
        if tag.startswith("workflow.parameters."):
            name = tag[len("workflow.parameters."):]
            if not self.check_params or name in self.params:
                return None
            return f"workflow parameter {name!r} is not declared in spec.arguments.parameters"
        if tag == "item" or tag.startswith("item."):
            return None if loop else "{{item}} is only defined in a step or task with withItems, withParam or withSequence"
        if tag.startswith(("inputs.parameters.", "inputs.artifacts.")):
            return f"{tag.split('.')[1][:-1]} {tag.split('.', 2)[2]!r} is not declared in this template's inputs"
        if tag.startswith(("steps.", "tasks.")):
            kind, _, rest = tag.partition(".")
            if kind != prefix:
                return f"{{{{{kind}.*}}}} can only be used inside a {kind} template"
            return self._node_ref(kind, rest, nodes)
        return "unknown variable"

    def _node_ref(self, kind: str, rest: str, nodes: dict[str, dict | None]) -> str | None:
        for name in sorted(nodes, key=len, reverse=True):
            if rest.startswith(name + "."):
                field = rest[len(name) + 1:]
                base = ".".join(field.split(".")[:2])
                if field not in NODE_FIELDS and base not in NODE_FIELDS:
                    return f"{field!r} is not a field of {kind}.{name}"
                callee = nodes[name]
                if callee is not None and field.startswith("outputs.parameters."):
                    declared = {_dict(p).get("name") for p in _list(_dict(callee.get("outputs")).get("parameters"))}
                    pname = field[len("outputs.parameters."):]
                    if pname not in declared:
                        return f"{kind}.{name} has no output parameter {pname!r}"
                if callee is not None and field.startswith("outputs.artifacts."):
                    declared = {_dict(a).get("name") for a in _list(_dict(callee.get("outputs")).get("artifacts"))}
                    aname = field[len("outputs.artifacts."):]
                    if aname not in declared:
                        return f"{kind}.{name} has no output artifact {aname!r}"
                return None
        what = "an earlier step" if kind == "steps" else "an ancestor task (listed in depends)"
        return f"{rest.split('.')[0]!r} is not {what}"


def check_variables(ctx: SpecContext) -> Iterator[SpecError]:
    for site in ctx.templates:
        yield from _template(ctx, site)


def _report(ctx, scope, path, text, nodes, prefix, loop, metric=False):
    for tag in simple_tags(text):
        why = scope.problem(tag, nodes, prefix, loop, metric)
        if why:
            yield ctx.error(path, f"failed to resolve {{{{{tag}}}}}: {why}", "variable")


def _template(ctx: SpecContext, site: TemplateSite) -> Iterator[SpecError]:
    t = site.body
    scope = _Scope(ctx, t)
    composite = "steps" if t.get("steps") is not None else "tasks" if t.get("dag") is not None else ""
    skip = {"steps", "dag", "metrics"} | ({"outputs"} if composite else set())
    for path, text in _leaves(t, site.path, frozenset(skip)):
        yield from _report(ctx, scope, path, text, {}, "", False)
    for path, text in _leaves(t.get("metrics"), site.path + ("metrics",)):
        yield from _report(ctx, scope, path, text, {}, "", False, metric=True)
    earlier: dict[str, dict | None] = {}
    for i, group in enumerate(_list(t.get("steps"))):
        current: dict[str, dict | None] = {}
        for j, step in enumerate(_list(group)):
            step = _dict(step)
            loop = any(step.get(k) is not None for k in ("withItems", "withParam", "withSequence"))
            base = site.path + ("steps", i, j)
            own = {step.get("name"): resolve_callee(ctx, step)[0]}
            for path, text in _leaves(step, base, frozenset({"inline", "hooks", "onExit"})):
                yield from _report(ctx, scope, path, text, earlier, "steps", loop)
            for path, text in _leaves(step.get("hooks"), base + ("hooks",)):
                yield from _report(ctx, scope, path, text, {**earlier, **own}, "steps", loop)
            current.update(own)
        earlier.update(current)
    dag = _dict(t.get("dag"))
    tasks = [_dict(x) for x in _list(dag.get("tasks"))]
    by_name = {x.get("name"): x for x in tasks}
    for k, task in enumerate(tasks):
        loop = any(task.get(key) is not None for key in ("withItems", "withParam", "withSequence"))
        nodes = {a: resolve_callee(ctx, by_name[a])[0] for a in _ancestors(task, by_name)}
        base = site.path + ("dag", "tasks", k)
        own = {task.get("name"): resolve_callee(ctx, task)[0]}
        for path, text in _leaves(task, base, frozenset({"inline", "hooks", "onExit"})):
            yield from _report(ctx, scope, path, text, nodes, "tasks", loop)
        for path, text in _leaves(task.get("hooks"), base + ("hooks",)):
            yield from _report(ctx, scope, path, text, {**nodes, **own}, "tasks", loop)
    # the outputs (and dag-level fields) of a composite template may refer to any child
    children = earlier if composite == "steps" else {n: resolve_callee(ctx, x)[0] for n, x in by_name.items()}
    for path, text in _leaves(dag, site.path + ("dag",), frozenset({"tasks"})):
        yield from _report(ctx, scope, path, text, children, "tasks", False)
    if composite:
        for path, text in _leaves(t.get("outputs"), site.path + ("outputs",)):
            yield from _report(ctx, scope, path, text, children, composite, False)


def _ancestors(task: dict, by_name: dict[str, dict]) -> set[str]:
    seen: set[str] = set()
    stack = list(task_dependencies(task))
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        stack.extend(task_dependencies(by_name[name]))
    return seen
