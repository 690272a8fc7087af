"""Wiring for the in-pod entry points: secrets, the artifact repository, the task-result sink.

These builders read the environment, so only the entry points (`__main__.py`) call them; the
library functions they feed take plain arguments.

Where a task result goes (`task_result_sink`), in this order:

1. a directory (`--task-result-dir` or TIPHYS_TASK_RESULT_DIR): the node agent's file relay,
   which plays the pod's API client when tiphys runs pods itself;
2. else the API server, as argoexec does in a real pod: `kube.InClusterClient` with the pod's
   service-account token (the automounted one, or the `executor.serviceAccountName` token the
   controller mounts at the same path) -- TIPHYS_SERVICE_ACCOUNT_DIR moves that directory, for
   runs outside a pod;
3. else `NoTaskResultDestination`, naming both.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from ._errors import ArtifactConfigError, NoTaskResultDestination
from .artifacts import ArtifactoryDriver, ArtifactRepository, AzureDriver, GitDriver, HTTPDriver, LocalDriver, RawDriver, S3Driver
from .kube import SERVICE_ACCOUNT_DIR, InClusterClient, NotInCluster, api_sink
from .paths import ExecutorPaths
from .taskresult import TaskResultSink

__all__ = ["FileTaskResultSink", "account_dir", "key_variables", "repository_from_env", "secret_file_resolver",
           "task_result_sink"]

_encoder = msgspec.json.Encoder()


def secret_file_resolver(paths: ExecutorPaths, /):
    """Secrets mounted as files: `<secrets>/<secret name>/<key>` (Argo's /argo/secret layout)."""
    def resolve(name: str, key: str) -> str:
        for part in (name, key):
            if not part or "/" in part or part in (".", ".."):
                raise ArtifactConfigError(f"bad secret reference {name!r}/{key!r}")
        try:
            return Path(paths.secrets, name, key).read_text()
        except FileNotFoundError as exc:
            raise ArtifactConfigError(f"secret {name}/{key} is not mounted under {paths.secrets}") from exc
    return resolve


def key_variables(env: Mapping[str, str], /) -> dict[str, str]:
    return {"workflow.name": env.get("ARGO_WORKFLOW_NAME", ""), "pod.name": env.get("ARGO_POD_NAME", ""),
            "workflow.namespace": env.get("ARGO_NAMESPACE", ""), "workflow.uid": env.get("ARGO_WORKFLOW_UID", "")}


def repository_from_env(template: Mapping[str, Any], paths: ExecutorPaths, env: Mapping[str, str], /,
                        *, work_dir: Path | None = None) -> ArtifactRepository:
    """Every driver, the template's archiveLocation, and the local default (TIPHYS_ARTIFACT_DIR)."""
    secrets = secret_file_resolver(paths)
    local = env.get("TIPHYS_ARTIFACT_DIR")
    return ArtifactRepository(
        drivers={"s3": S3Driver(secrets=secrets, env=env), "http": HTTPDriver(secrets=secrets),
                 "artifactory": ArtifactoryDriver(secrets=secrets),
                 "git": GitDriver(secrets=secrets), "raw": RawDriver(), "azure": AzureDriver(secrets=secrets)},
        default=LocalDriver(local) if local else None,
        archive_location=template.get("archiveLocation") or None,
        key_variables=key_variables(env), work_dir=work_dir)


class FileTaskResultSink:
    """Writes each task result as `<dir>/<name>.json` (atomic replace), for runs with no API server:
    the local node agent picks the files up. Pods talking to an API server get its client instead."""

    def __init__(self, directory: str | os.PathLike[str], /) -> None:
        self.directory = Path(directory)

    async def __call__(self, obj: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = obj["metadata"]["name"]
        tmp = self.directory / f".{name}.json.tmp"
        tmp.write_bytes(_encoder.encode(obj))
        tmp.replace(self.directory / f"{name}.json")


def account_dir(env: Mapping[str, str], /) -> Path:
    """The service-account directory: the pod's, or TIPHYS_SERVICE_ACCOUNT_DIR (runs outside a pod)."""
    return Path(env.get("TIPHYS_SERVICE_ACCOUNT_DIR") or SERVICE_ACCOUNT_DIR)


@contextlib.asynccontextmanager
async def task_result_sink(env: Mapping[str, str], /, *, directory: str | None = None) -> AsyncIterator[TaskResultSink]:
    """The file relay when a directory is given, else the API through the pod's service account."""
    directory = directory or env.get("TIPHYS_TASK_RESULT_DIR")
    if directory:
        yield FileTaskResultSink(directory)
        return
    try:
        client = InClusterClient.from_env(env, account_dir=account_dir(env))
    except NotInCluster as exc:
        raise NoTaskResultDestination(
            "no task-result destination: no --task-result-dir or TIPHYS_TASK_RESULT_DIR (the node agent's file "
            f"relay), and no API server to write WorkflowTaskResults to ({exc})") from None
    if not env.get("ARGO_WORKFLOW_UID"):
        # the result is owned by its Workflow (garbage-collected with it); the API refuses an empty uid
        await client.close()
        raise NoTaskResultDestination("ARGO_WORKFLOW_UID is not set: a WorkflowTaskResult written through the API "
                                      "needs its Workflow's uid for the owner reference")
    async with client:
        yield api_sink(client)
