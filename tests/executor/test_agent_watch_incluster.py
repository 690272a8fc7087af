"""The HTTP agent in a pod follows its task set by watch: `run_agent` over `KubeTaskSetApi` and the
in-cluster client with the agent Role's token, through the cluster tests' FaultProxy (which counts
every request and injects faults) to a real kube-apiserver. An idle agent makes no requests; a
410 Gone and cut streams make it list again and miss nothing; it stops when the task set is
labelled completed or deleted."""
from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.controller.nodeagent.test_http_agent import serve
from tests.executor._deployed_rbac import grant_deployed_role
from tests.executor.test_kube_watch_incluster import TS, proxy_for, task_set
from tiphys.executor.agent import AgentSettings, KubeTaskSetApi, run_agent
from tiphys.executor.kube import InClusterClient, PatchKind

pytestmark = pytest.mark.cluster


async def until(check: Callable[[], Awaitable[bool]], what: str, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Agent:
    """`run_agent` as `agent main` runs it in a pod, reaching the apiserver through `proxy`."""

    def __init__(self, cluster, ns: str, proxy, token: str) -> None:
        self.client = InClusterClient(proxy.url, token=lambda: token,
                                      ssl_context=ssl.create_default_context(cafile=str(cluster.ca_cert)))
        self.settings = AgentSettings(workflow_name="wf", namespace=ns, patch_rate=0.1)
        self.lines: list[str] = []
        self.api = KubeTaskSetApi(self.client, self.settings, log=self.lines.append)
        self.task: asyncio.Task[int] | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(run_agent(self.api, self.settings, log=self.lines.append))

    async def stop(self) -> int:
        assert self.task is not None
        try:
            return await asyncio.wait_for(self.task, 30)
        finally:
            await self.api.aclose()
            await self.client.close()


def prepare(cluster, ns: str):
    grant_deployed_role(cluster.rest(), ns, cluster.unprivileged, "tiphys-agent")
    ssl_ctx = ssl.create_default_context(cafile=str(cluster.ca_cert))
    return InClusterClient(cluster.server, token=lambda: cluster.admin_token, ssl_context=ssl_ctx)


async def nodes(admin: InClusterClient, ns: str) -> dict[str, Any]:
    return ((await admin.get(TS, "wf", namespace=ns)).get("status") or {}).get("nodes") or {}


async def add_task(admin: InClusterClient, ns: str, node_id: str, url: str) -> None:
    await admin.patch(TS, "wf", {"spec": {"tasks": {node_id: {"name": node_id, "http": {"url": url}}}}},
                      namespace=ns, patch_kind=PatchKind.MERGE)


def test_an_idle_agent_holds_one_watch_and_acts_on_events(cluster, cluster_namespace):
    """One list and one watch; 6 s without changes cost no request at all (the polling agent
    made one GET a second); a task added later runs at once, and the completed label stops it."""
    ns = cluster_namespace
    admin = prepare(cluster, ns)

    async def go() -> tuple[int, int, int, list, dict, list]:
        async with admin, serve() as srv, proxy_for(cluster) as proxy:
            await admin.create(TS, task_set("wf", **{"wf-1": {"name": "one", "http": {"url": f"{srv.url}/status/200"}}}),
                               namespace=ns)
            agent = Agent(cluster, ns, proxy, cluster.unprivileged.token)
            agent.start()
            await until(lambda: _has(admin, ns, "wf-1"), "the first result")
            await asyncio.sleep(0.5)  # the patch's own watch event is in
            before = proxy.stats["requests"]
            await asyncio.sleep(6)
            idle = proxy.stats["requests"] - before
            started = time.monotonic()
            await add_task(admin, ns, "wf-2", f"{srv.url}/status/201")
            await until(lambda: _has(admin, ns, "wf-2"), "the second result")
            reaction = time.monotonic() - started
            await admin.patch(TS, "wf", {"metadata": {"labels": {"workflows.argoproj.io/completed": "true"}}},
                              namespace=ns, patch_kind=PatchKind.MERGE)
            code = await agent.stop()
            return code, before, idle, sorted(srv.calls), await nodes(admin, ns), agent.lines + [f"{reaction=}"]

    code, before, idle, calls, result, lines = asyncio.run(go())
    assert code == 0, lines
    assert before == 3, f"expected a list, a watch and a status patch, got {before} requests"
    assert idle == 0, f"an idle agent made {idle} request(s)"
    assert calls == [("GET", "/status/200"), ("GET", "/status/201")]
    assert {k: v["phase"] for k, v in result.items()} == {"wf-1": "Succeeded", "wf-2": "Succeeded"}
    assert "agent: the workflow is completed; stopping" in lines


async def _has(admin: InClusterClient, ns: str, node_id: str) -> bool:
    return node_id in await nodes(admin, ns)


def test_gone_and_cut_streams_make_it_list_again_and_miss_nothing(cluster, cluster_namespace):
    """The first watch is expired (410), later streams are cut mid-line after a few events: every
    task added meanwhile is run exactly once, and deleting the task set stops the agent."""
    ns = cluster_namespace
    admin = prepare(cluster, ns)

    async def go() -> tuple[int, list, dict, dict, list]:
        async with admin, serve() as srv, proxy_for(cluster, expire={"workflowtasksets": 1},
                                                    cut_watch_events=(1, 3)) as proxy:
            await admin.create(TS, task_set("wf"), namespace=ns)
            agent = Agent(cluster, ns, proxy, cluster.unprivileged.token)
            agent.start()
            for i in range(6):
                await add_task(admin, ns, f"wf-{i}", f"{srv.url}/status/{200 + i}")
                await asyncio.sleep(0.3)
            await until(lambda: _count(admin, ns, 6), "six results")
            result = await nodes(admin, ns)
            await admin.delete(TS, "wf", namespace=ns)
            code = await agent.stop()
            return code, sorted(srv.calls), result, dict(proxy.stats), agent.lines

    code, calls, result, stats, lines = asyncio.run(go())
    assert code == 0, lines
    assert calls == [("GET", f"/status/{200 + i}") for i in range(6)], "each task once"
    assert {v["phase"] for v in result.values()} == {"Succeeded"}
    assert stats["410_http"] == 1 and stats["watch_cut"] >= 1, stats
    assert any("watch expired, listing again" in line for line in lines), lines
    assert "agent: the task set is gone; stopping" in lines


async def _count(admin: InClusterClient, ns: str, n: int) -> bool:
    return len(await nodes(admin, ns)) >= n
