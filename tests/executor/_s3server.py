"""A real S3-compatible server for the artifact tests: Versity S3 Gateway (Apache-2.0).

versitygw verifies SigV4 signatures and stores objects as plain files (posix backend), so our
signer and driver are tested against a real implementation, not a mock. The binary is built from
the Go module proxy with `go install` into ~/.cache/tiphys/testbin (override with
TIPHYS_TESTBIN_CACHE) only when missing; a build takes about two minutes on two cores and runs
under `nice`. A file lock serialises concurrent builders. If Go or the build is unavailable the
tests that need the server skip, saying why.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ._serverproc import Unavailable, build_once, start_answering, stop_process

__all__ = ["ACCESS_KEY", "SECRET_KEY", "S3Server", "Unavailable", "ensure_binary", "start"]

VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION = "v1.8.0"
ACCESS_KEY = "tiphys-test-access"
SECRET_KEY = "tiphys-test-secret-key-0123456789"


def cache_dir() -> Path:
    return Path(os.environ.get("TIPHYS_TESTBIN_CACHE") or Path.home() / ".cache" / "tiphys" / "testbin")


def ensure_binary(*, timeout: float = 1500.0) -> Path:
    """The versitygw binary, built with `go install` when it is not cached yet."""
    cache = cache_dir()
    binary = cache / f"versitygw-{VERSITYGW_VERSION}"

    def build() -> None:
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

    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise Unavailable("versitygw is not built and no Go toolchain is installed to build it")
    build_once(cache / f"versitygw-{VERSITYGW_VERSION}.lock", ready=binary.is_file, build=build)
    return binary


@dataclass
class S3Server:
    endpoint: str  # host:port
    root: Path
    process: subprocess.Popen[bytes]
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def stop(self) -> None:
        stop_process(self.process)


def start(root: Path, log: Path) -> S3Server:
    binary = ensure_binary()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    proc, port = start_answering(
        lambda port: [str(binary), "--port", f"127.0.0.1:{port}", "--access", ACCESS_KEY, "--secret", SECRET_KEY,
                      "--quiet", "posix", "--nometa", str(data)],
        lambda port: f"http://127.0.0.1:{port}/", log=log, name="versitygw", wait=20, poll=0.1)
    return S3Server(f"127.0.0.1:{port}", data, proc)
