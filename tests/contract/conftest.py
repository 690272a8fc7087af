"""The API-boundary contract suite: one set of behavioural tests, every `Api` implementation.

Every test takes the `api` fixture (an opened `tiphys.controller.api.Api`) and usually `backend`
(what the implementation can do besides the interface) and `ns` (a fresh namespace). The
implementations are the params of `backend`:

    embedded         EmbeddedApi() in memory, on a FakeClock
    embedded-sqlite  EmbeddedApi(path=tmp/store.db), on a FakeClock; can restart from its file

How another implementation plugs in: a `Backend` subclass (open/prepare/close, plus `advance`,
`compact`, `restart` and the `garbage_collector`/`persistent` flags where it can do them, else
they skip), offered as one more param of `backend`. The kube-apiserver client does exactly that
in `test_http_contract.py`: it re-collects every `test_contract_*.py` module and overrides
`backend` with a `KubeBackend` on the session's test cluster (`tests/cluster`), skipping when the
cluster binaries are absent and marked `cluster`; its `advance` really sleeps, `compact` skips
(the watch cache outlives etcd compaction) and `restart` skips. A contract test must therefore
hold on a real server: no reliance on server-chosen timing (bookmarks), on what a delete answers
beyond name/uid, or on the embedded store's synchronous garbage collector (use `eventually`).

Async tests run through the hook in this file (no asyncio plugin is a dependency): the `api`
fixture value is a placeholder that the hook opens inside the test's event loop and closes after.
"""
from __future__ import annotations

import abc
import asyncio
import inspect
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tiphys.controller.api import Api, EmbeddedApi
from tiphys.controller.clock import FakeClock

TEST_TIMEOUT = 90.0


class Backend(abc.ABC):
    """One implementation under test, with the knobs the contract needs beyond `Api`."""

    garbage_collector: bool = True  # dependents are deleted when their owner goes
    persistent: bool = False  # `restart()` reopens the same data

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.namespace = "t-" + secrets.token_hex(4)
        self.api: Api | None = None

    @abc.abstractmethod
    async def open(self) -> Api:
        """Connect (inside the test's loop); skip if the implementation is unavailable."""

    async def prepare(self) -> None:
        """Make `self.namespace` usable (the embedded store needs nothing)."""

    async def close(self) -> None:
        if self.api is not None:
            await self.api.close()
            self.api = None

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of server time pass (fake clock: step it; real server: sleep)."""
        await asyncio.sleep(seconds)

    def compact(self) -> None:
        pytest.skip(f"{type(self).__name__} cannot compact its watch history on demand")

    async def restart(self) -> Api:
        pytest.skip(f"{type(self).__name__} does not persist across restarts")


class EmbeddedBackend(Backend):
    path: Path | None = None

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.clock = FakeClock()

    def _make(self) -> EmbeddedApi:
        return EmbeddedApi(path=self.path, clock=self.clock, bookmark_interval=60.0)

    async def open(self) -> Api:
        self.api = self._make()
        return self.api

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for _ in range(20):
            await asyncio.sleep(0)

    def compact(self) -> None:
        assert isinstance(self.api, EmbeddedApi)
        self.api.compact()


class EmbeddedSqliteBackend(EmbeddedBackend):
    persistent = True

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.path = tmp_path / "store.db"

    async def restart(self) -> Api:
        await self.close()
        return await self.open()


BACKENDS = [
    pytest.param(EmbeddedBackend, id="embedded"),
    pytest.param(EmbeddedSqliteBackend, id="embedded-sqlite"),
]


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    return request.param(tmp_path)


class _OpenInLoop:
    """Placeholder for the `api` fixture; the hook replaces it with `await backend.open()`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend


@pytest.fixture
def api(backend) -> _OpenInLoop:
    return _OpenInLoop(backend)


@pytest.fixture
def ns(backend) -> str:
    return backend.namespace


async def _run(test: Callable[..., Awaitable[None]], args: dict) -> None:
    opened: list[Backend] = []
    for name, value in args.items():
        if isinstance(value, _OpenInLoop):
            args[name] = await value.backend.open()
            await value.backend.prepare()
            opened.append(value.backend)
    try:
        await asyncio.wait_for(test(**args), TEST_TIMEOUT)
    finally:
        for backend in opened:
            await backend.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(_run(pyfuncitem.obj, args))
    return True


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 60.0) -> None:
    """Wait until `check()` is true (immediately true on the embedded store, whose GC is
    synchronous; a real cluster's garbage collector can take until its next discovery resync,
    30 s, to watch a freshly installed CRD)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
