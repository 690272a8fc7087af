"""Run workflows through the real engine on the embedded API with the simulated kubelet."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from tiphys.controller.local import LocalSession
from tiphys.controller.simkubelet import SimOutcome
from tiphys.controller.status_writer import StatusWriter


def run_workflow(wf: dict, *, behaviour: Callable[[dict, dict], SimOutcome] | None = None,
                 timeout: float = 60.0) -> tuple[dict, dict]:
    """Submit `wf`, drive it to completion; returns (final workflow, nodes by name)."""
    async def go() -> dict:
        async with LocalSession(behaviour=behaviour) as session:
            return await session.run(wf, timeout=timeout)

    final = asyncio.run(go())
    nodes = StatusWriter().read_nodes(final.get("status") or {})
    return final, {n.name: n for n in nodes.values()}


def node_name_of(pod: dict) -> str:
    return pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]


@pytest.fixture
def run() -> Callable[..., Any]:
    return run_workflow
