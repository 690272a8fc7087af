"""Successor CSR arrays and a topological order from the predecessor CSR arrays.

This is the O(edges) part of compiling a graph: a counting sort of the dependency edges by their
source (successors come out in increasing index order) and Kahn's algorithm (ties by index). The
Cython build does it in C (`tiphys.core._fast._dag.link`); this module is the same in Python and
the fallback. `link` returns a topological order shorter than n when there is a cycle;
`raise_cycle` then finds one and raises `CycleError` naming it.
"""
from __future__ import annotations

from array import array
from itertools import accumulate

from .errors import CycleError

__all__ = ["link", "link_python", "raise_cycle"]


def link_python(n: int, pred_off: array, pred: array, pmask: array) -> tuple[array, array, array, array]:
    """(succ_off, succ, succ_mask, topo); succ_mask[k] is pmask of the same edge."""
    m = len(pred)
    count = [0] * (n + 1)
    for j in pred:
        count[j + 1] += 1
    succ_off = list(accumulate(count))
    fill = succ_off[:n]
    succ = [0] * m
    smask = [0] * m
    offs = pred_off.tolist()
    for i in range(n):
        for k in range(offs[i], offs[i + 1]):
            j = pred[k]
            at = fill[j]
            succ[at] = i
            smask[at] = pmask[k]
            fill[j] = at + 1
    remaining = [offs[i + 1] - offs[i] for i in range(n)]
    order = [i for i in range(n) if remaining[i] == 0]
    head = 0
    while head < len(order):
        t = order[head]
        head += 1
        for k in range(succ_off[t], succ_off[t + 1]):
            s = succ[k]
            remaining[s] -= 1
            if remaining[s] == 0:
                order.append(s)
    return array("i", succ_off), array("i", succ), array("i", smask), array("i", order)


try:
    from tiphys.core._fast._dag import link as link
except ImportError:  # the extension is optional; this is the same algorithm
    link = link_python


def raise_cycle(n: int, pred_off: array, pred: array, topo: array, names: list[str], path: str) -> None:
    """Every task outside `topo` has a dependency also outside it: walk dependencies until one repeats."""
    placed = bytearray(n)
    for t in topo:
        placed[t] = 1
    t = next(i for i in range(n) if not placed[i])
    seen: dict[int, int] = {}
    walk: list[int] = []
    while t not in seen:
        seen[t] = len(walk)
        walk.append(t)
        t = next(j for j in pred[pred_off[t]:pred_off[t + 1]] if not placed[j])
    cycle = walk[seen[t]:] + [t]
    cycle.reverse()  # report in run order: each task is a dependency of the next
    raise CycleError(tuple(names[i] for i in cycle), path=path)
