"""Node-agent tests run real processes, so they use the real clock and wait for real.

The parent conftest runs `async def` tests with a 120 s guard; these tests start Python
processes on a shared two-core machine, so this hook (registered later, hence called first)
gives them a longer guard. `Harness` wires an `EmbeddedApi`, a started `NodeAgent` and helpers
to create a pod and wait until it reaches a phase.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from tiphys.controller.api import PODS, EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.nodeagent import ImageMap, Isolation, NodeAgent, probe_isolation

TEST_TIMEOUT = 180.0
_PROBE: list[tuple[Isolation, str]] = []


def isolation_probe() -> tuple[Isolation, str]:
    if not _PROBE:
        _PROBE.append(probe_isolation())
    return _PROBE[0]


def needs_namespaces() -> None:
    mode, why = isolation_probe()
    if mode is not Isolation.NAMESPACE:
        pytest.skip(f"private mount namespaces are unavailable here ({why}); the agent would fall back to "
                    "path rewriting, which does not isolate /tmp")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**args), TEST_TIMEOUT))
    return True


def pod(name: str, *containers: dict, init: list[dict] | None = None, volumes: list[dict] | None = None,
        namespace: str = "default", **spec: Any) -> dict:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                            "spec": {"restartPolicy": "Never", "containers": list(containers), **spec}}
    if init:
        body["spec"]["initContainers"] = init
    if volumes:
        body["spec"]["volumes"] = volumes
    return body


def sh(name: str, script: str, *, image: str = "busybox:1.36", **extra: Any) -> dict:
    return {"name": name, "image": image, "command": ["sh", "-c", script], **extra}


class Harness:
    def __init__(self, root: Path, **options: Any) -> None:
        self.clock = RealClock()
        self.api = EmbeddedApi(clock=self.clock)
        self.root = root
        self.agent = NodeAgent(self.api, clock=self.clock, root_dir=root, **options)

    async def __aenter__(self) -> Harness:
        await self.agent.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.agent.stop()

    async def create(self, body: dict) -> dict:
        return await self.api.create(PODS, body, namespace=body["metadata"]["namespace"])

    async def wait_for(self, name: str, predicate: Any, *, namespace: str = "default", timeout: float = 120.0) -> dict:
        """Poll the pod until `predicate(pod)` holds (processes are real: so is the wait, generous
        because a loaded machine stretches process starts many times over)."""
        deadline = time.monotonic() + timeout
        while True:
            obj = await self.api.get(PODS, name, namespace=namespace)
            if predicate(obj):
                return obj
            if time.monotonic() > deadline:
                raise AssertionError(f"pod {name} never matched; last status {obj.get('status')}")
            await asyncio.sleep(0.02)

    async def finished(self, name: str, **kw: Any) -> dict:
        return await self.wait_for(name, lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), **kw)

    def log(self, name: str, container: str, namespace: str = "default") -> str:
        return (self.root / "logs" / namespace / name / f"{container}.log").read_text()


def statuses(p: dict, kind: str = "containerStatuses") -> dict[str, dict]:
    return {c["name"]: c for c in p["status"].get(kind) or ()}


@pytest.fixture
def harness(tmp_path: Path):
    def make(**options: Any) -> Harness:
        options.setdefault("images", ImageMap())
        return Harness(tmp_path / "agent", **options)
    return make
