"""A 500-step fan-out run by `Engine` over `HttpApi` against the real kube-apiserver.

The correctness twin of `benchmarks/cluster/test_cluster_scale.py` (5,000 steps): the run
completes, no pod is created or run twice, every output reaches the step that consumes it, and
the controller's own API writes (pod creates, status writes, events, deletes; not the simulated
kubelet's) stay at or under 3 per step, the budget of reference/performance.md.
"""
from __future__ import annotations

import asyncio

import pytest

from ._control_plane import ControlPlane
from ._faults import direct_api, run_fan

pytestmark = pytest.mark.cluster

STEPS = 500


def test_500_steps_within_three_writes_per_step(cluster: ControlPlane, cluster_namespace: str) -> None:
    run = asyncio.run(run_fan(cluster, cluster_namespace, STEPS, make_api=lambda: direct_api(cluster),
                              timeout=600))  # a wait for the outcome, not a speed limit
    run.check(STEPS)
    steps = STEPS + 2
    per_step = run.total_writes / steps
    print(f"{steps} steps in {run.seconds:.1f} s, {run.pod_creates.total() / run.seconds:.1f} pods/s, "
          f"{per_step:.2f} controller writes/step, {run.status_writes} status writes, writes {dict(run.writes)}")
    assert run.writes[("create", "pods")] == steps
    assert per_step <= 3.0, dict(run.writes)
