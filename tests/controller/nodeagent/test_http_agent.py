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


def http_tmpl(name: str, **http: Any) -> dict:
    return {"name": name, "http": http}


async def test_success_condition_true_and_false_over_response_and_headers(harness):
    """http-success-condition.yaml's three conditions against the local server: status 201, a body
    containing a word, a response header (canonical name, list of values); a false one Fails."""
    async with serve() as srv, harness() as h:
        body = wf("http-cond", [
            {"name": "main", "steps": [[
                {"name": "is-201", "template": "s201"},
                {"name": "body-has", "template": "body"},
                {"name": "header", "template": "header"},
                {"name": "not-201", "template": "not201", "continueOn": {"failed": True}}]]},
            http_tmpl("s201", url=f"{srv.url}/status/201", successCondition="response.statusCode == 201"),
            http_tmpl("body", url=f"{srv.url}/echo", method="POST", body="hello there",
                      successCondition='response.body contains "hello there" && request.method == "POST"'),
            http_tmpl("header", url=f"{srv.url}/echo",
                      successCondition='response.headers["Server"][0] == "tiphys-test"'),
            http_tmpl("not201", url=f"{srv.url}/status/200", successCondition="response.statusCode == 201")])
        final = await run(h, body)
        n = nodes(final)
        assert [n[k]["phase"] for k in ("is-201", "body-has", "header", "not-201")] == \
            ["Succeeded", "Succeeded", "Succeeded", "Failed"], {k: v.get("message") for k, v in n.items()}
        assert n["not-201"]["message"] == "successCondition 'response.statusCode == 201' evaluated false"
        assert json.loads(n["body-has"]["outputs"]["result"])["body"] == "hello there"
        assert final["status"]["phase"] == "Succeeded"


async def test_secret_header_and_body_from(harness):
    """A header from `valueFrom.secretKeyRef` and a body from `bodyFrom.bytes` (base64) reach the server."""
    import base64
    async with serve() as srv, harness() as h:
        await h.api.create(base.SECRETS, {"apiVersion": "v1", "kind": "Secret",
                                          "metadata": {"name": "token", "namespace": "default"},
                                          "data": {"auth": base64.b64encode(b"Bearer s3cret").decode()}},
                           namespace="default")
        body = wf("http-secret", [http_tmpl("main", url=f"{srv.url}/echo", method="PUT",
                                            bodyFrom={"bytes": base64.b64encode(b"from bytes").decode()},
                                            headers=[{"name": "Authorization",
                                                      "valueFrom": {"secretKeyRef": {"name": "token", "key": "auth"}}},
                                                     {"name": "X-Colour", "value": "blue"}])])
        final = await run(h, body)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        echoed = json.loads(nodes(final)["http-secret"]["outputs"]["result"])
        assert echoed == {"method": "PUT", "body": "from bytes", "auth": "Bearer s3cret", "x": "blue"}


async def test_template_timeout_and_request_timeout(harness):
    """Template `timeout` fails a node still waiting for the agent (`timeout`, as a pod that never
    starts); `timeoutSeconds` ends the request itself (Go's Client.Timeout message)."""
    async with serve() as srv, harness() as h:
        body = wf("http-timeouts", [
            {"name": "main", "steps": [[
                {"name": "template-timeout", "template": "slow-tmpl", "continueOn": {"failed": True}},
                {"name": "request-timeout", "template": "slow-req", "continueOn": {"failed": True}}]]},
            {"name": "slow-tmpl", "timeout": "1s", "http": {"url": f"{srv.url}/slow/8"}},
            http_tmpl("slow-req", url=f"{srv.url}/slow/8", timeoutSeconds=1)])
        started = asyncio.get_running_loop().time()
        final = await run(h, body)
        assert asyncio.get_running_loop().time() - started < 7, "the timeouts, not the 8 s answers, ended it"
        n = nodes(final)
        assert n["template-timeout"]["phase"] == "Failed" and n["template-timeout"]["message"] == "timeout"
        assert n["request-timeout"]["phase"] == "Failed"
        assert n["request-timeout"]["message"] == (f'Get "{srv.url}/slow/8": context deadline exceeded '
                                                   "(Client.Timeout exceeded while awaiting headers)")


async def test_retries_make_one_task_per_attempt(harness):
    """retryStrategy: each attempt is its own HTTP node and task; two 503s, then a success."""
    async with serve() as srv, harness() as h:
        srv.flaky_left = 2
        body = wf("http-retry", [{"name": "main", "retryStrategy": {"limit": 3},
                                  "http": {"url": f"{srv.url}/flaky"}}])
        final = await run(h, body)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        all_nodes = final["status"]["nodes"]
        retry = all_nodes["http-retry"]
        assert retry["type"] == "Retry"
        attempts = [all_nodes[c] for c in retry["children"]]
        assert [(a["type"], a["phase"]) for a in attempts] == [("HTTP", "Failed"), ("HTTP", "Failed"),
                                                               ("HTTP", "Succeeded")]
        assert attempts[-1]["outputs"]["result"] == "ok now"
        assert len(srv.calls) == 3


