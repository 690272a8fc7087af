"""The init side: prepare the pod before main starts (argo-semantics.md §6.1).

`run_init` does what Argo's `argoexec init` does, in order:

1. install the main-container wrapper at `<var_run>/argoexec` (Argo copies its own binary there;
   ours is the static C wrapper, see `wrapper/`);
2. write the template to `<var_run>/template` (mode 0444) for the wrapper and the wait side;
3. stage a script template's `source` at `<staging>/script` (the controller appends that path to
   the script container's args);
4. fetch every input artifact to `<inputs>/<name>` -- or, when its path is on one of main's volume
   mounts, straight to `/mainctrfs/<path>` -- unpacking archives safely; a missing optional
   artifact is skipped, a missing required one fails init (the node becomes Error).
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import ArtifactError, TemplateError
from .artifacts.repository import ArtifactRepository
from .paths import ExecutorPaths
from .template import on_volume_mount

__all__ = ["install_wrapper", "load_input_artifacts", "run_init", "stage_script", "write_template"]

_ARTIFACT_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")


def install_wrapper(binary: Path, paths: ExecutorPaths, /) -> Path:
    dest = Path(paths.var_run, "argoexec")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(".argoexec.tmp")
    shutil.copyfile(binary, tmp)
    tmp.chmod(0o755)
    tmp.replace(dest)
    return dest


def write_template(template_json: bytes, paths: ExecutorPaths, /) -> Path:
    dest = paths.template_file()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.chmod(0o644)  # a re-run of init replaces its own read-only file
    tmp = dest.with_name(".template.tmp")
    tmp.write_bytes(template_json)
    tmp.chmod(0o444)
    tmp.replace(dest)
    return dest


def stage_script(template: Mapping[str, Any], paths: ExecutorPaths, /) -> Path | None:
    script = template.get("script")
    if not script:
        return None
    source = script.get("source") if isinstance(script, Mapping) else None
    if not isinstance(source, str):
        raise TemplateError("$.script.source", "a script template needs a string `source`")
    dest = Path(paths.staging, "script")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(source)
    # executable: `command: [sh, -c]` runs the staged path itself (Argo's scripts-bash example)
    dest.chmod(0o755)
    return dest


def _input_dest(template: Mapping[str, Any], art: Mapping[str, Any], i: int, paths: ExecutorPaths) -> Path:
    name = art.get("name")
    if not isinstance(name, str) or not _ARTIFACT_NAME.match(name):
        raise TemplateError(f"$.inputs.artifacts[{i}].name", f"artifact name must match {_ARTIFACT_NAME.pattern}, got {name!r}")
    path = art.get("path")
    if not isinstance(path, str) or not path:
        raise TemplateError(f"$.inputs.artifacts[{i}].path", f"input artifact {name!r} needs a path")
    if on_volume_mount(template, path, where=f"$.inputs.artifacts[{i}].path"):
        return paths.on_mainctrfs(path)
    return Path(paths.inputs, name)


def load_input_artifacts(template: Mapping[str, Any], paths: ExecutorPaths, repository: ArtifactRepository, /) -> list[str]:
    """Fetch the template's input artifacts; return the names actually loaded."""
    loaded = []
    for i, art in enumerate((template.get("inputs") or {}).get("artifacts") or ()):
        if not isinstance(art, Mapping):
            raise TemplateError(f"$.inputs.artifacts[{i}]", "expected an object")
        dest = _input_dest(template, art, i, paths)
        try:
            if repository.load(art, dest):
                loaded.append(str(art["name"]))
        except ArtifactError as exc:
            if exc.artifact is None:
                exc.artifact = str(art["name"])
            raise
    return loaded


def run_init(template: Mapping[str, Any], paths: ExecutorPaths, repository: ArtifactRepository, /, *,
             template_json: bytes | None = None, wrapper: Path | None = None) -> list[str]:
    """All of init; returns the loaded input artifact names. Raises an ExecutorError on failure."""
    for d in (paths.var_run, paths.inputs):
        os.makedirs(d, exist_ok=True)
    if wrapper is not None:
        install_wrapper(wrapper, paths)
    if template_json is not None:
        write_template(template_json, paths)
    stage_script(template, paths)
    return load_input_artifacts(template, paths, repository)
