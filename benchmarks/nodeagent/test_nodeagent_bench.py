"""Node agent latency and throughput with real processes (wall time, informative, never gating).

Figures: create -> Succeeded for a one-container shell pod (mount namespace and path-rewriting
modes), for a workflow pod (init, main through the wrapper, wait reporting a task result), and
the wall time of 24 concurrent shell pods through `max_pods=8`. Wall time counts process
start-up (Python for the namespace helper and the executor) and the shared machine's load.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

from tiphys.controller.api import PODS, EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.nodeagent import Isolation, NodeAgent, probe_isolation


def _pod(name: str, container: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"restartPolicy": "Never", "containers": [container]}}


async def _finish(api: EmbeddedApi, name: str) -> dict:
    while True:
        p = await api.get(PODS, name, namespace="default")
        if p["status"].get("phase") in ("Succeeded", "Failed"):
            return p
        await asyncio.sleep(0.005)


async def _latencies(root: Path, isolation: Isolation, bodies: list[dict], **options) -> list[float]:
    clock = RealClock()
    api = EmbeddedApi(clock=clock)
    agent = NodeAgent(api, clock=clock, root_dir=root, isolation=isolation, **options)
    await agent.start()
    out = []
    try:
        for body in bodies:
            start = time.perf_counter()
            await api.create(PODS, body, namespace="default")
            p = await _finish(api, body["metadata"]["name"])
            assert p["status"]["phase"] == "Succeeded", p["status"]
            out.append(time.perf_counter() - start)
    finally:
        await agent.stop()
    return out


@pytest.mark.parametrize("isolation", [Isolation.NAMESPACE, Isolation.REWRITE])
def test_shell_pod_latency(tmp_path, record, isolation):
    if isolation is Isolation.NAMESPACE and probe_isolation()[0] is not Isolation.NAMESPACE:
        pytest.skip("mount namespaces unavailable here")
    bodies = [_pod(f"p{i}", {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi"]}) for i in range(7)]
    times = asyncio.run(_latencies(tmp_path, isolation, bodies))
    record(f"nodeagent shell pod create->Succeeded ({isolation})", f"median {statistics.median(times) * 1e3:.0f} ms "
           f"(min {min(times) * 1e3:.0f} ms, n={len(times)})")


def test_workflow_pod_latency(tmp_path, record):
    podspec = pytest.importorskip("tiphys.core.plan.podspec")
    from tiphys.core.plan.meta import PodSettings, WorkflowMeta

    template = {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c"], "args": ["echo hi"]}}
    bodies = [podspec.build_pod(template, meta=WorkflowMeta(name="wf", namespace="default", uid="u"),
                                spec={"entrypoint": "main"}, node_id=f"wf-{i}", node_name=f"wf[{i}]",
                                pod_name=f"wf-{i}", settings=PodSettings(), include_script_output=True)
              for i in range(5)]
    times = asyncio.run(_latencies(tmp_path, probe_isolation()[0], bodies))
    record("nodeagent workflow pod (init+main+wait) create->Succeeded",
           f"median {statistics.median(times) * 1e3:.0f} ms (min {min(times) * 1e3:.0f} ms, n={len(times)})")


def test_concurrent_pods_wall_time(tmp_path, record):
    async def run() -> float:
        clock = RealClock()
        api = EmbeddedApi(clock=clock)
        agent = NodeAgent(api, clock=clock, root_dir=tmp_path, max_pods=8)
        await agent.start()
        try:
            start = time.perf_counter()
            for i in range(24):
                await api.create(PODS, _pod(f"c{i}", {"name": "main", "image": "busybox",
                                                      "command": ["sh", "-c", "sleep 0.2"]}), namespace="default")
            done = await asyncio.gather(*(_finish(api, f"c{i}") for i in range(24)))
            assert all(p["status"]["phase"] == "Succeeded" for p in done)
            return time.perf_counter() - start
        finally:
            await agent.stop()
    wall = asyncio.run(run())
    record("nodeagent 24 pods of `sleep 0.2`, max_pods=8", f"{wall:.2f} s wall (ideal 0.6 s)")
