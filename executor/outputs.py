"""Collecting a pod's outputs after main has exited (argo-semantics.md §3.9, §6.3).

* `outputs.result`: main's stdout file, one trailing newline removed, the last 256 KiB kept;
* output parameters with `valueFrom.path`: the emissary's copy under
  `<var_run>/outputs/parameters/<path>` (or `/mainctrfs/<path>` when the path is on a volume mount),
  one trailing newline removed; a missing file falls back to `valueFrom.default`, else an error;
* output artifacts: the emissary's `<path>.tgz` (or the path under /mainctrfs), saved through the
  artifact repository; a missing non-optional artifact is an error.

Errors do not stop collection: every output is tried and the errors are returned together, as
Argo's wait container does before it reports what it has and exits non-zero.
"""
from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import ArtifactError, ExecutorError, OutputError
from .artifacts import archive as _archive
from .artifacts.keys import archive_strategy
from .artifacts.repository import ArtifactRepository
from .paths import ExecutorPaths
from .template import on_volume_mount

__all__ = ["MAX_RESULT_BYTES", "capture_result", "collect_artifacts", "collect_logs", "collect_parameters", "trim_newline"]

MAX_RESULT_BYTES = 256 * 1024


def trim_newline(data: bytes, /) -> bytes:
    """Remove exactly one trailing newline, as Argo's `strings.TrimSuffix(s, "\\n")`."""
    return data[:-1] if data.endswith(b"\n") else data


def capture_result(paths: ExecutorPaths, /, *, container: str = "main") -> str | None:
    """`outputs.result` from main's stdout file; None when nothing was captured."""
    f = paths.ctr(container) / "stdout"
    try:
        size = f.stat().st_size
    except FileNotFoundError:
        return None
    with open(f, "rb") as fh:
        # only the tail matters: read at most the last 256 KiB + the newline we may trim
        if size > MAX_RESULT_BYTES + 1:
            fh.seek(size - MAX_RESULT_BYTES - 1)
        data = trim_newline(fh.read())
    if len(data) > MAX_RESULT_BYTES:
        data = data[-MAX_RESULT_BYTES:]
    return data.decode("utf-8", errors="replace")


def collect_parameters(template: Mapping[str, Any], paths: ExecutorPaths, /) -> tuple[list[dict[str, Any]], list[ExecutorError]]:
    """Output parameters with values filled; other parameters are passed through unchanged."""
    params = copy.deepcopy(list((template.get("outputs") or {}).get("parameters") or []))
    errors: list[ExecutorError] = []
    for i, p in enumerate(params):
        where = f"$.outputs.parameters[{i}]"
        vf = p.get("valueFrom") if isinstance(p, dict) else None
        if not isinstance(vf, dict) or not vf.get("path"):
            continue
        try:
            path = str(vf["path"])
            src = paths.on_mainctrfs(path) if on_volume_mount(template, path, where=f"{where}.valueFrom.path") else paths.output_parameter(path)
            try:
                p["value"] = trim_newline(src.read_bytes()).decode("utf-8", errors="replace")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                if "default" in vf and vf["default"] is not None:
                    p["value"] = str(vf["default"])
                else:
                    raise OutputError(f"{where}.valueFrom.path", f"cannot read output parameter {p.get('name')!r}: {path} not found") from exc
        except ExecutorError as exc:
            errors.append(exc)
    return params, errors


def collect_artifacts(template: Mapping[str, Any], paths: ExecutorPaths, repository: ArtifactRepository, /,
                      *, work_dir: Path | None = None) -> tuple[list[dict[str, Any]], list[ExecutorError]]:
    """Save every output artifact; return them with locations (absent optional ones unchanged)."""
    arts = copy.deepcopy(list((template.get("outputs") or {}).get("artifacts") or []))
    errors: list[ExecutorError] = []
    for i, art in enumerate(arts):
        where = f"$.outputs.artifacts[{i}]"
        path = art.get("path") if isinstance(art, dict) else None
        if not path:
            continue  # `from`/`fromExpression` artifacts are resolved by the controller
        try:
            if on_volume_mount(template, str(path), where=f"{where}.path"):
                src = paths.on_mainctrfs(str(path))
                if not src.exists() and not src.is_symlink():
                    _missing(art, where, errors)
                    continue
                arts[i] = repository.save(src, art)
                continue
            tgz = paths.output_artifact(str(path))
            if not tgz.exists():
                _missing(art, where, errors)
                continue
            with tempfile.TemporaryDirectory(dir=work_dir, prefix="out-") as tmp:
                if archive_strategy(art) == "tar":
                    # already the right shape: only recompress (the wrapper stores, not deflates)
                    level = ((art.get("archive") or {}).get("tar") or {}).get("compressionLevel")
                    packed = _archive.recompress(tgz, Path(tmp, "artifact.tgz"), compression_level=level)
                    arts[i] = repository.save(packed, art, prepacked=True)
                    continue
                # `none`/`zip` need the content: the archive holds one root entry, the path itself
                root = Path(tmp, "x")
                _archive.safe_extract_tar(tgz, root, artifact=art.get("name"))
                entries = list(root.iterdir())
                if len(entries) != 1:
                    raise ArtifactError(f"{tgz} should hold one root entry, found {len(entries)}", artifact=art.get("name"))
                arts[i] = repository.save(entries[0], art)
        except ExecutorError as exc:
            errors.append(exc)
    return arts, errors


def collect_logs(template: Mapping[str, Any], paths: ExecutorPaths, repository: ArtifactRepository,
                 containers: list[str], /) -> tuple[list[dict[str, Any]], list[ExecutorError]]:
    """With `archiveLocation.archiveLogs`, save each container's combined log as `<name>-logs`.

    Argo uploads `<container>.log` unarchived under the archive location's key and lists it among
    the output artifacts; it reads the log from the API, we from the wrapper's `combined` file.
    """
    if (template.get("archiveLocation") or {}).get("archiveLogs") is not True:
        return [], []
    logs: list[dict[str, Any]] = []
    errors: list[ExecutorError] = []
    for name in containers:
        src = paths.ctr(name) / "combined"
        if not src.exists():
            continue
        try:
            art = repository.save(src, {"name": f"{name}-logs", "archive": {"none": {}}}, file_name=f"{name}.log")
        except ExecutorError as exc:
            errors.append(exc)
            continue
        art.pop("archive", None)
        logs.append(art)
    return logs, errors


def _missing(art: dict[str, Any], where: str, errors: list[ExecutorError]) -> None:
    if not art.get("optional"):
        errors.append(OutputError(f"{where}.path", f"output artifact {art.get('name')!r} not found at {art.get('path')}"))
