"""Artifact credentials for the containers the agent plays in-process, read as a kubelet gives them.

The controller puts each Secret an artifact location names into the pod as a Secret volume at
`/argo/secret/<secret name>` (core.plan._podvolumes), and the executor reads
`/argo/secret/<name>/<key>`. Executor containers the agent runs as processes see those files
through their mounts (sandbox.py). The ones it plays in-process (`argoexec data`, `artifact-gc`)
read the same files here, through the container's own `volumeMounts` and the pod's materialised
volumes -- never through the API: a pod whose spec lacks the volume fails as it would on a
kubelet, naming the Secret that is not mounted.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tiphys.executor import ArtifactConfigError

from .resourcepod import host_path

__all__ = ["SECRET_DIR", "mounted_secrets"]

SECRET_DIR = "/argo/secret"


def mounted_secrets(spec: Mapping[str, Any], volumes: Mapping[str, Path], /) -> Callable[[str, str], str]:
    """A driver's secret resolver over the files container `spec` sees under /argo/secret.

    Same rules and messages as the executor's `secret_file_resolver`: a name or key with a slash
    (or `.`/`..`) is refused, an absent file is `secret <name>/<key> is not mounted under ...`.
    """
    mounts = list(spec.get("volumeMounts") or ())

    def resolve(name: str, key: str) -> str:
        for part in (name, key):
            if not part or "/" in part or part in (".", ".."):
                raise ArtifactConfigError(f"bad secret reference {name!r}/{key!r}")
        host = host_path(f"{SECRET_DIR}/{name}/{key}", mounts, volumes)
        if host is None or not host.is_file():
            raise ArtifactConfigError(f"secret {name}/{key} is not mounted under {SECRET_DIR}")
        return host.read_text()
    return resolve
