"""Memory cgroups: enforce `resources.limits.memory` and tell an OOM kill from any other SIGKILL.

A container with a memory limit gets its own cgroup below the agent's (cgroup v2 `memory.max`,
or v1 `memory.limit_in_bytes` plus `memory.memsw.limit_in_bytes` where swap accounting exists);
`_enter.py` moves itself into it before exec, so the command and all its children are confined
from their first instruction. After exit, the cgroup's OOM-kill counter (v2 `memory.events`,
v1 `memory.oom_control`) says whether the kernel killed it: the kubelet's `OOMKilled`, exit 137.

`MemoryCgroups.detect()` returns None where the agent cannot create such groups (no memory
controller, not root, a v2 hierarchy whose parent does not delegate `memory`); limits are then
not enforced and `OOMKilled` is never reported, which the agent logs once. Path-rewriting mode
(no `_enter.py`) has no cgroups either.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MemoryCgroups"]

_ROOT = Path("/sys/fs/cgroup")


def _own_path(version: int) -> str | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if version == 2 and controllers == "":
            return path
        if version == 1 and "memory" in controllers.split(","):
            return path
    return None


class MemoryCgroups:
    def __init__(self, parent: Path, version: int) -> None:
        self.parent, self.version = parent, version

    @classmethod
    def detect(cls) -> tuple[MemoryCgroups | None, str]:
        """(cgroups, "") when usable, else (None, why)."""
        if os.geteuid() != 0:
            return None, "memory cgroups need root"
        if (_ROOT / "cgroup.controllers").exists():
            own = _own_path(2)
            if own is None or "memory" not in (_ROOT / "cgroup.controllers").read_text().split():
                return None, "cgroup v2 without the memory controller"
            candidate = cls(_ROOT / own.lstrip("/"), 2)
        elif (_ROOT / "memory").is_dir():
            own = _own_path(1)
            if own is None:
                return None, "this process is in no v1 memory cgroup"
            candidate = cls(_ROOT / "memory" / own.lstrip("/"), 1)
        else:
            return None, "no cgroup filesystem at /sys/fs/cgroup"
        try:
            probe = candidate.create(f"tiphys-probe-{os.getpid()}", 64 * 2**20)
            candidate.remove(probe)
        except OSError as exc:
            return None, f"cannot create memory cgroups under {candidate.parent}: {exc}"
        return candidate, ""

    def sweep(self, prefix: str = "tiphys-", /) -> int:
        """Remove empty groups a previous agent left behind (killed pods are reaped late)."""
        removed = 0
        for path in self.parent.glob(f"{prefix}*"):
            try:
                path.rmdir()
                removed += 1
            except OSError:
                continue  # still populated: not ours to force
        return removed

    def create(self, name: str, limit_bytes: int, /) -> Path:
        """A fresh group `name` limited to `limit_bytes` (an existing one is reused)."""
        path = self.parent / name
        path.mkdir(exist_ok=True)
        if self.version == 2:
            (path / "memory.max").write_text(str(limit_bytes))
            swap = path / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")  # no swapping around the limit: exceed it and be OOM-killed
        else:
            (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            memsw = path / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(limit_bytes))
        return path

    def procs_file(self, path: Path, /) -> str:
        return str(path / "cgroup.procs")

    def oom_killed(self, path: Path, /) -> bool:
        """Did the kernel's OOM killer kill a process of this group?"""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (path / name).read_text()
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        # v1 kernels before 4.13 have no counter: a hit limit is the best evidence there is
        if self.version == 1:
            try:
                return int((path / "memory.failcnt").read_text()) > 0
            except (OSError, ValueError):
                return False
        return False

    def remove(self, path: Path, /) -> None:
        """Remove the (empty) group; OSError if processes are still in it."""
        path.rmdir()
