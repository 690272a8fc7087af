"""A pod event costs the same at 1,000 and 50,000 nodes: the planner's incremental frames.

Baseline in the same run: rebuilding the Execution from status and re-walking the whole tree,
which is what the planner does once after a restart and what Argo's operate() does on every
reconcile. The per-event cost must be flat across sizes and far below that walk.
"""
from __future__ import annotations

import time

import msgspec
import pytest

from benchmarks.controller._pod_events import NOW, SAMPLE, fan_workflow, per_event_seconds, started
from tiphys.core.plan import Execution, Observed, new_execution, plan


def per_event(n: int) -> tuple[float, Execution, list[dict]]:
    ex, pods = started(fan_workflow(n), n)
    return per_event_seconds(ex, pods), ex, pods


def rewalk_seconds(ex) -> float:
    """Argo's way: every node re-decoded and the tree re-walked from the root."""
    nodes = msgspec.json.decode(msgspec.json.encode(ex.nodes), type=dict[str, type(next(iter(ex.nodes.values())))])
    t0 = time.process_time()
    fresh = new_execution(ex.meta, ex.spec, {"phase": "Running", "startedAt": ex.workflow.started_at}, nodes)
    plan(fresh, Observed(), NOW + 2)
    return time.process_time() - t0


@pytest.fixture(scope="module")
def scaling():
    return {n: per_event(n) for n in (1_000, 5_000, 50_000)}


def test_pod_event_cost_is_flat(scaling, record, gate):
    """Per-event planning at 50,000 nodes is within the noise of 1,000 nodes (target ±25%)."""
    small, large = scaling[1_000][0], scaling[50_000][0]
    for n, (seconds, _, _) in scaling.items():
        record(f"plan: one pod event at {n} nodes", f"{seconds * 1e6:.1f} µs CPU (median of {SAMPLE})")
    ratio = large / small
    record("plan: per-event cost 50k / 1k nodes", f"{ratio:.2f}x")
    # a ratio, same run: flat means the 1k-node event is at least ~0.67x as costly as the 50k one
    gate("per-event cost 1k vs 50k nodes (flatness)", small, large, minimum=0.67)


def test_incremental_event_beats_full_rewalk(scaling, record, gate):
    """One incremental event vs Argo's per-reconcile re-walk of the same 50,000-node tree."""
    seconds, ex, _ = scaling[50_000]
    walk = rewalk_seconds(ex)
    record("plan: full re-walk of 50k nodes (Argo-style reconcile)", f"{walk * 1e3:.1f} ms CPU")
    gate("pod event vs full re-walk at 50k nodes", walk, seconds, minimum=500)
