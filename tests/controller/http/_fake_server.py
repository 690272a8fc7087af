"""A scripted aiohttp server standing in for kube-apiserver, and a clock that never waits.

`FakeServer` answers each request with the next scripted `Reply` for its route (the last
one repeats) and records every request it saw, headers and body included, so a test can
assert what the client sent as well as what it did with the answers.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Reply", "Seen", "FakeServer", "InstantClock", "status_body"]


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                            "reason": reason, "message": message}
    if details:
        body["details"] = details
    return body


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # For watches: raw byte chunks written one by one (each flushed), instead of `body`.
    chunks: list[bytes] | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class FakeServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers),
                              await request.read()))
        replies = self.routes.get((request.method, request.path))
        if not replies:
            return web.json_response(status_body(404, "NotFound", f"no script for {request.path}"),
                                     status=404)
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.chunks is None:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers,
                                     dumps=json.dumps)
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_type = "application/json"
        await resp.prepare(request)
        for chunk in reply.chunks:
            await resp.write(chunk)
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    async def __aenter__(self) -> FakeServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


class InstantClock:
    """A `Clock` whose `sleep` returns at once but moves `now()` and records the delay."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, delay: float, /) -> None:
        self.sleeps.append(delay)
        self._now += max(0.0, delay)
        await asyncio.sleep(0)

    def call_at(self, when: float, callback: Callable[[], object], /) -> Any:
        raise NotImplementedError("the HTTP client never schedules callbacks")