async def test_dag_result_feeds_a_container_step(harness):
    """A DAG: an HTTP task's `outputs.result` is the argument of a container task that depends on it."""
    async with serve() as srv, harness() as h:
        body = wf("http-dag", [
            {"name": "main", "dag": {"tasks": [
                {"name": "fetch", "template": "fetch"},
                {"name": "show", "template": "show", "depends": "fetch",
                 "arguments": {"parameters": [{"name": "v", "value": "{{tasks.fetch.outputs.result}}"}]}},
                {"name": "skipped", "template": "fetch", "depends": "fetch", "when": "{{tasks.fetch.status}} == Failed"}]}},
            http_tmpl("fetch", url=f"{srv.url}/status/200"),
            {"name": "show", "inputs": {"parameters": [{"name": "v"}]},
             "container": {"image": "argoproj/argosay:v2", "args": ["echo", "got {{inputs.parameters.v}}"]}}])
        final = await run(h, body)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        n = nodes(final)
        assert n["skipped"]["phase"] == "Skipped" and n["skipped"]["type"] == "Skipped"
        show = n["show"]
        pods = (await h.api.list(PODS, namespace="default")).items
        pod = next(p["metadata"]["name"] for p in pods
                   if p["metadata"]["annotations"].get("workflows.argoproj.io/node-id") == show["id"])
        assert h.log(pod, "main").strip() == "got status 200"
        assert [c for c in srv.calls] == [("GET", "/status/200")]


async def test_lifecycle_hook_and_exit_handler_call_http(harness):
    """life-cycle-hooks-tmpl-level.yaml's shape: a step's `success` hook and the workflow's exit
    handler are HTTP templates; both run and the step group waits for the hook."""
    async with serve() as srv, harness() as h:
        body = wf("http-hooks", [
            {"name": "main", "steps": [[
                {"name": "step-1", "template": "echo", "hooks": {
                    "success": {"expression": 'steps["step-1"].status == "Succeeded"', "template": "notify"}}}]]},
            {"name": "echo", "container": {"image": "argoproj/argosay:v2", "args": ["echo", "heads"]}},
            http_tmpl("notify", url=f"{srv.url}/status/202"),
            http_tmpl("bye", url=f"{srv.url}/status/204")], onExit="bye")
        final = await run(h, body)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        by_name = {n["name"]: n for n in final["status"]["nodes"].values()}
        hook = by_name["http-hooks[0].step-1.hooks.success"]
        assert (hook["type"], hook["phase"], hook["outputs"]["result"]) == ("HTTP", "Succeeded", "status 202")
        exit_node = by_name["http-hooks.onExit"]
        assert (exit_node["type"], exit_node["phase"]) == ("HTTP", "Succeeded")
        assert sorted(srv.calls) == [("GET", "/status/202"), ("GET", "/status/204")]


async def test_controller_restart_while_the_agent_works(harness):
    """The controller stops while the request runs; the agent writes the result meanwhile; a new
    controller takes it from the task set: the request was made once, the workflow succeeds, the
    agent pod goes."""
    async with serve() as srv, harness() as h:
        body = wf("http-restart", [
            {"name": "main", "steps": [[{"name": "a", "template": "slow"}], [{"name": "b", "template": "fast"}]]},
            http_tmpl("slow", url=f"{srv.url}/slow/1"), http_tmpl("fast", url=f"{srv.url}/status/200")])
        engine = Engine(h.api, clock=h.clock, workers=2, settings=SETTINGS)
        await engine.start()
        await h.api.create(WORKFLOWS, body, namespace="default")
        while not srv.calls:
            await asyncio.sleep(0.02)
        await engine.stop()
        while True:  # the agent's result lands while no controller runs
            ts = await h.api.get(base.WORKFLOW_TASK_SETS, "http-restart", namespace="default")
            if (ts.get("status") or {}).get("nodes"):
                break
            await asyncio.sleep(0.05)
        engine = Engine(h.api, clock=h.clock, workers=2, settings=SETTINGS)
        await engine.start()
        try:
            final = await wait_completed(h.api, "http-restart", "default", timeout=60)
        finally:
            await engine.stop()
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        n = nodes(final)
        assert n["a"]["outputs"]["result"] == "late" and n["b"]["outputs"]["result"] == "status 200"
        assert srv.calls == [("GET", "/slow/1"), ("GET", "/status/200")]
        for _ in range(100):
            try:
                await h.api.get(PODS, agent_pod_name("http-restart"), namespace="default")
            except NotFound:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the agent pod was not deleted after the restart")


def test_configmap_key_reaches_the_pod_settings():
    """ConfigMap `disableAgentPodCreation` becomes PodSettings.agent_pod_creation (core/plan/http.py)."""
    from tiphys.controller.config import parse_configmap

    config = parse_configmap({"metadata": {"name": "workflow-controller-configmap"},
                              "data": {"disableAgentPodCreation": "true"}})
    assert "disableAgentPodCreation" not in config.unsupported
    assert config.pod_settings(PodSettings()).agent_pod_creation is False
    assert parse_configmap({"data": {}}).pod_settings(PodSettings()).agent_pod_creation is True
