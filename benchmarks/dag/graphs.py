"""Random DAGs for the scheduler benchmarks: node i depends on 0-4 distinct earlier nodes (mean 2),
the shape of reference/performance.md §5.4. Deterministic per (n, seed); cached per process."""
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


@functools.cache
def compiled(n: int, seed: int = 1) -> CompiledDAG:
    return compile_dag(tasks(n, seed))


def graphlib_graph(n: int, seed: int = 1) -> dict[int, tuple[int, ...]]:
    return dict(enumerate(dependencies(n, seed)))
