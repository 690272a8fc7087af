"""The C main-container wrapper, run on real processes."""
from __future__ import annotations

import gzip
import io
import json
import os
import signal
import tarfile
import time
from pathlib import Path

import pytest

from .conftest import PY, Emissary



def _wait_for(path: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


def test_build_is_static(wrapper_build) -> None:
    """The wrapper links statically here (static libc is installed), so it needs nothing in the image."""
    import struct
    data = wrapper_build.path.read_bytes()
    assert data[:5] == b"\x7fELF\x02"  # 64-bit ELF
    assert wrapper_build.static
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types  # no PT_INTERP: no dynamic loader needed
    assert 2 not in types  # no PT_DYNAMIC


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_code_is_propagated_and_recorded(emissary: Emissary, code: int) -> None:
    """The wrapper exits with the child's code and writes it to ctr/main/exitcode."""
    proc = emissary.run(["sh", "-c", f"exit {code}"])
    assert proc.returncode == code
    assert emissary.exitcode() == str(code)


def test_stdout_and_combined_are_teed(emissary: Emissary) -> None:
    """With ARGO_INCLUDE_SCRIPT_OUTPUT the child's stdout goes to `stdout`, both streams to `combined`."""
    proc = emissary.run(["sh", "-c", "echo out1; echo err1 >&2; echo out2"])
    assert proc.returncode == 0
    assert proc.stdout == b"out1\nout2\n"
    assert proc.stderr == b"err1\n"
    ctr = emissary.paths.ctr("main")
    assert (ctr / "stdout").read_bytes() == b"out1\nout2\n"
    assert sorted((ctr / "combined").read_bytes().splitlines()) == [b"err1", b"out1", b"out2"]


def test_no_capture_without_flag(emissary: Emissary) -> None:
    """Without the flag the child writes straight to the container's streams; no files appear."""
    proc = emissary.run(["sh", "-c", "echo hello"], include_output=False)
    assert proc.stdout == b"hello\n"
    assert not (emissary.paths.ctr("main") / "stdout").exists()
    assert emissary.exitcode() == "0"


def test_large_output_is_captured_intact(emissary: Emissary) -> None:
    """8 MiB of stdout (binary-ish) arrives unchanged in the container log and the stdout file."""
    script = "import sys\nfor i in range(131072): sys.stdout.write(f'{i:063d}\\n')\n"
    proc = emissary.run([PY, "-c", script])
    assert proc.returncode == 0
    expected = b"".join(f"{i:063d}\n".encode() for i in range(131072))
    assert proc.stdout == expected
    assert (emissary.paths.ctr("main") / "stdout").read_bytes() == expected


def test_missing_command_exits_64_with_message(emissary: Emissary) -> None:
    """A command not on PATH is the wrapper's own failure: exit 64, a clear message, exitcode file."""
    proc = emissary.run(["definitely-not-a-command-xyz"])
    assert proc.returncode == 64
    assert b'failed to start command "definitely-not-a-command-xyz"' in proc.stderr
    assert emissary.exitcode() == "64"


def test_no_command_exits_64(emissary: Emissary) -> None:
    proc = emissary.run([])
    assert proc.returncode == 64
    assert b"no command given" in proc.stderr


def test_missing_template_exits_64(emissary: Emissary) -> None:
    """Like Argo, the wrapper needs the template (file or ARGO_TEMPLATE) before it runs anything."""
    env = emissary.env(None)
    import subprocess
    proc = subprocess.run([str(emissary.binary), "--", "true"], env=env, capture_output=True, check=False)
    assert proc.returncode == 64
    assert b"no template" in proc.stderr


def test_bad_template_json_names_the_place(emissary: Emissary) -> None:
    import subprocess
    env = emissary.env(None, extra={"ARGO_TEMPLATE": '{"outputs": [1, }'})
    proc = subprocess.run([str(emissary.binary), "--", "true"], env=env, capture_output=True, check=False)
    assert proc.returncode == 64
    assert b"ARGO_TEMPLATE: invalid JSON at byte" in proc.stderr


def test_template_file_wins_over_env(emissary: Emissary, tmp_path: Path) -> None:
    """<var_run>/template is read first; ARGO_TEMPLATE is the fallback (Argo's order)."""
    out = tmp_path / "p.txt"
    Path(emissary.paths.var_run, "template").write_text(json.dumps(
        {"outputs": {"parameters": [{"name": "p", "valueFrom": {"path": str(out)}}]}}))
    proc = emissary.run(["sh", "-c", f"echo file-wins > {out}"], {"outputs": {}})
    assert proc.returncode == 0
    assert emissary.paths.output_parameter(str(out)).read_text() == "file-wins\n"


def test_offloaded_template(emissary: Emissary, tmp_path: Path) -> None:
    out = tmp_path / "p.txt"
    cfg = Path(emissary.paths.config)
    cfg.mkdir()
    (cfg / "ARGO_TEMPLATE").write_text(json.dumps({"outputs": {"parameters": [{"name": "p", "valueFrom": {"path": str(out)}}]}}))
    import subprocess
    env = emissary.env(None, extra={"ARGO_TEMPLATE": "offloaded", "ARGO_CONFIG_DIR": str(cfg)})
    proc = subprocess.run([str(emissary.binary), "--", "sh", "-c", f"echo x > {out}"], env=env, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert emissary.paths.output_parameter(str(out)).exists()


def test_sigterm_is_forwarded_to_the_child(emissary: Emissary, tmp_path: Path) -> None:
    """A signal sent to the wrapper (PID 1 in a pod) reaches the child, which decides the exit code."""
    ready = tmp_path / "ready"
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(42)))\n"
              f"open({str(ready)!r}, 'w').close()\n"
              "time.sleep(300)\n")
    proc = emissary.popen([PY, "-c", script])
    _wait_for(ready)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 42
    assert out == b"got TERM\n"
    assert emissary.exitcode() == "42"


