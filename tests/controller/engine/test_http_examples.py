"""Argo's HTTP examples through the engine with the simulated kubelet, which runs the agent pod's
agent for real: each example's internet URL is swapped for a local aiohttp server (the test
machine cannot reach the internet), everything else is the example as Argo ships it."""
from __future__ import annotations

import asyncio
from typing import Any

from tests.controller.engine.test_examples_golden import _workflow
from tests.controller.nodeagent.test_http_agent import serve
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound
from tiphys.controller.local import LocalSession
from tiphys.controller.status_writer import StatusWriter
from tiphys.core.plan.agentpod import agent_pod_name
from tiphys.core.plan.meta import PodSettings


def _run(make: Any) -> tuple[dict, dict, list, bool]:
    async def go() -> tuple[dict, list, bool]:
        async with serve() as srv:
            async with LocalSession(settings=PodSettings(agent_patch_rate="50ms")) as session:
                final = await session.run(make(srv.url), timeout=60)
                try:
                    await session.api.get(base.PODS, agent_pod_name(final["metadata"]["name"]), namespace="default")
                    agent_left = True
                except NotFound:
                    agent_left = False
            return final, list(srv.calls), agent_left

    final, calls, agent_left = asyncio.run(go())
    nodes = {n.name: n for n in StatusWriter().read_nodes(final.get("status") or {}).values()}
    return final, nodes, calls, agent_left


def _swap_urls(wf: dict, url: str) -> dict:
    """Every `http.url` and every `url` argument of the example points at `url` instead."""
    spec = dict(wf["spec"])
    templates = []
    for t in spec["templates"]:
        if "http" in t and "{{" not in str(t["http"].get("url")):
            t = {**t, "http": {**t["http"], "url": url}}
        if "steps" in t:
            t = {**t, "steps": [[{**s, "arguments": {"parameters": [
                {**p, "value": url + ("/status/404" if "thisisnotahash" in str(p.get("value")) else "/status/200")}
                if p.get("name") == "url" else p for p in (s.get("arguments") or {}).get("parameters") or ()]}}
                if s.get("arguments") else s for s in group] for group in t["steps"]]}
        templates.append(t)
    spec["templates"] = templates
    return {**wf, "metadata": {**wf["metadata"], "name": wf["metadata"].get("generateName", "wf-").rstrip("-")},
            "spec": spec}


def test_http_hello_world():
    final, nodes, calls, agent_left = _run(lambda url: _swap_urls(_workflow("http-hello-world"), url))
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    name = final["metadata"]["name"]
    good, bad = nodes[f"{name}[0].good"], nodes[f"{name}[0].bad"]
    assert (good.type_, good.phase, good.outputs.result) == ("HTTP", "Succeeded", "status 200")
    assert (bad.type_, bad.phase, bad.message) == ("HTTP", "Failed", "received non-2XX response code: 404")
    assert sorted(calls) == [("GET", "/status/200"), ("GET", "/status/404")]
    assert not agent_left


def test_life_cycle_hooks_tmpl_level_with_its_http_template():
    """The example's `http` hook template itself (not a stand-in): the Running/Succeeded hooks of
    both steps are HTTP nodes and succeed against the local server."""
    final, nodes, calls, agent_left = _run(
        lambda url: _swap_urls(_workflow("life-cycle-hooks-tmpl-level"), url + "/status/200"))
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    hooks = {n: node for n, node in nodes.items() if ".hooks." in n}
    assert hooks, "no hook ran"
    assert {(node.type_, node.phase) for node in hooks.values()} == {("HTTP", "Succeeded")}
    assert all(node.node_flag is not None and node.node_flag.hooked for node in hooks.values())
    assert len(calls) == len(hooks)
    assert not agent_left


def test_a_refused_task_set_write_is_made_again():
    """The apiserver answers 503 to the first two task-set creates: the HTTP node's task goes back to
    be put by the next plan (with backoff), so the node runs instead of waiting for ever."""
    from tests.controller.passthrough_api import PassThroughApi
    from tiphys.controller.api.embedded import EmbeddedApi
    from tiphys.controller.api.errors import ApiError

    class Refusing(PassThroughApi):
        refused = 0

        async def create(self, resource, body, /, **kw):
            if resource is base.WORKFLOW_TASK_SETS and self.refused < 2:
                Refusing.refused += 1
                raise ApiError("injected: the apiserver is overloaded", status=503, reason="ServiceUnavailable")
            return await self.inner.create(resource, body, **kw)

    async def go() -> tuple[dict, list]:
        async with serve() as srv:
            api = Refusing(EmbeddedApi())
            async with LocalSession(api=api, settings=PodSettings(agent_patch_rate="50ms")) as session:
                wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                      "metadata": {"name": "fetch", "namespace": "default"},
                      "spec": {"entrypoint": "get", "templates": [
                          {"name": "get", "http": {"url": srv.url + "/status/200"}}]}}
                final = await session.run(wf, timeout=60)
            return final, list(srv.calls)

    final, calls = asyncio.run(go())
    assert Refusing.refused == 2
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    assert len(calls) == 1
