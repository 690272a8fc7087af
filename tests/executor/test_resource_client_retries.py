"""The in-cluster client's retries, against a scripted local HTTP server: 429 always (after
Retry-After), 5xx only for reads, and the typed errors of each status."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tiphys.executor.resource import BUILTIN, KubeAlreadyExists, KubeConflict, KubeError, KubeNotFound
from tiphys.executor.kube import InClusterClient

CM = BUILTIN.for_manifest("v1", "ConfigMap")


async def _serve(script: list[tuple[int, dict, dict]]):
    """A server answering each request with the next (status, body, headers); records requests."""
    seen: list[tuple[str, str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("Authorization", "")))
        status, body, headers = script.pop(0)
        return web.json_response(body, status=status, headers=headers)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}", seen


def _status(code: int, reason: str, message: str = "m") -> dict:
    return {"kind": "Status", "code": code, "reason": reason, "message": message}


def test_retries_and_typed_errors():
    async def body():
        sleeps: list[float] = []

        async def sleep(s: float) -> None:
            sleeps.append(s)
        script = [
            (429, _status(429, "TooManyRequests"), {"Retry-After": "3"}), (201, {"metadata": {"name": "a"}}, {}),
            (503, _status(503, "ServiceUnavailable"), {}), (200, {"metadata": {"name": "a"}}, {}),
            (500, _status(500, "InternalError"), {}),
            (404, _status(404, "NotFound", 'configmaps "x" not found'), {}),
            (409, _status(409, "AlreadyExists"), {}), (409, _status(409, "Conflict"), {}),
        ]
        runner, url, seen = await _serve(script)
        tokens = iter(["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"])
        client = InClusterClient(url, token=lambda: next(tokens), ssl_context=False, sleep=sleep)
        try:
            assert (await client.create(CM, {"metadata": {"name": "a"}}, namespace="ns"))["metadata"]["name"] == "a"
            assert (await client.get(CM, "a", namespace="ns"))["metadata"]["name"] == "a"
            with pytest.raises(KubeError) as err:  # a write's 5xx: maybe done, never repeated
                await client.update(CM, {"metadata": {"name": "a"}}, namespace="ns")
            assert err.value.status == 500
            with pytest.raises(KubeNotFound) as nf:
                await client.get(CM, "x", namespace="ns")
            assert str(nf.value) == 'Error from server (NotFound): configmaps "x" not found'
            with pytest.raises(KubeAlreadyExists):
                await client.create(CM, {"metadata": {"name": "a"}}, namespace="ns")
            with pytest.raises(KubeConflict):
                await client.update(CM, {"metadata": {"name": "a"}}, namespace="ns")
        finally:
            await client.close()
            await runner.cleanup()
        assert sleeps == [3.0, 0.2]
        assert [m for m, _, _ in seen] == ["POST", "POST", "GET", "GET", "PUT", "GET", "POST", "PUT"]
        assert seen[0][1] == "/api/v1/namespaces/ns/configmaps" and seen[4][1] == "/api/v1/namespaces/ns/configmaps/a"
        assert [a for _, _, a in seen][:2] == ["Bearer t1", "Bearer t2"]  # the token file is read per request
    asyncio.run(body())
