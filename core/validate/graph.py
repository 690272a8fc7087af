"""DAG rules: depends vs dependencies, known task names and results, continueOn, and cycles."""
from __future__ import annotations

import re
from typing import Iterator

from tiphys.core.dag import DependsSyntaxError, parse_depends
from tiphys.core.dag.depends import Not, Ref
from tiphys.core.spec import SpecError
from tiphys.core.validate.context import SpecContext, _dict, _list

__all__ = ["check_dags", "task_dependencies"]

def depends_names(text: str) -> list[tuple[str, str | None, int]]:
    """The (task, result, column) atoms of a depends expression, parsed by the scheduler's own
    parser (`tiphys.core.dag.parse_depends`); raises its DependsSyntaxError (with `.column`)."""
    atoms: list[tuple[str, str | None, int]] = []
    stack = [parse_depends(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            match = re.search(rf"(?<![-\w]){re.escape(node.task)}(?![-\w])", text)
            atoms.append((node.task, node.result, match.start() + 1 if match else 1))
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend((node.right, node.left))
    return sorted(atoms, key=lambda a: a[2])


def task_dependencies(task: dict) -> list[str]:
    """Names a task depends on, from `depends` or `dependencies` (syntax errors give none)."""
    if isinstance(task.get("depends"), str):
        try:
            return [name for name, _, _ in depends_names(task["depends"])]
        except DependsSyntaxError:
            return []
    return [d for d in _list(task.get("dependencies")) if isinstance(d, str)]


def check_dags(ctx: SpecContext) -> Iterator[SpecError]:
    for site in ctx.templates:
        dag = site.body.get("dag")
        if not isinstance(dag, dict):
            continue
        base = site.path + ("dag",)
        tasks = [_dict(t) for t in _list(dag.get("tasks"))]
        names = {t.get("name"): i for i, t in enumerate(tasks) if isinstance(t.get("name"), str)}
        graph: dict[str, list[str]] = {}
        uses_depends = any(t.get("depends") is not None or t.get("dependencies") is not None for t in tasks)
        for i, t in enumerate(tasks):
            path = base + ("tasks", i)
            name = t.get("name")
            if t.get("depends") is not None and t.get("dependencies") is not None:
                yield ctx.error(path + ("depends",), f"task {name!r}: depends and dependencies are exclusive",
                                "depends-exclusive")
            if t.get("depends") is not None and t.get("continueOn") is not None:
                yield ctx.error(path + ("continueOn",), f"task {name!r}: continueOn is not allowed with depends "
                                "(use depends results such as 'A.Failed' instead)", "depends-continueon")
            if uses_depends and isinstance(name, str) and name[:1].isdigit():
                yield ctx.error(path + ("name",), f"task name {name!r} must not start with a digit when depends or "
                                "dependencies are used", "name-pattern")
            deps: list[tuple[str, int | None]] = []
            if isinstance(t.get("depends"), str):
                try:
                    deps = [(n, col) for n, _, col in depends_names(t["depends"])]
                except DependsSyntaxError as exc:
                    yield ctx.error(path + ("depends",), f"task {name!r}: invalid {exc}", "depends-syntax")
            for j, d in enumerate(_list(t.get("dependencies"))):
                deps.append((d, None))
            for dep, col in deps:
                if dep not in names:
                    where = f" (column {col})" if col else ""
                    yield ctx.error(path + ("depends" if col else "dependencies",),
                                    f"task {name!r} depends on unknown task {dep!r}{where}", "depends-unknown")
                elif dep == name:
                    yield ctx.error(path, f"task {name!r} depends on itself", "dag-cycle")
            if isinstance(name, str):
                graph[name] = [d for d, _ in deps if d in names and d != name]
        cycle = _find_cycle(graph)
        if cycle:
            first = names[cycle[0]]
            yield ctx.error(base + ("tasks", first), "dependency cycle: " + " -> ".join(cycle), "dag-cycle")
        target = dag.get("target")
        if isinstance(target, str) and "{{" not in target:
            for tname in target.replace(",", " ").split():
                if tname not in names:
                    yield ctx.error(base + ("target",), f"target task {tname!r} not found", "dag-target")


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle as a closed path (a -> b -> a), found by an iterative DFS."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    for root in graph:
        if color[root] != WHITE:
            continue
        stack = [(root, iter(graph[root]))]
        color[root] = GREY
        trail = [root]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = BLACK
                stack.pop()
                trail.pop()
            elif color.get(nxt) == GREY:
                return trail[trail.index(nxt):] + [nxt]
            elif color.get(nxt) == WHITE:
                color[nxt] = GREY
                stack.append((nxt, iter(graph[nxt])))
                trail.append(nxt)
    return None
