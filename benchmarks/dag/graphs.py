"""Random DAGs for the scheduler benchmarks: node i depends on 0-4 distinct earlier nodes (mean 2),
the shape of reference/performance.md §5.4. Deterministic per (n, seed); cached per process.
`tasks` writes them as `dependencies:` lists, `depends_tasks` as `depends:` text."""
from __future__ import annotations

import functools
import random

from tiphys.core.dag import CompiledDAG, compile_dag


@functools.cache
def dependencies(n: int, seed: int = 1) -> tuple[tuple[int, ...], ...]:
    rng = random.Random(seed)
    rr = rng.randrange
    out = []
    for i in range(n):
        k = min(i, rr(5))
        picked: set[int] = set()
        while len(picked) < k:
            picked.add(rr(i))
        out.append(tuple(sorted(picked)))
    return tuple(out)


def tasks(n: int, seed: int = 1) -> list[dict]:
    """Argo-shaped task dicts (`dependencies:` lists) for `compile_dag`."""
    return [{"name": f"t{i}", "dependencies": [f"t{j}" for j in d]} if d else {"name": f"t{i}"}
            for i, d in enumerate(dependencies(n, seed))]


#: How `depends_tasks` writes dependency k of task i: form (i + k) % 3.
_DEPENDS_FORMS = ("t{}", "(t{0}.Succeeded || t{0}.Skipped)", "t{}.Succeeded")


def depends_tasks(n: int, seed: int = 1) -> list[dict]:
    """The same graph as `tasks`, written as `depends:` text joining each task's dependencies with
    `&&`, in three forms taken in turn: `a`, `(b.Succeeded || b.Skipped)`, `c.Succeeded`."""
    out: list[dict] = []
    for i, d in enumerate(dependencies(n, seed)):
        task: dict = {"name": f"t{i}"}
        if d:
            task["depends"] = " && ".join(_DEPENDS_FORMS[(i + k) % 3].format(j) for k, j in enumerate(d))
        out.append(task)
    return out


@functools.cache
def compiled(n: int, seed: int = 1) -> CompiledDAG:
    return compile_dag(tasks(n, seed))


def graphlib_graph(n: int, seed: int = 1) -> dict[int, tuple[int, ...]]:
    return dict(enumerate(dependencies(n, seed)))
