"""Where the in-pod protocol files live.

Argo fixes these paths (argo-semantics.md §6.5). They are grouped into one settings object built
once at the entry point -- from the environment in a pod, from a temporary directory in tests --
and passed down; no library function reads the environment itself.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import msgspec

from ._errors import TemplateError

__all__ = ["ExecutorPaths", "clean_container_path"]


class ExecutorPaths(msgspec.Struct, frozen=True, kw_only=True):
    var_run: str = "/var/run/argo"          # shared emptyDir: ctr/<c>/..., outputs/..., template
    staging: str = "/argo/staging"          # script source
    inputs: str = "/argo/inputs/artifacts"  # downloaded input artifacts
    mainctrfs: str = "/mainctrfs"           # mirrors of main's volume mounts
    config: str = "/argo/config"            # offloaded ARGO_TEMPLATE / args
    secrets: str = "/argo/secret"           # <secret>/<key> files for artifact drivers

    @classmethod
    def from_env(cls, env: Mapping[str, str], /) -> ExecutorPaths:
        """Argo's fixed paths, each overridable (ARGO_VAR_RUN, ARGO_STAGING_DIR, ...) for tests."""
        keys = {"var_run": "ARGO_VAR_RUN", "staging": "ARGO_STAGING_DIR", "inputs": "ARGO_INPUTS_DIR",
                "mainctrfs": "ARGO_MAINCTRFS", "config": "ARGO_CONFIG_DIR", "secrets": "ARGO_SECRETS_DIR"}
        return cls(**{field: env[var] for field, var in keys.items() if env.get(var)})

    def ctr(self, container: str, /) -> Path:
        return Path(self.var_run, "ctr", container)

    def exitcode(self, container: str, /) -> Path:
        return self.ctr(container) / "exitcode"

    def template_file(self) -> Path:
        return Path(self.var_run, "template")

    def output_parameter(self, path: str, /) -> Path:
        return Path(self.var_run, "outputs", "parameters", *clean_container_path(path).parts[1:])

    def output_artifact(self, path: str, /) -> Path:
        p = clean_container_path(path)
        return Path(self.var_run, "outputs", "artifacts", *p.parts[1:-1], p.name + ".tgz")

    def on_mainctrfs(self, path: str, /) -> Path:
        return Path(self.mainctrfs, *clean_container_path(path).parts[1:])


def clean_container_path(path: str, /, *, where: str = "path") -> PurePosixPath:
    """An absolute container path without `..`; Argo rejects the rest (§2.4)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise TemplateError(where, f"expected an absolute path, got {path!r}")
    p = PurePosixPath(os.path.normpath(path))
    if ".." in PurePosixPath(path).parts:
        raise TemplateError(where, f"path {path!r} contains '..'")
    return p
