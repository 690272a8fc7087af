"""Helpers for the cluster fault, scale and RBAC tests: what runs beside the controller.

* `FaultProxy` is a plain-HTTP reverse proxy in front of the kube-apiserver (which speaks
  TLS). The controller's `HttpApi` talks to the proxy; the proxy forwards every request and
  can, by configuration, cut watch streams mid-body, drop connections (before forwarding, or
  after, so the answer of a write that happened is lost), answer 429 with `Retry-After` in
  storm windows, and expire watches with 410 Gone, in both forms the apiserver uses (an HTTP
  410, and a 200 whose first event is an ERROR Status with code 410). It counts every fault
  it injected, so a test can assert the fault really happened and thus can fail.
* `RecordingKubelet` is the simulated kubelet that binds through a `Binding` object (a real
  apiserver refuses a `spec.nodeName` patch) and counts how often each pod ran.
* `CountingApi` (the kill-and-restart harness's, `tests/controller/engine/_restart.py`) wraps
  the controller's `Api` and counts its writes: the "controller API writes" of the benchmark
  are these, and the kubelet's writes never pass through it.
* `fan_workflow` / `fan_behaviour` / `check_fan_run`: a steps fan-out whose outputs travel by
  value (gen -> N fan pods -> collect), so a lost output shows in the collect step's input.
"""
from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from tiphys.controller.api import base
from tiphys.controller.api.errors import Conflict, NotFound
from tiphys.controller.api.http import HttpApi, HttpConfig
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.api._http_config import static_token
from tiphys.controller.nodeagent.agent import BINDINGS
from tiphys.controller.status_writer import StatusWriter
from tiphys.controller.simkubelet import SimKubelet, SimOutcome

from tests.controller.engine._restart import CountingApi, Killed

from ._control_plane import ControlPlane

__all__ = ["FaultProxy", "RecordingKubelet", "CountingApi", "Killed", "FanRun", "fan_workflow", "fan_behaviour",
           "check_fan_run", "direct_api", "proxied_api", "run_fan", "wait_phase"]


def direct_api(cluster: ControlPlane, /, *, token: str | None = None, qps: float = 200.0,
               burst: int = 300) -> HttpApi:
    """An `HttpApi` straight to the apiserver (admin unless `token`)."""
    return HttpApi(HttpConfig(server=cluster.server, ca_cert=str(cluster.ca_cert),
                              token=static_token(token or cluster.admin_token), qps=qps, burst=burst))


def proxied_api(proxy: FaultProxy, token: str, /, *, qps: float = 200.0, burst: int = 300,
                max_retries: int = 10) -> HttpApi:
    return HttpApi(HttpConfig(server=proxy.url, token=static_token(token), qps=qps, burst=burst,
                              max_retries=max_retries))


# -- the proxy ----------------------------------------------------------------------------------

_HOP = ("Authorization", "Content-Type", "Accept")


class _Cut(Exception):
    """A watch stream's event count ran out: cut it as its time would have."""


