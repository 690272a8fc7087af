"""5,000 steps against the real kube-apiserver: `Engine` over `HttpApi` (QPS 200, burst 300),
the simulated kubelet binding through `Binding` objects on its own client (QPS 1000).

Figures (printed in the session summary, recorded in benchmarks/README.md): total time, pods
created per second, controller API writes per step (pod creates + status writes + events +
deletes made by the controller, not the kubelet's), status writes per second. The run also
passes the correctness check of tests/cluster/test_scale.py (no pod made or run twice, every
output delivered) and the ≤ 3 writes/step budget; it never fails on speed.
"""
from __future__ import annotations

import asyncio

import pytest

from tests.cluster._faults import direct_api, run_fan

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

STEPS = 5000
QPS, BURST = 200.0, 300


def test_5000_steps(cluster, cluster_namespace, record) -> None:
    run = asyncio.run(run_fan(cluster, cluster_namespace, STEPS, timeout=900, workers=8,
                              make_api=lambda: direct_api(cluster, qps=QPS, burst=BURST)))
    run.check(STEPS)
    steps = STEPS + 2  # gen and collect around the fan-out
    per_step = run.total_writes / steps
    record("cluster 5k steps: total", f"{run.seconds:.1f} s (QPS {QPS:.0f}, burst {BURST})")
    record("cluster 5k steps: pods created/s", f"{run.writes[('create', 'pods')] / run.seconds:.1f}")
    record("cluster 5k steps: controller writes/step", f"{per_step:.2f} ({dict(run.writes)})")
    record("cluster 5k steps: status writes/s", f"{run.status_writes / run.seconds:.2f} "
                                                f"({run.status_writes} in all)")
    assert per_step <= 3.0, dict(run.writes)
