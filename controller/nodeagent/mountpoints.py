"""Mount points on the host's tree: made as few as possible, shared by count, removed after use.

A bind mount needs an entry to land on. A kubelet makes it inside the container's own root
filesystem; here containers share the host's tree, so a mount at `/in/msg` needs `/in` on the
host. Left behind, such stubs litter `/` and break later pods (a file stub where a directory is
needed fails with ENOTDIR), so `MountPoints.plan` makes only the FIRST missing component of each
path, the "anchor":

- the anchor is the mount target itself: an empty directory (or an empty file, for a file
  source) that the bind then covers;
- the anchor is an ancestor (`/in` for `/in/msg`, the missing `workingDir`): an empty directory,
  and the enter helper mounts a private tmpfs on it first, so everything deeper is created in
  that tmpfs, one per container: two pods needing a file and a directory at `/in/msg` both work.

Targets under another directory mount of the same container (`/tmp/x`, `/mainctrfs/main/x`, a
volume at `/work/a` and one at `/work/a/b`) land inside that mount's source, as on a kubelet.

Every anchor is counted per running container that uses it and removed when the count drops to
zero, only if it is still empty and not a mount point: removing it earlier would detach the
tmpfs or bind of another container (Linux lets a directory that is a mount point in another
mount namespace be removed, and detaches those mounts). An anchor another container of this
agent made is reused, never treated as the host's own entry.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import PurePosixPath

import msgspec

from .errors import ContainerConfigError

__all__ = ["MountPoints", "Lease", "TMPFS"]

TMPFS = ""  # a mount source meaning "a private tmpfs" to the enter helper


class Lease(msgspec.Struct, frozen=True):
    """The anchors one container holds, in the order they were taken."""

    paths: tuple[str, ...] = ()


class MountPoints:
    """The agent's anchors: path -> (kind "dir" or "file", how many containers hold it)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, int]] = {}

    def held(self) -> dict[str, int]:
        return {p: n for p, (_, n) in self._held.items()}

    def plan(self, targets: Sequence[tuple[str, bool]], /, *, cwd: str | None, where: str) -> tuple[list[str], Lease]:
        """Make the anchors for `targets` ((container path, source is a directory), shallow to
        deep) and `cwd`; returns the paths to cover with a private tmpfs, and the lease to
        `release` when the container has ended. On an error nothing stays taken."""
        dirs = [t for t, is_dir in targets if is_dir]
        tmpfs: list[str] = []
        taken: list[str] = []
        needs = [(t, is_dir) for t, is_dir in targets]
        if cwd:
            needs.append((os.path.normpath(cwd), True))
        try:
            for target, is_dir in needs:
                if any(_under(target, d) for d in dirs if d != target) or any(_under(target, t) for t in tmpfs):
                    continue
                anchor = self._anchor(target)
                if anchor is None:
                    continue  # every component is the host's own
                whole = anchor == target and (target, is_dir) in targets
                kind = "dir" if is_dir or not whole else "file"
                self._take(anchor, kind, where)
                taken.append(anchor)
                if not whole and anchor not in tmpfs:
                    tmpfs.append(anchor)
        except BaseException:
            self.release(Lease(tuple(taken)))
            raise
        return tmpfs, Lease(tuple(taken))

    def release(self, lease: Lease, /) -> None:
        """Drop `lease`; anchors no container holds any more are removed (if still empty)."""
        for path in reversed(lease.paths):
            kind, count = self._held.get(path, ("dir", 0))
            if count > 1:
                self._held[path] = (kind, count - 1)
                continue
            self._held.pop(path, None)
            _remove_if_empty(path, kind)

    def _anchor(self, target: str) -> str | None:
        """The first component of `target` that the host lacks, or that is an anchor of ours."""
        path = PurePosixPath(target)
        for depth in range(2, len(path.parts) + 1):
            here = str(PurePosixPath(*path.parts[:depth]))
            if here in self._held or not os.path.lexists(here):
                return here
        return None

    def _take(self, path: str, kind: str, where: str) -> None:
        held = self._held.get(path)
        if held is not None:
            if held[0] != kind:
                raise ContainerConfigError(where, f"mount point {path} is needed as a {kind} while another running "
                                                  f"container of this agent holds it as a {held[0]}")
            self._held[path] = (kind, held[1] + 1)
            return
        try:
            if kind == "dir":
                os.mkdir(path, 0o755)
            else:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        except OSError as exc:
            raise ContainerConfigError(where, f"cannot create the mount point {path}: {exc.strerror}") from None
        self._held[path] = (kind, 1)


def _under(path: str, root: str) -> bool:
    return root == "/" or path.startswith(root.rstrip("/") + "/")


def _remove_if_empty(path: str, kind: str) -> None:
    try:
        if os.path.ismount(path):
            return
        if kind == "dir":
            os.rmdir(path)  # fails (and is left) when not empty
        elif os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) == 0:
            os.unlink(path)
    except OSError:
        pass  # something was put there (not by us): not ours to delete