def test_killed_child_reports_137(emissary: Emissary, tmp_path: Path) -> None:
    """A child ended by a signal gives 137, whatever the signal (Argo's rule)."""
    ready = tmp_path / "ready"
    proc = emissary.popen(["sh", "-c", f"touch {ready}; exec sleep 300"])
    _wait_for(ready)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 137
    assert emissary.exitcode() == "137"


def test_signal_file_is_honoured_and_removed(emissary: Emissary, tmp_path: Path) -> None:
    """The wait side writes a number to ctr/<name>/signal; the wrapper delivers it and deletes the file."""
    ready = tmp_path / "ready"
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(7))\n"
              f"open({str(ready)!r}, 'w').close()\n"
              "time.sleep(300)\n")
    proc = emissary.popen([PY, "-c", script])
    _wait_for(ready)
    sig_file = emissary.paths.ctr("main") / "signal"
    sig_file.write_text(str(int(signal.SIGUSR1)))
    proc.communicate(timeout=60)
    assert proc.returncode == 7
    assert not sig_file.exists()


def test_signal_reaches_grandchildren_in_the_process_group(emissary: Emissary, tmp_path: Path) -> None:
    """The child leads its own process group and signals go to the group, so `sh -c` pipelines stop too."""
    ready = tmp_path / "ready"
    proc = emissary.popen(["sh", "-c", f"sleep 300 & touch {ready}; wait"])
    _wait_for(ready)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 60  # well under the grandchild's 300 s
    assert proc.returncode == 137


