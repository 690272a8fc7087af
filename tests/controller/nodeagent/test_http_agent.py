"""HTTP templates end to end: controller engine, task set, the node agent playing `argoexec agent`,
a local aiohttp server (the examples' internet hosts are not reachable from the test machine)."""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from aiohttp import web

from tiphys.controller.api import PODS, WORKFLOWS, base
from tiphys.controller.api.errors import NotFound
from tiphys.controller.engine import Engine
from tiphys.controller.local import wait_completed
from tiphys.core.plan.agentpod import agent_pod_name
from tiphys.core.plan.meta import PodSettings

SETTINGS = PodSettings(agent_patch_rate="50ms")


class Server:
    """A local HTTP server: /status/<code>, /echo (method, headers, body as JSON), /slow/<s>, /flaky."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.flaky_left = 0
        self.url = ""

    async def status(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        return web.Response(status=int(request.match_info["code"]), text=f"status {request.match_info['code']}")

    async def echo(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        body = await request.text()
        return web.json_response({"method": request.method, "body": body,
                                  "auth": request.headers.get("Authorization", ""),
                                  "x": request.headers.get("X-Colour", "")},
                                 headers={"server": "tiphys-test"})

    async def slow(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        await asyncio.sleep(float(request.match_info["s"]))
        return web.Response(text="late")

    async def flaky(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if self.flaky_left > 0:
            self.flaky_left -= 1
            return web.Response(status=503, text="not yet")
        return web.Response(text="ok now")


@contextlib.asynccontextmanager
async def serve():
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/status/{code}", srv.status)
    app.router.add_route("*", "/echo", srv.echo)
    app.router.add_get("/slow/{s}", srv.slow)
    app.router.add_get("/flaky", srv.flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    srv.url = f"http://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


def wf(name: str, templates: list[dict], entry: str = "main", **spec: Any) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"entrypoint": entry, "templates": templates, **spec}}


async def run(h, body: dict, *, timeout: float = 60) -> dict:
    engine = Engine(h.api, clock=h.clock, workers=2, settings=SETTINGS)
    await engine.start()
    try:
        await h.api.create(WORKFLOWS, body, namespace="default")
        return await wait_completed(h.api, body["metadata"]["name"], "default", timeout=timeout)
    finally:
        await engine.stop()


def nodes(final: dict) -> dict[str, dict]:
    return {n["displayName"]: n for n in final["status"]["nodes"].values()}


async def test_hello_world_good_and_bad(harness):
    """http-hello-world.yaml against the local server: the good URL Succeeds with the body as
    `result`, the bad one (404) Fails and `continueOn.failed` lets the workflow succeed."""
    async with serve() as srv, harness() as h:
        body = wf("http-hello", [
            {"name": "main", "steps": [[
                {"name": "good", "template": "http", "arguments": {"parameters": [
                    {"name": "url", "value": f"{srv.url}/status/200"}]}},
                {"name": "bad", "template": "http", "continueOn": {"failed": True}, "arguments": {"parameters": [
                    {"name": "url", "value": f"{srv.url}/status/404"}]}}]]},
            {"name": "http", "inputs": {"parameters": [{"name": "url"}]}, "http": {"url": "{{inputs.parameters.url}}"}}])
        final = await run(h, body)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        n = nodes(final)
        assert n["good"]["type"] == "HTTP" and n["good"]["phase"] == "Succeeded"
        assert n["good"]["outputs"]["result"] == "status 200"
        assert n["bad"]["phase"] == "Failed"
        assert n["bad"]["message"] == "received non-2XX response code: 404"
        assert sorted(srv.calls) == [("GET", "/status/200"), ("GET", "/status/404")]
        # the agent pod is gone once no HTTP node is left; the task set is marked completed and empty
        with pytest.raises(NotFound):
            await h.api.get(PODS, agent_pod_name("http-hello"), namespace="default")
        ts = await h.api.get(base.WORKFLOW_TASK_SETS, "http-hello", namespace="default")
        assert ts["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"
        assert ts["metadata"]["ownerReferences"][0]["uid"] == final["metadata"]["uid"]
        assert not (ts.get("spec") or {}).get("tasks") and not (ts.get("status") or {}).get("nodes")
