"""A real Azure Blob Storage emulator for the azure artifact tests: Azurite (MIT, npm `azurite`).

Azurite checks Shared Key signatures as the Blob service does and speaks the same REST API, so the
driver is tested against a real implementation, not a mock. It is installed with `npm install`
into ~/.cache/tiphys/azurite (override with TIPHYS_AZURITE_CACHE) only when missing -- about half
a minute -- under a file lock that serialises concurrent installers. If npm or the install is not
available, the tests that need it skip, saying why.

The account is Azurite's well-known development account (public test data, in Azure's docs).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ._serverproc import Unavailable, build_once, start_answering, stop_process

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "Azurite", "Unavailable", "ensure_installed", "start"]

AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def cache_dir() -> Path:
    return Path(os.environ.get("TIPHYS_AZURITE_CACHE") or Path.home() / ".cache" / "tiphys" / "azurite")


def ensure_installed(*, timeout: float = 900.0) -> Path:
    """The `azurite-blob` launcher, installed with npm when it is not cached yet."""
    cache = cache_dir()
    launcher = cache / "node_modules" / ".bin" / "azurite-blob"
    stamp = cache / f".installed-{AZURITE_VERSION}"

    def installed() -> bool:
        return launcher.is_file() and stamp.is_file()

    def install() -> None:
        try:
            proc = subprocess.run(["nice", "-n", "19", npm, "install", "--prefix", str(cache), "--no-audit",
                                   "--no-fund", f"azurite@{AZURITE_VERSION}"],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"npm install azurite@{AZURITE_VERSION} timed out after {timeout}s") from exc
        if proc.returncode != 0 or not launcher.is_file():
            raise Unavailable(f"npm install azurite@{AZURITE_VERSION} failed: {proc.stderr.strip()[-2000:]}")
        stamp.touch()

    if installed():
        return launcher
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise Unavailable("Azurite is not installed and there is no npm/node to install it")
    build_once(cache / ".install.lock", ready=installed, build=install)
    return launcher


@dataclass
class Azurite:
    endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1 (path style)
    process: subprocess.Popen[bytes]
    account: str = ACCOUNT
    account_key: str = ACCOUNT_KEY

    def stop(self) -> None:
        stop_process(self.process)


def start(root: Path, log: Path) -> Azurite:
    launcher = ensure_installed()
    root.mkdir(parents=True, exist_ok=True)
    # node starts in a second or two, longer on a loaded machine
    proc, port = start_answering(
        lambda port: [str(launcher), "--silent", "--location", str(root), "--blobHost", "127.0.0.1",
                      "--blobPort", str(port), "--disableTelemetry"],
        lambda port: f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", log=log, name="Azurite", wait=60, poll=0.2)
    return Azurite(f"http://127.0.0.1:{port}/{ACCOUNT}", proc)