def test_output_parameters_and_artifacts_are_copied(emissary: Emissary, tmp_path: Path) -> None:
    """Container `main` copies parameter files and archives artifacts as <path>.tgz (Argo's layout)."""
    work = tmp_path / "work"
    long_name = "n" * 120
    template = {"outputs": {
        "parameters": [{"name": "p", "valueFrom": {"path": str(work / "param.txt")}},
                       {"name": "missing", "valueFrom": {"path": str(work / "nope.txt"), "default": "d"}}],
        "artifacts": [{"name": "dir", "path": str(work / "outdir")},
                      {"name": "file", "path": str(work / "big.bin")},
                      {"name": "gone", "path": str(work / "gone"), "optional": True}]}}
    script = (f"import os\nos.makedirs({str(work / 'outdir' / 'sub')!r})\n"
              f"open({str(work / 'param.txt')!r}, 'w').write('value\\n')\n"
              f"open({str(work / 'outdir' / 'sub' / long_name)!r}, 'w').write('deep')\n"
              f"os.symlink('sub', {str(work / 'outdir' / 'link')!r})\n"
              f"open({str(work / 'big.bin')!r}, 'wb').write(bytes(range(256)) * 1000)\n")
    proc = emissary.run([PY, "-c", script], template)
    assert proc.returncode == 0, proc.stderr
    assert emissary.paths.output_parameter(str(work / "param.txt")).read_text() == "value\n"
    assert not emissary.paths.output_parameter(str(work / "nope.txt")).exists()
    assert not emissary.paths.output_artifact(str(work / "gone")).exists()
    with tarfile.open(emissary.paths.output_artifact(str(work / "outdir")), "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"outdir", "outdir/link", "outdir/sub", f"outdir/sub/{long_name}"}
        assert members["outdir/link"].issym() and members["outdir/link"].linkname == "sub"
        assert tar.extractfile(f"outdir/sub/{long_name}").read() == b"deep"
    # gzip verifies the CRC-32 and length of the 256 000-byte member spanning several stored blocks
    raw = gzip.decompress(emissary.paths.output_artifact(str(work / "big.bin")).read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.getnames() == ["big.bin"]
        assert tar.extractfile("big.bin").read() == bytes(range(256)) * 1000


def test_outputs_on_volume_mounts_are_not_copied(emissary: Emissary, tmp_path: Path) -> None:
    """Paths on main's volume mounts are read through /mainctrfs by the wait side, so not copied."""
    vol = tmp_path / "vol"
    template = {"container": {"volumeMounts": [{"name": "v", "mountPath": str(vol)}]},
                "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": str(vol / "p")}}],
                            "artifacts": [{"name": "a", "path": str(vol / "a")}]}}
    proc = emissary.run(["sh", "-c", f"mkdir -p {vol}; echo 1 > {vol}/p; echo 2 > {vol}/a"], template)
    assert proc.returncode == 0
    assert not Path(emissary.paths.var_run, "outputs").exists()


def test_outputs_only_for_container_main(emissary: Emissary, tmp_path: Path) -> None:
    out = tmp_path / "p"
    template = {"outputs": {"parameters": [{"name": "p", "valueFrom": {"path": str(out)}}]}}
    proc = emissary.run(["sh", "-c", f"echo 1 > {out}"], template, container="sidecar")
    assert proc.returncode == 0
    assert emissary.exitcode("sidecar") == "0"
    assert not Path(emissary.paths.var_run, "outputs").exists()


