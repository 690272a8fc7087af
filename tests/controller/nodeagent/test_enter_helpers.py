"""The two enter helpers (C `_enter.c`, Python `_enter.py`) behave and report alike."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tiphys.controller.nodeagent.sandbox import PYTHON_HELPER, build_enter_helper

from .conftest import needs_namespaces


@pytest.fixture(params=["c", "python"])
def helper(request, tmp_path_factory):
    needs_namespaces()
    if request.param == "python":
        return PYTHON_HELPER
    built = build_enter_helper(tmp_path_factory.mktemp("bin"))
    if built is None:
        pytest.skip("no C compiler: only the Python helper is used on this host")
    return built


def _run(helper, mounts, cmd, *, cwd="/", cgroup="", hostname=""):
    r, w = os.pipe()
    triples = [x for m in mounts for x in (str(m[0]), m[1], "1" if m[2] else "0")]
    try:
        proc = subprocess.run([*helper, str(w), cgroup, hostname, cwd, str(len(mounts)), *triples, "--", *cmd],
                              pass_fds=(w,), capture_output=True, text=True, timeout=60, check=False)
        os.close(w)
        w = -1
        return proc, os.read(r, 65536).decode()
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_binds_private_tmp_hidden_sources_and_cwd(helper, tmp_path):
    """A private /tmp does not hide a later source under the host's /tmp; cwd is created."""
    private, data = tmp_path / "private", tmp_path / "data"
    private.mkdir()
    data.mkdir()
    (data / "in").write_text("data")
    proc, err = _run(helper, [(private, "/tmp", False), (data, "/tmp/deep/data", False)],
                     ["sh", "-c", "cat /tmp/deep/data/in; echo x > /tmp/mine; pwd; hostname"], cwd="/tmp/work/here",
                     hostname="my-pod")
    assert (err, proc.returncode) == ("", 0)
    assert proc.stdout == "data/tmp/work/here\nmy-pod\n"
    assert (private / "mine").read_text() == "x\n"  # the private /tmp is the given directory


def test_read_only_and_file_mounts(helper, tmp_path):
    """RO remounts are read-only; a file source gets a file mount point."""
    ro, f = tmp_path / "ro", tmp_path / "file.txt"
    ro.mkdir()
    f.write_text("one file")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc, err = _run(helper, [(scratch, "/tmp", False), (ro, "/tmp/ro", True), (f, "/tmp/sub/file.txt", False)],
                     ["sh", "-c", "cat /tmp/sub/file.txt; touch /tmp/ro/x 2>/dev/null && echo rw || echo ro"])
    assert (err, proc.stdout) == ("", "one filero\n")
    assert (scratch / "sub" / "file.txt").is_file()


@pytest.mark.parametrize("case", ["exec", "source", "usage"])
def test_failures_are_reported_on_the_pipe(helper, tmp_path, case):
    """Failures before exec: one line on the error pipe, exit 128, same text from both helpers."""
    if case == "exec":
        proc, err = _run(helper, [], ["/no/such/prog"])
        assert err == 'exec: "/no/such/prog": No such file or directory'
    elif case == "source":
        proc, err = _run(helper, [(tmp_path / "absent", "/mnt/x", False)], ["true"])
        assert err == f"mount namespace setup failed: {tmp_path / 'absent'}: No such file or directory"
    else:
        r, w = os.pipe()
        proc = subprocess.run([*helper, str(w), "", "", "/", "2", "--", "true"], pass_fds=(w,), capture_output=True,
                              check=False, timeout=60)
        os.close(w)
        err = os.read(r, 4096).decode()
        os.close(r)
        assert err.startswith("usage: enter ERRFD CGROUP_PROCS HOSTNAME CWD N")
    assert proc.returncode == 128


def test_helper_is_cached_and_rebuilt_when_source_is_newer(tmp_path):
    """build_enter_helper reuses its binary until _enter.c changes."""
    first = build_enter_helper(tmp_path)
    if first is None:
        pytest.skip("no C compiler")
    binary = Path(first[0])
    os.utime(binary, (1, 1))  # older than the source: rebuilt
    assert build_enter_helper(tmp_path) == first and binary.stat().st_mtime > 1
    stamp = binary.stat().st_mtime_ns
    assert build_enter_helper(tmp_path) == first and binary.stat().st_mtime_ns == stamp
