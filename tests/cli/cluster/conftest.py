"""Fixtures for the CLI's end-to-end tests against the real test kube-apiserver.

``tiphys`` runs ``python -m tiphys.cli ARGS --kubeconfig <admin> -n <ns>`` as a subprocess
and returns the CompletedProcess (text). ``live`` is a namespace (one per test module)
where a controller runs in this process, on a background event loop: the `Engine` over
`HttpApi`, plus the simulated kubelet that binds pods through ``pods/binding`` (the test
cluster has no kubelet). Pods whose template's command mentions ``fail`` exit 1; ``flaky``
ones exit 1 while ``live.flaky`` is true. ``static_ns`` has no controller: tests put
workflow objects with hand-written status there.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.test_leader import BindingSimKubelet
from tiphys.controller.api.http import HttpApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.simkubelet import SimOutcome

REPO = Path(__file__).resolve().parents[3]


class LiveController:
    def __init__(self, cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.flaky = True
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cli-test-controller", daemon=True)

    def behaviour(self, pod: dict, template: dict) -> SimOutcome:
        container = template.get("container") or template.get("script") or {}
        words = " ".join([*(container.get("command") or []), *(container.get("args") or [])])
        if "fail" in words or ("flaky" in words and self.flaky):
            return SimOutcome(exit_code=1, message="failed on purpose")
        return SimOutcome()

    async def _start(self) -> None:
        clock = RealClock()
        self.api = HttpApi.from_kubeconfig(self.cluster.kubeconfig)
        self.engine = Engine(self.api, clock=clock, namespace=self.namespace, workers=4, status_interval=0.1)
        await self.engine.start()
        self.kubelet = BindingSimKubelet(self.api, self.cluster.rest(), clock=clock, namespace=self.namespace,
                                         behaviour=self.behaviour)
        await self.kubelet.start()

    async def _stop(self) -> None:
        await self.kubelet.stop()
        await self.engine.stop()
        await self.api.close()

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="module")
def live(cluster) -> Iterator[LiveController]:
    controller = LiveController(cluster, cluster.create_namespace("cli-live"))
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        cluster.delete_namespace(controller.namespace)


@pytest.fixture
def static_ns(cluster_namespace: str) -> str:
    return cluster_namespace


@pytest.fixture(scope="session")
def tiphys(cluster) -> Callable[..., subprocess.CompletedProcess]:
    def run(*args: str, ns: str | None = None, input: str | None = None, timeout: float = 60,
            kubeconfig: str | None = None) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "tiphys.cli", *args, "--kubeconfig", kubeconfig or str(cluster.kubeconfig)]
        if ns is not None:
            argv += ["-n", ns]
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("KUBECONFIG", None)
        return subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout, cwd=REPO,
                              env=env)

    return run