def test_traversal_in_declared_path_is_refused(emissary: Emissary, tmp_path: Path) -> None:
    """A declared path with `..` would write outside <var_run>/outputs; it is refused, not followed."""
    template = {"outputs": {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/../../etc/hostname"}}]}}
    proc = emissary.run(["true"], template)
    assert proc.returncode == 0
    assert b"not a clean absolute path" in proc.stderr
    assert not Path(emissary.paths.var_run, "outputs").exists()


def test_args_file_is_appended_and_long_args_go_through_a_file(emissary: Emissary, tmp_path: Path) -> None:
    """ARGO_CONTAINER_ARGS_FILE adds args; one over 128 KiB is replaced by `@<temp file>`."""
    long_arg = "x" * (128 * 1024 + 1)
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps(["short", "uni\u00e9\\n", "emoji \U0001F600 tab\t", long_arg]))
    script = "import sys, json; print(json.dumps(sys.argv[1:]))"
    proc = emissary.run([PY, "-c", script], extra={"ARGO_CONTAINER_ARGS_FILE": str(args_file), "TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got[:3] == ["short", "uni\u00e9\\n", "emoji \U0001F600 tab\t"]  # \u escapes incl. a surrogate pair
    assert got[3].startswith("@") and Path(got[3][1:]).read_text() == long_arg


def test_container_set_dependency_failure_skips_the_command(emissary: Emissary, tmp_path: Path) -> None:
    """A containerSet member waits for its dependencies; a failed one stops it with that code."""
    marker = tmp_path / "ran"
    template = {"containerSet": {"containers": [{"name": "a"}, {"name": "b", "dependencies": ["a"]}]}}
    proc = emissary.popen(["touch", str(marker)], template, container="b")
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting for a
    emissary.paths.ctr("a").mkdir(parents=True, exist_ok=True)
    emissary.paths.exitcode("a").write_text("3")
    proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert not marker.exists()


def test_container_set_dependency_success_runs(emissary: Emissary, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    template = {"containerSet": {"containers": [{"name": "a"}, {"name": "b", "dependencies": ["a"]}]}}
    emissary.paths.ctr("a").mkdir(parents=True)
    emissary.paths.exitcode("a").write_text("0")
    proc = emissary.run(["touch", str(marker)], template, container="b")
    assert proc.returncode == 0
    assert marker.exists()


def test_container_set_retry_strategy_reruns(emissary: Emissary, tmp_path: Path) -> None:
    """containerSet.retryStrategy.retries reruns a failing command in place."""
    counter = tmp_path / "count"
    template = {"containerSet": {"retryStrategy": {"retries": "2", "duration": "10ms"}, "containers": [{"name": "main"}]}}
    script = f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]"
    proc = emissary.run(["sh", "-c", script], template)
    assert proc.returncode == 0
    assert counter.read_text().strip() == "3"


def test_debug_pause_before(emissary: Emissary, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = emissary.popen(["touch", str(marker)], extra={"ARGO_DEBUG_PAUSE_BEFORE": "true"})
    time.sleep(0.5)
    assert proc.poll() is None and not marker.exists()
    (emissary.paths.ctr("main") / "before").touch()
    proc.communicate(timeout=60)
    assert proc.returncode == 0 and marker.exists()


def test_bad_container_name_is_refused(emissary: Emissary) -> None:
    proc = emissary.run(["true"], container="../x")
    assert proc.returncode == 64
    assert b"bad ARGO_CONTAINER_NAME" in proc.stderr


def test_kill_subcommand(wrapper: Path, tmp_path: Path) -> None:
    """`emissary kill SIG PID` is Argo's `argoexec kill`, usable in images without a shell."""
    import subprocess
    target = subprocess.Popen(["sleep", "300"])
    try:
        rc = subprocess.run([str(wrapper), "kill", "15", str(target.pid)], check=False).returncode
        assert rc == 0
        assert target.wait(timeout=60) == -signal.SIGTERM
    finally:
        if target.poll() is None:
            target.kill()
    bad = subprocess.run([str(wrapper), "kill", "x", "1"], capture_output=True, check=False)
    assert bad.returncode == 64


def test_build_py_loads_standalone_as_setup_py_would(tmp_path: Path) -> None:
    """setup.py loads build.py by path (no package yet); it still builds and raises its own error type."""
    import importlib.util

    from tiphys.executor.wrapper import build as pkg_build
    spec = importlib.util.spec_from_file_location("standalone_build", pkg_build.__file__)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.build_wrapper(tmp_path / "bin")
    assert out.is_file() and os.access(out, os.X_OK)
    with pytest.raises(mod.WrapperBuildError, match="no C compiler"):
        mod.build_wrapper(tmp_path / "bin2", cc="no-such-cc-xyz")


def test_find_wrapper_prefers_env(tmp_path: Path) -> None:
    from tiphys.executor.wrapper import find_wrapper
    assert find_wrapper({"TIPHYS_WRAPPER": "/opt/w"}) == Path("/opt/w")


def test_the_agents_own_binds_are_not_archived(emissary: Emissary, tmp_path: Path) -> None:
    """TIPHYS_ARCHIVE_SKIP: the node agent's own binds (its Python and tiphys, bound back into a
    private /tmp when a checkout lives there) are no content of the container's `/tmp/` artifact;
    the directories made only on the way to them get no entry, and other files in them stay."""
    out = tmp_path / "out"
    (out / "ci" / "checkout" / "pkg").mkdir(parents=True)
    (out / "ci" / "checkout" / "pkg" / "code.py").write_text("agent code")
    (out / "ci" / "user.txt").write_text("mine")
    (out / "venv" / "bin").mkdir(parents=True)
    (out / "hello.txt").write_text("hello")
    skip = f"{out / 'ci' / 'checkout'}:{out / 'venv'}:/elsewhere"
    proc = emissary.run(["true"], {"outputs": {"artifacts": [{"name": "a", "path": str(out)}]}},
                        extra={"TIPHYS_ARCHIVE_SKIP": skip})
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(emissary.paths.output_artifact(str(out))) as tar:
        assert tar.getnames() == ["out", "out/ci/user.txt", "out/hello.txt"]


def test_symlinked_artifact_path_is_followed(emissary: Emissary, tmp_path: Path) -> None:
    """The artifact path itself may be a symlink (Argo stats it); its target's content is archived."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("content")
    link = tmp_path / "link"
    link.symlink_to(real)
    proc = emissary.run(["true"], {"outputs": {"artifacts": [{"name": "a", "path": str(link)}]}})
    assert proc.returncode == 0
    with tarfile.open(emissary.paths.output_artifact(str(link))) as tar:
        assert tar.getnames() == ["link", "link/f"]
        assert tar.getmember("link").isdir()


def test_runs_in_an_empty_root_without_libc_or_shell(wrapper: Path, tmp_path: Path) -> None:
    """chroot into a directory holding only the wrapper and a static program: no libc, no shell."""
    import shutil
    import subprocess
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("needs root and chroot(8) to build an empty root")
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "hello.c").write_text('#include <stdio.h>\nint main(int c, char **v) { printf("hi %s\\n", v[1]); return 5; }\n')
    cc = subprocess.run(["cc", "-static", "-O2", "-o", str(root / "hello"), str(tmp_path / "hello.c")], capture_output=True, check=False)
    if cc.returncode != 0:
        pytest.skip(f"cannot build a static test program: {cc.stderr.decode()[-200:]}")
    shutil.copy2(wrapper, root / "emissary")
    env = {"ARGO_TEMPLATE": "{}", "ARGO_INCLUDE_SCRIPT_OUTPUT": "true", "PATH": "/"}
    chroot = shutil.which("chroot")
    proc = subprocess.run([chroot, str(root), "/emissary", "--", "/hello", "there"], env=env,
                          capture_output=True, timeout=30, check=False)
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == b"hi there\n"
    ctr = root / "var" / "run" / "argo" / "ctr" / "main"
    assert (ctr / "exitcode").read_text() == "5"
    assert (ctr / "stdout").read_bytes() == b"hi there\n"
    missing = subprocess.run([chroot, str(root), "/emissary", "--", "sh", "-c", "true"], env=env,
                             capture_output=True, timeout=30, check=False)
    assert missing.returncode == 64 and b'failed to start command "sh"' in missing.stderr


def test_sidecar_stops_when_main_is_done(emissary: Emissary, tmp_path: Path) -> None:
    """A container listed in `sidecars` gets SIGTERM once main's exitcode exists (§6.2.8)."""
    template = {"sidecars": [{"name": "side"}]}
    proc = emissary.popen(["sleep", "300"], template, container="side")
    time.sleep(0.3)
    assert proc.poll() is None
    emissary.paths.ctr("main").mkdir(parents=True, exist_ok=True)
    emissary.paths.exitcode("main").write_text("0")
    proc.communicate(timeout=60)
    assert proc.returncode == 137
    assert emissary.exitcode("side") == "137"


def test_sidecar_ignoring_sigterm_is_killed_after_grace(emissary: Emissary, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (f"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen({str(ready)!r}, 'w').close()\n"
              "time.sleep(300)\n")
    template = {"sidecars": [{"name": "side"}], "containerSet": {"containers": [{"name": "a"}, {"name": "b"}]}}
    proc = emissary.popen([PY, "-c", script], template, container="side",
                          extra={"ARGO_TERMINATION_GRACE_PERIOD_SECONDS": "1"})
    _wait_for(ready)
    for name in ("a", "b"):
        emissary.paths.ctr(name).mkdir(parents=True, exist_ok=True)
        emissary.paths.exitcode(name).write_text("0")
    t0 = time.monotonic()
    proc.communicate(timeout=60)
    assert proc.returncode == 137
    assert 0.9 <= time.monotonic() - t0 < 60  # grace 1 s; the sidecar would sleep 300 s
