"""Child processes that cannot outlive the test session.

Every control-plane process is started through :class:`Child`, which

* sends stdout and stderr to one log file, so a failing test can show the tail;
* asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to kill the child when the
  pytest process dies, even by ``SIGKILL``, where neither ``atexit`` nor a signal
  handler could run;
* puts the child in its own session, so a Ctrl-C aimed at pytest's process group does
  not kill etcd before the apiserver has shut down cleanly;
* stops with ``SIGTERM``, then ``SIGKILL`` after a grace period.

Readiness is polled over HTTP(S) with the standard library only, so this module has no
dependency beyond the interpreter.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["Child", "ChildExited", "free_port", "wait_http_ok"]

_PR_SET_PDEATHSIG = 1


class ChildExited(RuntimeError):
    """A control-plane process exited while we were waiting for it."""

    def __init__(self, name: str, returncode: int, log_tail: str) -> None:
        super().__init__(f"{name} exited with status {returncode}; last log lines:\n{log_tail}")
        self.name = name
        self.returncode = returncode
        self.log_tail = log_tail


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. Linux only; elsewhere the atexit and
    # SIGTERM handlers of the fixture are the only safety net.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """One long-running process with its log file."""

    def __init__(self, name: str, argv: Sequence[str], /, *, log_path: Path) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed in stop()
        self._log.write(f"+ {' '.join(self.argv)}\n".encode())
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise :class:`ChildExited` with the log tail if the process has exited."""
        code = self.proc.poll()
        if code is not None:
            raise ChildExited(self.name, code, self.tail())

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log (read from the end, logs can be large)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 64 * 1024))
                data = f.read()
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    def stop(self, *, grace: float = 10.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Idempotent."""
        if self.proc.poll() is None:
            try:
                # Say in the log who ended the process: a crash and a stop look alike otherwise.
                if not self._log.closed:
                    self._log.write(b"\n# tiphys: stopping with SIGTERM\n")
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if not self._log.closed:
            self._log.close()


def wait_http_ok(
    url: str,
    /,
    *,
    timeout: float,
    alive: Callable[[], None],
    ssl_context: ssl.SSLContext | None = None,
    what: str,
) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited.

    ``alive`` is called between attempts and should raise if the server process died,
    so a crash is reported at once with its log instead of after the whole timeout.
    """
    start = time.monotonic()
    deadline = start + timeout
    last: object = None
    delay = 0.05
    while True:
        alive()
        try:
            with urllib.request.urlopen(url, timeout=2, context=ssl_context) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except (OSError, ssl.SSLError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {url} not ready after {timeout:.0f} s (last: {last})")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
