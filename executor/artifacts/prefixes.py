"""Directories on an object store (S3, Azure Blob): a directory artifact is every object whose
name starts with `<key>/`, as Argo's drivers store one.

Saving walks the directory and puts each file at `<key>/<relative path>`; loading takes every
name under the prefix back to the same relative path below the destination -- refusing a name
that would land outside it (`..`, an empty component, a leading `/`): the store is not trusted to
hold only names we wrote. A name ending in `/` (a folder marker some tools create) is skipped.
Only the names and a fetch are the driver's own; the rest is here, once for every store.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .._errors import ArtifactConfigError

__all__ = ["files_under", "get_under_prefix"]


def files_under(src: Path, key: str, /) -> Iterator[tuple[str, Path]]:
    """`(<key>/<relative posix path>, file)` for every file below the directory `src`."""
    for root, _, files in os.walk(src):
        for name in sorted(files):
            path = Path(root, name)
            yield f"{key.rstrip('/')}/{path.relative_to(src).as_posix()}", path


def get_under_prefix(names: Iterable[str], prefix: str, dest: Path, /, *, fetch: Callable[[str, Path], None],
                     what: str) -> None:
    """`fetch(name, dest/<name without prefix>)` for each of `names` (all under `prefix`); a name
    that would leave `dest` is an `ArtifactConfigError` naming it as the store's `what`."""
    for name in names:
        rel = name[len(prefix):]
        if not rel or rel.endswith("/"):
            continue
        parts = Path(rel).parts
        if any(p in ("..", "") for p in parts) or rel.startswith("/"):
            raise ArtifactConfigError(f"refusing {what} {name!r}: it would leave {dest}")
        fetch(name, dest.joinpath(*parts))
