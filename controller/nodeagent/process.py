"""One container as a host process: spawn, signal, reap, and clean up what it left behind.

Each container starts in a new session (`setsid`), so its session id is its own pid. A container
ends when that first process exits, as a container ends with its PID 1; whatever it left running
in its session is then SIGKILLed, as the runtime kills the rest of a container's cgroup. SIGTERM
goes to the process group (Argo's wrapper forwards it to its command, which runs in a group of
its own); SIGKILL goes to every process of the session, so a wrapper killed hard cannot orphan
its command. A program that calls `setsid` itself escapes this bookkeeping (documented limit:
there are no cgroups here).

stdout and stderr go to the container's log file, interleaved, which `tiphys logs` reads.
"""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from .sandbox import Launch

__all__ = ["ContainerProcess", "session_members", "StartFailed"]


class StartFailed(Exception):
    """The command could not be started (`exec` failed, mount setup failed): exit code 128."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def session_members(sid: int, /) -> list[int]:
    """Pids of live processes in session `sid` (from /proc; empty where /proc is absent)."""
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # fields after the parenthesised command name: state ppid pgrp session ...
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 3 and int(rest[3]) == sid and rest[0] != b"Z":
            out.append(int(entry))
    return out


class ContainerProcess:
    """A started container process. `returncode` is Kubernetes-style (128+signal when killed)."""

    def __init__(self, proc: asyncio.subprocess.Process, errfd: int | None) -> None:
        self._proc = proc
        self._errfd = errfd
        self.pid = proc.pid

    @classmethod
    async def spawn(cls, launch: Launch, log_path: Path, /, *, errfd_pair: tuple[int, int] | None) -> ContainerProcess:
        """Start the process; `errfd_pair` is the (read, write) pipe `_enter.py` reports into."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab", buffering=0)
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv, env=launch.env, cwd=launch.cwd, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                pass_fds=(errfd_pair[1],) if errfd_pair else ())
        except OSError as exc:
            if errfd_pair:
                os.close(errfd_pair[0])
            message = f'exec: "{launch.argv[0]}": {exc.strerror or exc}'
            log.write(f"{message}\n".encode())
            raise StartFailed(message) from None
        finally:
            log.close()
            if errfd_pair:
                os.close(errfd_pair[1])  # only the child holds the write end now
        return cls(proc, errfd_pair[0] if errfd_pair else None)

    async def wait(self) -> tuple[int, str]:
        """Wait for exit; returns (exit code, start-failure message or "")."""
        code = await self._proc.wait()
        self.kill_leftovers()
        failure = ""
        if self._errfd is not None:
            try:
                failure = os.read(self._errfd, 65536).decode(errors="replace")
            finally:
                os.close(self._errfd)
                self._errfd = None
        return (128 - code if code < 0 else code), failure

    def signal(self, sig: int, /) -> None:
        """SIGKILL the whole session; any other signal to the process group."""
        if self._proc.returncode is not None:
            return
        if sig == signal.SIGKILL:
            self.kill_leftovers(include_leader=True)
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # already gone: nothing to signal

    def kill_leftovers(self, *, include_leader: bool = False) -> None:
        for pid in session_members(self.pid):
            if pid == self.pid and not include_leader:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # raced with its exit
