"""Artifact keys: Argo's key format and the file name an archived artifact gets.

The artifact repository has a `keyFormat` (default `{{workflow.name}}/{{pod.name}}`); the
controller normally renders it into the template's `archiveLocation` key before the pod starts.
An output artifact without its own key is stored at `<archiveLocation key>/<file name>`, where the
file name is `<artifact name>.tgz` for tar archives (the default), `<artifact name>.zip` for zip,
and the base name of the path for `archive: none` (`workflow/executor/executor.go`).
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from .._errors import ArtifactConfigError

__all__ = ["DEFAULT_KEY_FORMAT", "archive_strategy", "artifact_file_name", "join_key", "list_prefix",
           "render_key_format"]

DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"
_TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def render_key_format(fmt: str, variables: Mapping[str, str], /) -> str:
    """Substitute `{{var}}` tags; an unknown variable is an error naming it."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise ArtifactConfigError(f"key format {fmt!r} uses unknown variable {name!r}")
        return str(variables[name])
    return _TAG.sub(sub, fmt)


def archive_strategy(artifact: Mapping[str, Any], /) -> str:
    """`tar` (the default, also for `archive: {}`), `none` or `zip`."""
    archive = artifact.get("archive")
    if not archive:
        return "tar"
    if not isinstance(archive, Mapping):
        raise ArtifactConfigError(f"archive must be an object, got {archive!r}", artifact=artifact.get("name"))
    if "none" in archive:
        return "none"
    if "zip" in archive:
        return "zip"
    return "tar"


def artifact_file_name(artifact: Mapping[str, Any], /) -> str:
    strategy = archive_strategy(artifact)
    name = artifact.get("name")
    if strategy == "none":
        return posixpath.basename(posixpath.normpath(str(artifact.get("path", name))))
    return f"{name}.{'zip' if strategy == 'zip' else 'tgz'}"


def join_key(prefix: str, name: str, /) -> str:
    """Argo's `path.Join(key, fileName)`: clean, no leading slash doubling."""
    return posixpath.normpath(posixpath.join(prefix, name)) if prefix else name


def list_prefix(key: str, /) -> str:
    """The object-name prefix Argo's `ListDirectory` lists under `key` (recursively): `""` (every
    object) for an empty key, else `filepath.Clean(key) + "/"` -- so `logs`, `logs/` and `./logs`
    all list `logs/...`, and a key naming one object lists nothing below it. The leading `/` is
    dropped, as tiphys's drivers drop it from every key they read or write; `.` lists every object
    (Go would list `./`, nothing in practice) and a key climbing out with `..` is refused."""
    key = key.lstrip("/")
    if not key:
        return ""
    clean = posixpath.normpath(key)
    if clean == ".." or clean.startswith("../"):
        raise ArtifactConfigError(f"key {key!r} would leave the repository")
    return "" if clean == "." else clean + "/"
