"""The artifact GC pod on the node agent: `argoexec artifact-gc` run in-process.

The GC pod (core.plan.artifact_gc) runs the executor's `artifact-gc` command, which lists its
WorkflowArtifactGCTasks and patches their status through the API server; a host process cannot
reach an embedded API, so the node agent plays the container, as it does for the HTTP agent
(agentpod.py): `tiphys.executor.artifact_gc.run_artifact_gc` runs on the agent's loop over
`ApiGCTaskApi`, and the drivers delete on a worker thread. What the container would see, it sees
here: its pod name and namespace, the local artifact repository from `TIPHYS_ARTIFACT_DIR`, and
the locations' credentials as the files of the Secret volumes its mounts show it
(`/argo/secret/<name>/<key>`, artifactsecrets.py), as a kubelet would mount them.
SIGTERM (a delete of the pod) cancels it; it exits 143 like a process.
"""
from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tiphys.controller.api import base
from tiphys.executor import ArtifactConfigError
from tiphys.executor.artifact_gc import POD_LABEL, GCSettings, drivers_for, run_artifact_gc

from .artifactsecrets import mounted_secrets
from .inprocess import InProcessTask, executor_argv

__all__ = ["ApiGCTaskApi", "InProcessArtifactGC", "is_artifact_gc_command"]


def is_artifact_gc_command(spec: Mapping[str, Any], /) -> bool:
    """True when the container runs `<executor> artifact-gc [...]`."""
    argv = executor_argv(spec)
    return len(argv) >= 2 and argv[1] == "artifact-gc"


class ApiGCTaskApi:
    """`executor.artifact_gc.GCTaskApi` over a `base.Api`: list by the pod label, status patch."""

    def __init__(self, api: base.Api, settings: GCSettings, /) -> None:
        self._api, self._settings = api, settings

    async def list_tasks(self) -> list[dict[str, Any]]:
        listed = await self._api.list(base.WORKFLOW_ARTIFACT_GC_TASKS, namespace=self._settings.namespace,
                                      label_selector=f"{POD_LABEL}={self._settings.pod_name}")
        return list(listed.items)

    async def patch_status(self, name: str, status: dict[str, Any], /) -> None:
        await self._api.patch(base.WORKFLOW_ARTIFACT_GC_TASKS, name, {"status": status},
                              namespace=self._settings.namespace, subresource="status")


class InProcessArtifactGC(InProcessTask):
    """A GC container run as a task of the node agent; `signal` stands in for the process's."""

    def __init__(self, spec: Mapping[str, Any], env: Mapping[str, str], /, *, api: base.Api,
                 volumes: Mapping[str, Path], log_path: Path) -> None:
        super().__init__()
        self._env, self._api, self._log_path = dict(env), api, log_path
        self._secrets = mounted_secrets(spec, volumes)

    async def _run(self) -> tuple[int, str]:
        with open(self._log_path, "a", buffering=1) as log:
            def write(line: str) -> None:
                log.write(line + "\n")
            try:
                settings = GCSettings.from_env(self._env)
            except ArtifactConfigError as exc:
                self.message = str(exc)
                write(self.message)
                return 1, ""
            drivers, default = drivers_for(self._secrets, self._env)
            try:
                code = await run_artifact_gc(ApiGCTaskApi(self._api, settings), drivers=drivers, default=default,
                                             log=write)
            except asyncio.CancelledError:
                write("artifact-gc: terminated")
                return 128 + signal.SIGTERM, ""
            return code, ""
