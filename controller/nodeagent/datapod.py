"""Data templates on the node agent: `argoexec data` run in-process.

A data pod's main container runs the executor's `data` command, which lists an artifact location,
transforms the list and reports the result as its own task result (`tiphys.executor.data`). It
needs no API but the task result, so a host process could run it; the agent plays it in-process
instead, as it plays `resource` (resourcepod.py), because a process has no way to hand the node
its failure message: a kubelet would read `/dev/termination-log`, which the agent does not
provide, so the node would read only `main: Error (exit code 64)`. In-process, the message is the
container's termination message and the node reads `main: Error (exit code 64): <message>`, as
under Argo.

What the container would see, it sees here: the template from its `ARGO_TEMPLATE` (or the
offloaded file through its volume mounts), settings from its environment, the local artifact
repository from `TIPHYS_ARTIFACT_DIR`, and artifact credentials (`accessKeySecret`, ...) as the
files `/argo/secret/<name>/<key>` of the Secret volumes its mounts show it (artifactsecrets.py),
as a kubelet would mount them -- not through the API. The result goes through the pod's relay
directory; the exit code is written to `/var/run/argo/ctr/main/exitcode` for a `wait` container
that archives logs.
"""
from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tiphys.controller.api import base
from tiphys.executor.artifacts import (ArtifactoryDriver, ArtifactRepository, AzureDriver, GitDriver, HTTPDriver,
                                       LocalDriver, RawDriver, S3Driver)
from tiphys.executor.data import FAILURE_EXIT_CODE, DataSettings, run_data
from tiphys.executor.runtime import FileTaskResultSink, key_variables

from .artifactsecrets import mounted_secrets
from .inprocess import InProcessTask, executor_argv, write_wait_files
from .resourcepod import host_path

__all__ = ["InProcessData", "is_data_command"]


def is_data_command(spec: Mapping[str, Any], /) -> bool:
    """True when the container runs `[wrapper emissary --] <executor> data [...]`."""
    argv = executor_argv(spec)
    return len(argv) >= 2 and argv[1] == "data"


class InProcessData(InProcessTask):
    """A data container run as a task of the agent; `signal` stands in for the process's."""

    def __init__(self, pod: Mapping[str, Any], spec: Mapping[str, Any], env: Mapping[str, str], /, *,
                 api: base.Api, volumes: Mapping[str, Path], log_path: Path, task_result_dir: Path) -> None:
        super().__init__()
        self._pod, self._spec, self._env = pod, spec, dict(env)
        self._api, self._volumes, self._log_path = api, volumes, log_path
        self._sink = FileTaskResultSink(task_result_dir)

    def _template(self) -> dict[str, Any]:
        raw = self._env.get("ARGO_TEMPLATE", "")
        if raw == "offloaded":
            host = host_path("/argo/config/ARGO_TEMPLATE", self._spec.get("volumeMounts") or (), self._volumes)
            if host is None:
                raise ValueError("ARGO_TEMPLATE is offloaded but /argo/config is on no volume of the container")
            raw = host.read_text()
        tmpl = json.loads(raw)
        if not isinstance(tmpl, dict):
            raise ValueError("ARGO_TEMPLATE is not a JSON object")
        return tmpl

    def _repository(self, template: Mapping[str, Any]) -> ArtifactRepository:
        secrets = mounted_secrets(self._spec, self._volumes)
        local = self._env.get("TIPHYS_ARTIFACT_DIR")
        return ArtifactRepository(
            drivers={"s3": S3Driver(secrets=secrets, env=self._env), "http": HTTPDriver(secrets=secrets),
                     "artifactory": ArtifactoryDriver(secrets=secrets), "git": GitDriver(secrets=secrets),
                     "raw": RawDriver(), "azure": AzureDriver(secrets=secrets)},
            default=LocalDriver(local) if local else None,
            archive_location=template.get("archiveLocation") or None, key_variables=key_variables(self._env))

    async def _run(self) -> tuple[int, str]:
        log = open(self._log_path, "a", buffering=1)

        def write(line: str) -> None:
            log.write(line + "\n")
        try:
            try:
                template = self._template()
                settings = DataSettings.from_env(self._env)
            except Exception as exc:  # noqa: BLE001 - any unreadable input is this container's failure
                self.message = f"data: cannot read the template or settings: {exc}"
                write(self.message)
                return self._exit(FAILURE_EXIT_CODE)
            try:
                outcome = await run_data(template, self._repository(template), settings, sink=self._sink, log=write)
            except asyncio.CancelledError:
                write("data: terminated")
                return self._exit(128 + signal.SIGTERM)
            except OSError as exc:  # the relay directory could not be written: the report failed
                self.message = f"data: cannot report the task result: {exc}"
                write(self.message)
                return self._exit(FAILURE_EXIT_CODE)
            self.message = outcome.message
            return self._exit(outcome.exit_code)
        finally:
            log.close()

    def _exit(self, code: int) -> tuple[int, str]:
        write_wait_files(self._volumes, self._spec, self._log_path, code)
        return code, ""
