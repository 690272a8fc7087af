"""A real S3-compatible server for the artifact tests: Versity S3 Gateway (Apache-2.0).

versitygw verifies SigV4 signatures and stores objects as plain files (posix backend), so our
signer and driver are tested against a real implementation, not a mock. The binary is built from
the Go module proxy with `go install` into ~/.cache/tiphys/testbin (override with
TIPHYS_TESTBIN_CACHE) only when missing; a build takes about two minutes on two cores and runs
under `nice`. A file lock serialises concurrent builders. If Go or the build is unavailable the
tests that need the server skip, saying why.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION = "v1.8.0"
ACCESS_KEY = "tiphys-test-access"
SECRET_KEY = "tiphys-test-secret-key-0123456789"


class Unavailable(Exception):
    """The server cannot be had here; the message says why."""


def cache_dir() -> Path:
    return Path(os.environ.get("TIPHYS_TESTBIN_CACHE") or Path.home() / ".cache" / "tiphys" / "testbin")


def ensure_binary(*, timeout: float = 1500.0) -> Path:
    """The versitygw binary, built with `go install` when it is not cached yet."""
    cache = cache_dir()
    binary = cache / f"versitygw-{VERSITYGW_VERSION}"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise Unavailable("versitygw is not built and no Go toolchain is installed to build it")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"versitygw-{VERSITYGW_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():  # another builder finished while we waited
            return binary
        gobin = cache / f".versitygw-build-{os.getpid()}"
        gobin.mkdir(exist_ok=True)
        env = {**os.environ, "GOBIN": str(gobin), "GOFLAGS": "-buildvcs=false"}
        try:
            proc = subprocess.run(["nice", "-n", "19", go, "install", f"{VERSITYGW_MODULE}@{VERSITYGW_VERSION}"],
                                  env=env, capture_output=True, text=True, timeout=timeout, cwd=cache, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"building versitygw timed out after {timeout}s") from exc
        if proc.returncode != 0:
            shutil.rmtree(gobin, ignore_errors=True)
            raise Unavailable(f"go install {VERSITYGW_MODULE}@{VERSITYGW_VERSION} failed: {proc.stderr.strip()[-2000:]}")
        (gobin / "versitygw").replace(binary)
        shutil.rmtree(gobin, ignore_errors=True)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str  # host:port
    root: Path
    process: subprocess.Popen[bytes]
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(root: Path, log: Path) -> S3Server:
    binary = ensure_binary()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = _free_port()
        with open(log, "ab") as logf:
            proc = subprocess.Popen([str(binary), "--port", f"127.0.0.1:{port}", "--access", ACCESS_KEY,
                                     "--secret", SECRET_KEY, "--quiet", "posix", "--nometa", str(data)],
                                    stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            except urllib.error.HTTPError:
                return S3Server(f"127.0.0.1:{port}", data, proc)  # any HTTP answer means it is up
            except OSError:
                time.sleep(0.1)
                continue
            return S3Server(f"127.0.0.1:{port}", data, proc)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raise Unavailable(f"versitygw did not start; see {log}")
