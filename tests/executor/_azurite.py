"""A real Azure Blob Storage emulator for the azure artifact tests: Azurite (MIT, npm `azurite`).

Azurite checks Shared Key signatures as the Blob service does and speaks the same REST API, so the
driver is tested against a real implementation, not a mock. It is installed with `npm install`
into ~/.cache/tiphys/azurite (override with TIPHYS_AZURITE_CACHE) only when missing -- about half
a minute -- under a file lock that serialises concurrent installers. If npm or the install is not
available, the tests that need it skip, saying why.

The account is Azurite's well-known development account (public test data, in Azure's docs).
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

AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Unavailable(Exception):
    """Azurite cannot be had here; the message says why."""


def cache_dir() -> Path:
    return Path(os.environ.get("TIPHYS_AZURITE_CACHE") or Path.home() / ".cache" / "tiphys" / "azurite")


def ensure_installed(*, timeout: float = 900.0) -> Path:
    """The `azurite-blob` launcher, installed with npm when it is not cached yet."""
    cache = cache_dir()
    launcher = cache / "node_modules" / ".bin" / "azurite-blob"
    stamp = cache / f".installed-{AZURITE_VERSION}"
    if launcher.is_file() and stamp.is_file():
        return launcher
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise Unavailable("Azurite is not installed and there is no npm/node to install it")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if launcher.is_file() and stamp.is_file():  # another installer finished while we waited
            return launcher
        try:
            proc = subprocess.run(["nice", "-n", "19", npm, "install", "--prefix", str(cache), "--no-audit",
                                   "--no-fund", f"azurite@{AZURITE_VERSION}"],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"npm install azurite@{AZURITE_VERSION} timed out after {timeout}s") from exc
        if proc.returncode != 0 or not launcher.is_file():
            raise Unavailable(f"npm install azurite@{AZURITE_VERSION} failed: {proc.stderr.strip()[-2000:]}")
        stamp.touch()
    return launcher


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Azurite:
    endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1 (path style)
    process: subprocess.Popen[bytes]
    account: str = ACCOUNT
    account_key: str = ACCOUNT_KEY

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(root: Path, log: Path) -> Azurite:
    launcher = ensure_installed()
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = _free_port()
        with open(log, "ab") as logf:
            proc = subprocess.Popen([str(launcher), "--silent", "--location", str(root), "--blobHost", "127.0.0.1",
                                     "--blobPort", str(port), "--disableTelemetry"],
                                    stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60  # node starts in a second or two, longer on a loaded machine
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", timeout=1).close()
            except urllib.error.HTTPError:
                pass  # any HTTP answer (an unsigned request is refused) means it is up
            except OSError:
                time.sleep(0.2)
                continue
            return Azurite(f"http://127.0.0.1:{port}/{ACCOUNT}", proc)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raise Unavailable(f"Azurite did not start; see {log}")
