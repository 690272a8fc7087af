"""The control plane never outlives its owner, and failures show the server logs.

Each test here starts its own control plane in a child Python process (reusing the
session cluster's binaries), so it can kill that owner in ways a fixture cannot
survive and then look for orphans.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ._control_plane import ControlPlane

pytestmark = pytest.mark.cluster

_PKG = __package__ or "cluster"
# The sys.path entry from which this package imports under the same name.
_IMPORT_ROOT = Path(__file__).resolve().parents[len(_PKG.split("."))]


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie awaiting its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _env(cluster: ControlPlane) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_IMPORT_ROOT), env.get("PYTHONPATH")]))
    env["TIPHYS_TESTBIN_DIR"] = str(cluster.binaries.etcd.parent)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_sigkill_of_the_owner_kills_the_servers(cluster: ControlPlane, tmp_path: Path) -> None:
    """SIGKILL leaves no chance for cleanup code; the kernel must take the children down."""
    script = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        from {_PKG}._control_plane import Binaries, start
        plane = start(Binaries.from_dir(Path({str(cluster.binaries.etcd.parent)!r})),
                      Path({str(tmp_path)!r}), controller_manager=False)
        print(json.dumps([c.pid for c in plane.children]), flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=_env(cluster))
    try:
        line = owner.stdout.readline()
        assert line, f"owner exited early with {owner.wait()}"
        pids = json.loads(line)
        assert len(pids) == 2 and all(_running(p) for p in pids)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert _wait_gone(pids) == [], "etcd/kube-apiserver survived their owner's SIGKILL"


def test_failed_test_shows_logs_and_teardown_stops_servers(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """A failing test gets the log tails in its report; the session still stops everything."""
    pidfile = tmp_path / "pids.json"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import json
        def test_deliberately_fails(cluster):
            with open({str(pidfile)!r}, "w") as f:
                json.dump([c.pid for c in cluster.children], f)
            assert cluster.rest().get("/version")["gitVersion"] == "not-this", "deliberate"
    """))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", f"{_PKG}.fixture", "-p", "no:cacheprovider",
         "-q", "-rN", "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        capture_output=True, text=True, env=_env(cluster), cwd=tmp_path, timeout=300,
    )
    out = proc.stdout + proc.stderr
    kept = re.search(r"logs and data kept in (\S+)", out)
    try:
        assert proc.returncode == 1, out
        assert "deliberate" in out
        assert "tiphys cluster logs: kube-apiserver (running)" in out, out
        assert "tiphys cluster logs: etcd (running)" in out, out
        assert "tiphys cluster start-up: etcd" in out, out
        assert kept, out
        assert (Path(kept.group(1)) / "logs" / "kube-apiserver.log").stat().st_size > 0
        pids = json.loads(pidfile.read_text())
        assert pids and _wait_gone(pids, timeout=5) == [], "servers still running after pytest exit"
    finally:
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)


def test_sigterm_to_pytest_stops_the_servers_gracefully(cluster: ControlPlane, tmp_path: Path) -> None:
    """SIGTERM to a pytest run mid-test: the handler SIGTERMs the servers, then pytest dies of it."""
    infofile = tmp_path / "info.json"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import json, time
        def test_waits(cluster):
            with open({str(infofile)!r} + ".tmp", "w") as f:
                json.dump({{"pids": [c.pid for c in cluster.children],
                           "workdir": str(cluster.workdir)}}, f)
            import os; os.rename({str(infofile)!r} + ".tmp", {str(infofile)!r})
            time.sleep(120)
    """))
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", f"{_PKG}.fixture", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(cluster), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not infofile.exists():
            assert inner.poll() is None, f"inner pytest exited early with {inner.returncode}"
            assert time.monotonic() < deadline, "inner cluster did not start"
            time.sleep(0.1)
        info = json.loads(infofile.read_text())
        inner.send_signal(signal.SIGTERM)
        assert inner.wait(timeout=60) == -signal.SIGTERM
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()
    workdir = Path(info["workdir"])
    try:
        assert _wait_gone(info["pids"], timeout=5) == []
        for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
            log = workdir / "logs" / f"{name}.log"
            if log.exists():  # KCM only when built
                assert "# tiphys: stopping with SIGTERM" in log.read_text(errors="replace"), name
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
