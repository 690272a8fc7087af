"""Cost of one /metrics scrape as the informer caches grow (phases are counted at scrape time)."""
from __future__ import annotations

import pytest

from tiphys.controller.api import PODS, WORKFLOWS, EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.metrics import ControllerMetrics


def _engine_with(n: int) -> Engine:
    engine = Engine(EmbeddedApi(), clock=RealClock())
    for i in range(n):
        wf = {"metadata": {"name": f"w{i}", "namespace": "d"},
              "status": {"phase": ("Running", "Succeeded", "Failed")[i % 3],
                         "conditions": [{"type": "PodRunning", "status": "False"}]}}
        pod = {"metadata": {"name": f"p{i}", "namespace": "d"}, "status": {"phase": "Running"}}
        engine.workflows.store._put(f"d/w{i}", wf, wf)
        engine.pods.store._put(f"d/p{i}", pod, pod)
    return engine


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_scrape_cost(benchmark, record, n):
    metrics = ControllerMetrics()
    metrics.bind(engine=_engine_with(n), queue=None)
    page = benchmark(metrics.exposition)
    assert b'argo_workflows_gauge{phase="Running"}' in page
    if benchmark.stats is not None:  # None under --benchmark-disable
        record(f"/metrics scrape, {n} workflows + {n} pods cached",
               f"{benchmark.stats['median'] * 1e3:.2f} ms")
