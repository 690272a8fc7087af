"""The HTTP agent pod on the node agent: `argoexec agent init|main` run in-process.

The agent pod (core.plan.agentpod) runs the executor's `agent` command, which must talk to the
API server; a host process cannot reach an embedded API, so the node agent plays the container,
as it does for resource templates (resourcepod.py): `tiphys.executor.agent.run_agent` runs on
its own event loop over `ApiTaskSetApi`, a `TaskSetApi` on its `base.Api` that follows the task
set with a watch (field selector on its name) instead of polling. `agent init` has nothing to do
(no executor plugins) and exits 0 at once. Log lines go to the container log; SIGTERM (a delete
of the pod) cancels the agent, which flushes the results it has and exits 143 like a process.
"""
from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api import errors as api_errors
from tiphys.executor.agent import AgentError, AgentSettings, run_agent, secret_value
from tiphys.executor.httptask import HttpTaskError
from tiphys.executor.resource import KubeError
from .inprocess import InProcessTask, executor_argv

__all__ = ["agent_role", "ApiTaskSetApi", "InProcessAgent", "run_agent_pod"]

_WATCH_SECONDS = 60.0  # a watch is renewed after this long without news


def agent_role(spec: Mapping[str, Any], /) -> str | None:
    """`init` / `main` when the container runs `<executor> agent <role>`."""
    argv = executor_argv(spec)
    if len(argv) >= 3 and argv[1] == "agent" and argv[2] in ("init", "main"):
        return str(argv[2])
    return None


class ApiTaskSetApi:
    """`executor.agent.TaskSetApi` over a `base.Api`: get, status patch, Secrets, a watch."""

    def __init__(self, api: base.Api, settings: AgentSettings, /) -> None:
        self._api, self._name, self._ns = api, settings.workflow_name, settings.namespace

    async def get(self) -> dict[str, Any] | None:
        try:
            return await self._api.get(base.WORKFLOW_TASK_SETS, self._name, namespace=self._ns)
        except api_errors.NotFound:
            return None

    async def patch_status(self, nodes: dict[str, Any], /) -> None:
        try:
            await self._api.patch(base.WORKFLOW_TASK_SETS, self._name, {"status": {"nodes": nodes}},
                                  namespace=self._ns, subresource="status")
        except api_errors.ApiError as exc:  # the agent's retry looks at KubeError only
            raise KubeError(str(exc), status=exc.status or 0, reason=exc.reason) from None

    async def secret(self, name: str, key: str, /) -> str:
        try:
            obj = await self._api.get(base.SECRETS, name, namespace=self._ns)
        except api_errors.ApiError as exc:
            raise HttpTaskError(f"secret {name!r}: {exc}") from None
        return secret_value(obj, name, key)

    async def changed(self, resource_version: str, /) -> dict[str, Any] | None:
        """The task set as the next event after `resource_version` ("": its creation) brings it;
        None after a deletion, a quiet minute or a failed watch (the agent reads it again)."""
        try:
            async with self._api.watch(base.WORKFLOW_TASK_SETS, namespace=self._ns,
                                       field_selector=f"metadata.name={self._name}",
                                       resource_version=resource_version or None,
                                       timeout=_WATCH_SECONDS) as stream:
                async for event in stream:
                    if event.type in (base.EventType.ADDED, base.EventType.MODIFIED):
                        return event.object
                    if event.type is base.EventType.DELETED:
                        return None
        except api_errors.ApiError:
            await asyncio.sleep(0.5)  # Gone or a refused watch: read the object again
        return None


class InProcessAgent(InProcessTask):
    """An agent container run as a task of the node agent; `signal` stands in for the process's."""

    def __init__(self, role: str, env: Mapping[str, str], /, *, api: base.Api, log_path: Path) -> None:
        super().__init__()
        self._role, self._env, self._api, self._log_path = role, dict(env), api, log_path

    async def _run(self) -> tuple[int, str]:
        if self._role == "init":
            return 0, ""
        with open(self._log_path, "a", buffering=1) as log:
            def write(line: str) -> None:
                log.write(line + "\n")
            try:
                settings = AgentSettings.from_env(self._env)
            except AgentError as exc:
                self.message = f"agent: {exc}"
                write(self.message)
                return 1, ""
            try:
                return await run_agent(ApiTaskSetApi(self._api, settings), settings, log=write), ""
            except asyncio.CancelledError:
                write("agent: terminated")
                return 128 + signal.SIGTERM, ""


async def run_agent_pod(api: base.Api, pod: Mapping[str, Any], /, *, log: Any) -> int:
    """The agent of `pod` (an agent pod object) run directly, for kubelets that do not start
    containers (the simulated one): settings from the pod's `main` container env and metadata."""
    meta = pod.get("metadata") or {}
    main = next((c for c in (pod.get("spec") or {}).get("containers") or () if c.get("name") == "main"), {})
    env = {e["name"]: e["value"] for e in main.get("env") or () if isinstance(e, dict) and "value" in e}
    env.setdefault("ARGO_NAMESPACE", str(meta.get("namespace") or "default"))
    settings = AgentSettings.from_env(env)
    return await run_agent(ApiTaskSetApi(api, settings), settings, log=log)
