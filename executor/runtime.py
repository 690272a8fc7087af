"""Wiring for the in-pod entry points: secrets, the artifact repository, a file sink.

These builders read the environment, so only the entry points (`__main__.py`) call them; the
library functions they feed take plain arguments.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ._errors import ArtifactConfigError
from .artifacts import ArtifactoryDriver, ArtifactRepository, GitDriver, HTTPDriver, LocalDriver, RawDriver, S3Driver
from .paths import ExecutorPaths

__all__ = ["FileTaskResultSink", "key_variables", "repository_from_env", "secret_file_resolver"]

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
                 "git": GitDriver(secrets=secrets), "raw": RawDriver()},
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