class FaultProxy:
    """A reverse proxy `http://127.0.0.1:<port>` -> the apiserver, injecting faults on demand.

    cut_watch_after: (lo, hi) seconds; each watch stream is cut after a uniform time in it.
    cut_watch_events: (lo, hi); each watch stream is cut mid-line after a uniform number of
        events in it (whichever of the two comes first). A count the run's own events bound:
        a run of E events sees at least E/hi - 1 cuts however fast it goes, where a time alone
        gives a fast run few.
    p_drop: probability that a non-watch request's connection is dropped (half before
        forwarding, half after the upstream answered); only requests whose method is in
        `drop_methods` and whose path contains `drop_path`.
    drop_every: n; besides, the 1st, (n+1)-th, (2n+1)-th ... of those requests is dropped, before
        and after forwarding taking turns. A count, not a probability: a run that must make R
        such requests (each dropped one is retried) meets at least R/(n-1) drops however its
        timings fall, and both kinds once it meets two.
    storm: (period, length) seconds; within the first `length` of every `period`, every
        request is answered 429 with `Retry-After: 1`.
    shed: (n, k): besides, the first k of every n requests are answered so (what API Priority
        and Fairness does to a share of requests); unlike time windows, this reaches the
        controller's bursts however fast it plans.
    watch_delay: seconds to hold every watch whose path contains `watch_delay_path` before
        forwarding it: the events it would have carried arrive that much later (a lagging
        informer).
    conflict: {path fragment: n}: the first n PUTs on paths containing the fragment meet a
        foreign write: the proxy first patches an annotation (`example.com/proxy-touched`) of
        the object straight on the apiserver, so the PUT's resourceVersion is stale and it gets
        409 however the controller's and any other writer's timings fall.
    expire: {path fragment: n}: the first n watches from a resourceVersion on paths containing
        the fragment are expired with 410, the two forms taking turns (real expiries are rare:
        one per etcd compaction window; like client-go, informers back off before each relist).
        A count, not a probability: how many watches a run reopens depends on how fast it goes,
        and a test that asserts on the faults must get them however fast that is.
    """

    def __init__(self, cluster: ControlPlane, /, *, seed: int = 0, cut_watch_after: tuple[float, float] | None = None,
                 p_drop: float = 0.0, drop_methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "PATCH",
                                                                                "DELETE"}),
                 drop_path: str = "", storm: tuple[float, float] | None = None, expire: dict[str, int] | None = None,
                 watch_delay: float = 0.0,
                 watch_delay_path: str = "", shed: tuple[int, int] | None = None, drop_every: int = 0,
                 cut_watch_events: tuple[int, int] | None = None, conflict: dict[str, int] | None = None) -> None:
        self.upstream = cluster.server.rstrip("/")
        self._ssl = ssl.create_default_context(cafile=str(cluster.ca_cert))
        self.rng = random.Random(seed)
        self.cut_watch_after = cut_watch_after
        self.cut_watch_events = cut_watch_events
        self.conflict = dict(conflict or {})
        self.p_drop = p_drop
        self.drop_every = drop_every
        self.storm = storm
        self.shed = shed
        self.drop_methods = drop_methods
        self.drop_path = drop_path
        self.expire = dict(expire or {})
        self.watch_delay = watch_delay
        self.watch_delay_path = watch_delay_path
        self.enabled = True
        self.stats: Counter[str] = Counter()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._t0 = 0.0

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
                                              auto_decompress=False)
        self._t0 = asyncio.get_running_loop().time()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _in_storm(self) -> bool:
        if self.storm is None:
            return False
        period, length = self.storm
        return (asyncio.get_running_loop().time() - self._t0) % period < length

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()  # RST, no answer: what a dead peer or middlebox does
        return web.Response(status=500)  # never reaches the client

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        watch = request.query.get("watch") in ("1", "true")
        self.stats["requests"] += 1
        shed = self.shed is not None and (self.stats["requests"] - 1) % self.shed[0] < self.shed[1]
        if self.enabled and (self._in_storm() or shed):
            self.stats["429"] += 1
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 429,
                                      "reason": "TooManyRequests", "message": "injected 429 storm"},
                                     status=429, headers={"Retry-After": "1"})
        rv = request.query.get("resourceVersion", "")
        if self.enabled and watch and rv not in ("", "0"):
            fragment = next((p for p, n in self.expire.items() if n > 0 and p in request.path), None)
            if fragment is not None:
                self.expire[fragment] -= 1
                return await self._gone(request)
        if self.enabled and watch and self.watch_delay and self.watch_delay_path in request.path:
            self.stats["watch_delayed"] += 1
            await asyncio.sleep(self.watch_delay)
        drop = before = False
        if self.enabled and not watch and request.method in self.drop_methods and self.drop_path in request.path:
            self.stats["drop_candidates"] += 1
            if self.drop_every and (self.stats["drop_candidates"] - 1) % self.drop_every == 0:
                drop, before = True, self.stats["dropped_before"] <= self.stats["dropped_after"]
            elif self.rng.random() < self.p_drop:
                drop, before = True, self.rng.random() < 0.5
        if drop and before:
            self.stats["dropped_before"] += 1
            return self._drop(request)
        headers = {k: request.headers[k] for k in _HOP if k in request.headers}
        headers["Accept-Encoding"] = "identity"
        body = await request.read() if request.can_read_body else None
        assert self._session is not None
        if self.enabled and request.method == "PUT":
            fragment = next((p for p, n in self.conflict.items() if n > 0 and p in request.path), None)
            if fragment is not None:
                self.conflict[fragment] -= 1
                await self._touch(request, headers)
        upstream = await self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                               headers=headers, timeout=aiohttp.ClientTimeout(total=None))
        try:
            if request.method == "PUT" and upstream.status == 409:
                self.stats[f"409 {request.path.rsplit('/', 2)[-2]}"] += 1
            if watch and upstream.status == 200:
                return await self._stream(request, upstream)
            raw = await upstream.read()
        finally:
            upstream.release()
        if drop:
            self.stats["dropped_after"] += 1
            return self._drop(request)
        out = {k: upstream.headers[k] for k in ("Content-Type", "Retry-After") if k in upstream.headers}
        return web.Response(status=upstream.status, body=raw, headers=out)

    async def _touch(self, request: web.Request, headers: dict[str, str]) -> None:
        """A foreign writer's merge patch on the object the PUT is about to replace."""
        assert self._session is not None
        path = request.path.removesuffix("/status")
        self.stats["foreign_writes"] += 1
        patch = {"metadata": {"annotations": {"example.com/proxy-touched": str(self.stats["foreign_writes"])}}}
        async with self._session.patch(self.upstream + path, data=json.dumps(patch),
                                       headers={**headers, "Content-Type": "application/merge-patch+json"}) as r:
            if r.status != 200:
                raise AssertionError(f"FaultProxy's foreign write to {path} failed: {r.status} {await r.text()}")

    async def _gone(self, request: web.Request) -> web.StreamResponse:
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 410,
                  "reason": "Expired", "message": "too old resource version: injected by FaultProxy"}
        if self.stats["410_http"] <= self.stats["410_event"]:
            self.stats["410_http"] += 1
            return web.json_response({**status, "reason": "Gone"}, status=410)
        # the watch cache's way: 200, then one ERROR event, then the end of the stream
        self.stats["410_event"] += 1
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def _stream(self, request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": upstream.headers.get(
            "Content-Type", "application/json")})
        await resp.prepare(request)
        lifetime = None
        if self.enabled and self.cut_watch_after is not None:
            lifetime = self.rng.uniform(*self.cut_watch_after)
        events = None
        if self.enabled and self.cut_watch_events is not None:
            events = self.rng.randint(*self.cut_watch_events)
        try:
            async with asyncio.timeout(lifetime):
                while chunk := await upstream.content.readany():
                    if events is not None and chunk.count(b"\n") >= events:
                        # up to the events-th line's end and half of the next line, then the cut
                        end = -1
                        for _ in range(events):
                            end = chunk.index(b"\n", end + 1)
                        rest = chunk.find(b"\n", end + 1)
                        await resp.write(chunk[:end + 1 + max(1, ((rest if rest >= 0 else len(chunk)) - end) // 2)])
                        raise _Cut
                    if events is not None:
                        events -= chunk.count(b"\n")
                    await resp.write(chunk)
        except (TimeoutError, _Cut):
            self.stats["watch_cut"] += 1
            if request.transport is not None:
                request.transport.abort()  # mid-body: the client sees a broken chunked stream
            return resp
        except (ConnectionResetError, aiohttp.ClientError):
            return resp  # the client went away
        await resp.write_eof()
        return resp


# -- the kubelet's side ---------------------------------------------------------------------------

class RecordingKubelet(SimKubelet):
    """`SimKubelet` binding through `Binding` objects, counting runs per pod name in `runs`
    and keeping the substituted template each pod ran with in `templates`."""

    def __init__(self, api: base.Api, /, **kwargs: Any) -> None:
        behaviour = kwargs.pop("behaviour", None)
        super().__init__(api, **kwargs)
        self.runs: Counter[str] = Counter()
        self.templates: dict[str, dict] = {}
        inner = behaviour or (lambda pod, template: SimOutcome())

        def recorded(pod: dict, template: dict) -> SimOutcome:
            name = pod["metadata"]["name"]
            self.runs[name] += 1
            self.templates[name] = template
            return inner(pod, template)

        self.behaviour = recorded

    async def _run(self, pod: dict, outcome: SimOutcome | None = None) -> None:
        meta = pod["metadata"]
        if not (pod.get("spec") or {}).get("nodeName"):
            try:
                await self.api.create(BINDINGS, {
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}},
                    namespace=meta["namespace"])
            except Conflict:
                pass  # already bound by an earlier attempt of ours
            pod = {**pod, "spec": {**pod["spec"], "nodeName": self.node_name}}
        await super()._run(pod, outcome)


# -- the workflow ---------------------------------------------------------------------------------

def fan_workflow(name: str, n: int, /) -> dict:
    """gen -> fan(0..n-1) each given gen's output -> collect given every fan output (by value)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "steps": [
                [{"name": "gen", "template": "gen"}],
                [{"name": "fan", "template": "work", "withSequence": {"count": str(n)},
                  "arguments": {"parameters": [
                      {"name": "m", "value": "{{item}}-{{steps.gen.outputs.parameters.out}}"}]}}],
                [{"name": "collect", "template": "collect", "arguments": {"parameters": [
                    {"name": "all", "value": "{{steps.fan.outputs.parameters.o}}"}]}}]]},
            {"name": "gen", "container": {"image": "busybox", "command": ["sh", "-c", "echo seed > /tmp/out"]},
             "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]}},
            {"name": "work", "inputs": {"parameters": [{"name": "m"}]},
             "container": {"image": "busybox", "command": ["sh", "-c", "echo {{inputs.parameters.m}}! > /tmp/o"]},
             "outputs": {"parameters": [{"name": "o", "valueFrom": {"path": "/tmp/o"}}]}},
            {"name": "collect", "inputs": {"parameters": [{"name": "all"}]},
             "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.all}}"]}}]}}


def _command(template: dict) -> list[str]:
    return list((template.get("container") or {}).get("command") or [])


def _work_input(template: dict) -> str:
    # tiphys hands the executor the substituted command and an empty `inputs` (Argo keeps the
    # input values there too), so the value is read back from the command it substituted into.
    script = _command(template)[2]
    assert script.startswith("echo ") and script.endswith("! > /tmp/o"), script
    return script[len("echo "):-len("! > /tmp/o")]


def fan_behaviour(pod: dict, template: dict) -> SimOutcome:
    """What the three templates compute: gen says 'seed', work says '<m>!', collect nothing."""
    name = template.get("name")
    if name == "gen":
        return SimOutcome(parameters={"out": "seed"})
    if name == "work":
        return SimOutcome(parameters={"o": f"{_work_input(template)}!"})
    return SimOutcome()


def check_fan_run(final: dict, kubelet: RecordingKubelet, pods: list[dict], pod_creates: Counter[str],
                  n: int, /) -> None:
    """The run is whole: Succeeded, every pod made and run once, every output reached collect."""
    status = final.get("status") or {}
    if status.get("phase") != "Succeeded":
        nodes = StatusWriter().read_nodes(status)
        bad = [(i, n.display_name, n.type_, n.phase, n.message) for i, n in nodes.items()
               if n.phase != "Succeeded"][:8]
        raise AssertionError(f"workflow {status.get('phase')}: {status.get('message')}; nodes not "
                             f"Succeeded: {bad}")
    names = Counter(p["metadata"]["name"] for p in pods)
    assert len(names) == n + 2, f"expected {n + 2} pods, found {len(names)}"
    twice = {k: v for k, v in pod_creates.items() if v > 1}
    assert not twice, f"pods created twice: {twice}"
    assert set(pod_creates) <= set(names), "a created pod is missing"
    ran_twice = {k: v for k, v in kubelet.runs.items() if v > 1}
    assert not ran_twice, f"steps ran twice: {ran_twice}"
    assert set(kubelet.runs) == set(names), "a pod never ran"
    collect = [t for t in kubelet.templates.values() if t.get("name") == "collect"]
    assert len(collect) == 1
    got = json.loads(_command(collect[0])[1])
    want = [f"{i}-seed!" for i in range(n)]
    assert sorted(got) == sorted(want), (f"outputs lost on the way to collect: {len(got)} values, "
                                         f"missing {sorted(set(want) - set(got))[:5]}, "
                                         f"unexpected {sorted(set(got) - set(want))[:5]}")
    fans = [_work_input(t) for t in kubelet.templates.values() if t.get("name") == "work"]
    assert sorted(fans) == sorted(f"{i}-seed" for i in range(n)), "gen's output did not reach every fan pod"


async def wait_phase(api: base.Api, name: str, namespace: str, /, *, timeout: float) -> dict:
    """Poll until the workflow is labelled completed (polling: immune to the faults under test)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            wf = await api.get(base.WORKFLOWS, name, namespace=namespace)
        except NotFound:
            wf = {}
        if ((wf.get("metadata") or {}).get("labels") or {}).get("workflows.argoproj.io/completed") == "true":
            return wf
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"workflow {namespace}/{name} not completed in {timeout} s: "
                                 f"phase {(wf.get('status') or {}).get('phase')!r}, "
                                 f"{(wf.get('status') or {}).get('progress')!r}")
        await asyncio.sleep(0.5)


class FanRun:
    """What one `run_fan` measured and left behind."""

    def __init__(self) -> None:
        self.final: dict = {}
        self.pods: list[dict] = []
        self.pod_creates: Counter[str] = Counter()
        self.writes: Counter[tuple[str, str]] = Counter()
        self.lives = 0
        self.seconds = 0.0
        self.kubelet: RecordingKubelet | None = None

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    @property
    def status_writes(self) -> int:
        return self.writes[("update", "workflows")] + self.writes[("patch", "workflows")]

    def check(self, n: int, /) -> None:
        assert self.kubelet is not None
        check_fan_run(self.final, self.kubelet, self.pods, self.pod_creates, n)


async def run_fan(cluster: ControlPlane, namespace: str, n: int, /, *, make_api: Callable[[], base.Api],
                  name: str = "fan", timeout: float = 120.0, kills: tuple[int, ...] = (), workers: int = 8,
                  status_interval: float = 1.0) -> FanRun:
    """Submit `fan_workflow(name, n)` and run Engine lives over `make_api()` until it completes.

    `kills[i]` is the write after which life i dies (`CountingApi(kill_after=...)`); a life
    that runs out of kill points runs to completion. The kubelet talks to the apiserver
    directly and outlives every controller life, as a real node would.
    """
    run = FanRun()
    admin = direct_api(cluster, qps=1000, burst=1000)
    kubelet = RecordingKubelet(direct_api(cluster, qps=1000, burst=1000), clock=RealClock(), namespace=namespace,
                               behaviour=fan_behaviour, workers=16)
    run.kubelet = kubelet
    await kubelet.start()
    started = time.monotonic()
    deadline = started + timeout
    try:
        await admin.create(base.WORKFLOWS, fan_workflow(name, n), namespace=namespace)
        remaining = list(kills)
        while True:
            run.lives += 1
            api = CountingApi(make_api(), kill_after=remaining.pop(0) if remaining else None,
                              pod_creates=run.pod_creates)
            engine = Engine(api, clock=RealClock(), namespace=namespace, workers=workers,
                            status_interval=status_interval)
            waiter = asyncio.ensure_future(wait_phase(admin, name, namespace,
                                                      timeout=max(1.0, deadline - time.monotonic())))
            dead = asyncio.ensure_future(api.dead.wait())
            try:
                await engine.start()
                await asyncio.wait({waiter, dead}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await engine.stop()
                dead.cancel()
                if not waiter.done():
                    waiter.cancel()
                run.writes.update(api.writes)
                await api.close()
            if waiter.done() and not waiter.cancelled():
                run.final = waiter.result()  # raises the timeout's AssertionError
                break
        run.seconds = time.monotonic() - started
        # the kubelet's last writes may trail the workflow's completion by a moment
        await asyncio.sleep(0.5)
        run.pods = (await admin.list(base.PODS, namespace=namespace,
                                     label_selector=f"workflows.argoproj.io/workflow={name}")).items
    finally:
        await kubelet.stop()
        await kubelet.api.close()
        await admin.close()
    return run
