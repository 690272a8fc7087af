"""HTTP endpoints of the controller process: `/healthz`, `/readyz` and the metrics page.

Two small aiohttp servers on the event loop the controller already runs (no threads):

* the health port (6060): `/healthz` answers 200 while the process and its loop are alive;
  `/readyz` answers 200 once every informer has synced and, with leader election on, the
  process is either leading or standing by as a candidate — 503 with the reason otherwise, so a
  Deployment's readiness probe keeps traffic (and the rollout) waiting for warm caches;
* the metrics port (9090): the Prometheus text page at `metricsConfig.path` (`/metrics`).

`HttpEndpoint` serves a route table and reports the port it bound (port 0 picks a free one,
which the tests use).
"""
from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

__all__ = ["HttpEndpoint", "Readiness", "health_routes", "metrics_routes"]

# (ready?, reason) — the reason is the 503 body when not ready
Readiness = Callable[[], tuple[bool, str]]


def health_routes(ready: Readiness, /) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        ok, reason = ready()
        return web.Response(text=f"{reason}\n", status=200 if ok else 503)

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]


def metrics_routes(render: Callable[[], bytes], /, *, path: str = "/metrics") -> list[web.RouteDef]:
    if not path.startswith("/"):
        raise ValueError(f"metrics path must start with '/', got {path!r}")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=render(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    return [web.get(path, metrics)]


class HttpEndpoint:
    """One listening aiohttp server: `await start()`, `port`, `await stop()`."""

    def __init__(self, routes: list[web.RouteDef], /, *, host: str = "0.0.0.0", port: int) -> None:
        self._app = web.Application()
        self._app.add_routes(routes)
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
