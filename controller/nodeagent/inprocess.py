"""Containers the node agent plays in-process: what the data, resource, agent and GC pods share.

Some executor commands (`data`, `resource`, `agent`, `artifact-gc`) need the API server or must
hand the node a termination message, which a host process started by the agent cannot do; the
agent runs them as asyncio tasks on its own loop instead (datapod.py, resourcepod.py,
agentpod.py, gcpod.py). To the pod runner such a container looks like a process: `start()` gives
the task that ends with `(exit code, "")`, `signal(sig)` stands in for a signal to the process
(it cancels the task, which exits 128 + SIGTERM like a process), and `message` is the
termination message a kubelet would read from `/dev/termination-log`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["InProcessTask", "executor_argv", "write_wait_files"]


def executor_argv(spec: Mapping[str, Any], /) -> Sequence[Any]:
    """The container's `command + args`, after emissary's `--` when it is wrapped:
    `[<executor>, <subcommand>, ...]`."""
    argv = [*(spec.get("command") or ()), *(spec.get("args") or ())]
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    return argv


def write_wait_files(volumes: Mapping[str, Path], spec: Mapping[str, Any], log_path: Path, code: int, /) -> None:
    """Leave `/var/run/argo/ctr/<name>/{combined,exitcode}` as emissary would, for a `wait`
    container that archives the logs; nothing when the pod mounts no `var-run-argo`."""
    var_run = volumes.get("var-run-argo")
    if var_run is None:
        return
    ctr = var_run / "ctr" / str(spec.get("name", "main"))
    ctr.mkdir(parents=True, exist_ok=True)
    try:
        (ctr / "combined").write_bytes(log_path.read_bytes())
    except OSError:
        pass  # no log: nothing to archive
    (ctr / "exitcode").write_text(str(code))


class InProcessTask:
    """A container run as a task of the node agent; subclasses write `_run`."""

    def __init__(self) -> None:
        self.message = ""
        self._task: asyncio.Task[tuple[int, str]] | None = None

    def start(self) -> asyncio.Task[tuple[int, str]]:
        self._task = asyncio.ensure_future(self._run())
        return self._task

    def signal(self, sig: int, /) -> None:
        """The process's signal: any signal cancels the task (a SIGTERM or SIGKILL ends it)."""
        if self._task is not None and not self._task.done():
            self._task.cancel(msg=str(sig))

    async def _run(self) -> tuple[int, str]:
        raise NotImplementedError
