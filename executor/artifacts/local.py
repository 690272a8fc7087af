"""The local-directory artifact repository: tiphys's embedded default.

Objects are files under one root directory, addressed by key exactly as an S3 bucket would be
(`<root>/<key>`); a "directory" artifact is a directory under its key. Writes go through a
temporary name and a rename, so a reader never sees half an object.

`list` answers what an S3 ListObjects over the same objects would: every file below the key's
prefix, recursively, as its full key, in S3's order (UTF-8 byte order); an upload still under
its temporary name is not an object yet, so it is not listed.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .._errors import ArtifactConfigError, ArtifactNotFound
from .keys import list_prefix

__all__ = ["LocalDriver"]

_PART = re.compile(r"^\..+\.[0-9a-f]{32}\.part$")  # put()'s temporary name: `.<name>.<uuid>.part`


class LocalDriver:
    def __init__(self, root: str | os.PathLike[str], /) -> None:
        self.root = Path(root)

    def path_for(self, key: str, /) -> Path:
        """The file for `key`; keys may not leave the root."""
        if not key or not isinstance(key, str):
            raise ArtifactConfigError(f"local artifact key must be a non-empty string, got {key!r}")
        parts = PurePosixPath(key.lstrip("/")).parts
        if ".." in parts or not parts:
            raise ArtifactConfigError(f"local artifact key {key!r} would leave the repository")
        return self.root.joinpath(*parts)

    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        src = self.path_for(str(location.get("key", "")))
        if not src.exists():
            raise ArtifactNotFound(f"no object at key {location.get('key')!r} in {self.root}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dest)

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        dest = self.path_for(str(location.get("key", "")))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        if not src.is_dir():
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
            return
        shutil.copytree(src, tmp, symlinks=True)
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        tmp.rename(dest)

    def list(self, location: Mapping[str, Any], /) -> list[str]:
        """Every object key under the location's key, taken as a directory (Argo's ListObjects)."""
        prefix = list_prefix(str(location.get("key") or ""))
        base = self.root.joinpath(*PurePosixPath(prefix).parts)
        if not base.is_dir():
            return []  # no such "directory", or the key names one object: S3 lists nothing either
        keys = []
        for top, dirs, files in os.walk(base):
            rel = Path(top).relative_to(self.root).as_posix()
            keys += [f"{rel}/{f}" if rel != "." else f for f in files if not _PART.match(f)]
            dirs[:] = [d for d in dirs if not _PART.match(d)]
        return sorted(keys, key=lambda k: k.encode("utf-8", "surrogateescape"))

    def delete(self, location: Mapping[str, Any], /) -> None:
        """Remove the object (or "directory") at the key; a missing one is already deleted, as an
        S3 DELETE of a missing key succeeds (artifact GC may run twice after a restart)."""
        path = self.path_for(str(location.get("key", "")))
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
