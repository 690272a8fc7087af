"""HTTP templates at width: N parallel HTTP steps through the whole engine on the embedded API, the
simulated kubelet running the agent pod's agent for real against a local aiohttp server.

Figure: wall time per HTTP node, at 200 and 1,000 nodes. Each node is one task in the workflow's
task set; every agent patch and controller prune sends the task set over a watch, whose size is
that of the unfinished tasks (as in Argo, where the agent's work is the same shape), so the cost
per node grows with the width; the gate bounds that growth against the narrow run of this same
session.
"""
from __future__ import annotations

import asyncio
import time

from tests.controller.nodeagent.test_http_agent import serve
from tiphys.controller.local import LocalSession
from tiphys.core.plan.meta import PodSettings

_PER_NODE: dict[int, float] = {}


def _fan(n: int, url: str) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": f"http-fan-{n}"},
            "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "steps": [[{"name": "call", "template": "call", "withSequence": {"count": str(n)}}]]},
                {"name": "call", "http": {"url": url + "/status/200"}}]}}


def _run(n: int) -> float:
    async def go() -> float:
        async with serve() as srv:
            async with LocalSession(settings=PodSettings(agent_patch_rate="200ms")) as session:
                started = time.perf_counter()
                final = await session.run(_fan(n, srv.url), timeout=600)
                took = time.perf_counter() - started
            assert final["status"]["phase"] == "Succeeded"
            assert len(srv.calls) == n
            return took
    return asyncio.run(go())


def test_http_fanout_200(benchmark):
    took = benchmark.pedantic(_run, args=(200,), rounds=1, iterations=1)
    _PER_NODE[200] = took / 200
    print(f"\n200 HTTP nodes: {took:.2f} s, {1e3 * took / 200:.2f} ms per node")


def test_http_fanout_1000(benchmark):
    took = benchmark.pedantic(_run, args=(1000,), rounds=1, iterations=1)
    _PER_NODE[1000] = took / 1000
    print(f"\n1000 HTTP nodes: {took:.2f} s, {1e3 * took / 1000:.2f} ms per node")
    if 200 in _PER_NODE:
        # 5x the width: the task set sent per event grows 5x; allow per-node cost to grow 6x at most
        assert _PER_NODE[1000] <= 6 * _PER_NODE[200] + 0.002, _PER_NODE
