"""The process plumbing of the real servers the artifact tests run against (`_s3server`:
versitygw; `_azurite`: Azurite): a build or install done once into a cache under a file lock, a
server process started on a free port and waited for until it answers HTTP, and its stop.

What differs between the servers (how to build, the command line, the URL that answers) is passed
in; the caching, the retries and the clean-up are the same for both.
"""
from __future__ import annotations

import fcntl
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

__all__ = ["Unavailable", "build_once", "serve_for_session", "start_answering", "stop_process"]

_Server = TypeVar("_Server")


class Unavailable(Exception):
    """The server cannot be had here; the message says why."""


def build_once(lock: Path, /, *, ready: Callable[[], bool], build: Callable[[], None]) -> None:
    """Run `build` unless `ready()`, holding `lock` (a file) so that concurrent test sessions
    build once: one that waited for the lock finds the other's result and builds nothing."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not ready():  # another builder may have finished while we waited
            build()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_answering(argv: Callable[[int], list[str]], url: Callable[[int], str], /, *, log: Path, name: str,
                    wait: float, poll: float) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv(port)` on a free port, output appended to `log`, until `url(port)` gives any
    HTTP answer (a refusal too: the server is up) within `wait` seconds; three tries, since
    another process may take the port between our look and the server's bind."""
    for _ in range(3):
        port = _free_port()
        with open(log, "ab") as logf:
            proc = subprocess.Popen(argv(port), stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(url(port), timeout=1).close()
            except urllib.error.HTTPError:
                pass
            except OSError:
                time.sleep(poll)
                continue
            return proc, port
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raise Unavailable(f"{name} did not start; see {log}")


def stop_process(proc: subprocess.Popen[bytes], /) -> None:
    """SIGTERM, and SIGKILL after ten seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_for_session(start: Callable[[Path, Path], _Server], stop: Callable[[_Server], None], root: Path, /, *,
                      log_name: str, missing: str) -> Iterator[_Server]:
    """The body of a session fixture: the server started in `root` (skipping the test with
    `missing: <why>` when it cannot be had), stopped at the end."""
    try:
        server = start(root, root / log_name)
    except Unavailable as exc:
        pytest.skip(f"{missing}: {exc}")
    try:
        yield server
    finally:
        stop(server)
