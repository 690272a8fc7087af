"""argosay: every verb, and every argosay use in Argo's examples."""
from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tiphys.executor.argosay import ArgosayError, parse_duration, run

from ..conftest import argo_examples


def _argosay(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tiphys.executor.argosay", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, check=False)


def test_no_args_echoes_hello_argo() -> None:
    proc = _argosay()
    assert (proc.returncode, proc.stdout) == (0, "hello argo\n")


def test_echo_text() -> None:
    out = io.StringIO()
    assert run(["echo", "hi there"], stdout=out) == 0
    assert out.getvalue() == "hi there\n"


def test_echo_to_file_creates_directories_without_newline(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    assert run(["echo", "real-value", str(target)]) == 0
    assert target.read_text() == "real-value"


def test_cat(tmp_path: Path) -> None:
    (tmp_path / "1").write_text("one\n")
    (tmp_path / "2").write_text("two")
    out = io.StringIO()
    run(["cat", str(tmp_path / "1"), str(tmp_path / "2")], stdout=out)
    assert out.getvalue() == "one\ntwo"


def test_cat_missing_file_fails() -> None:
    proc = _argosay("cat", "/no/such/file")
    assert proc.returncode == 1 and "open /no/such/file" in proc.stderr


@pytest.mark.parametrize(("args", "code"), [(["exit"], 0), (["exit", "0"], 0), (["exit", "1"], 1), (["exit", "13"], 13)])
def test_exit_codes(args: list[str], code: int) -> None:
    assert _argosay(*args).returncode == code


def test_exit_bad_code() -> None:
    proc = _argosay("exit", "x")
    assert proc.returncode == 1 and "invalid syntax" in proc.stderr


def test_sleep_sleeps() -> None:
    t0 = time.monotonic()
    assert run(["sleep", "300ms"]) == 0
    assert time.monotonic() - t0 >= 0.29


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("1s", 1), ("1.5s", 1.5), ("300ms", 0.3), ("1m30s", 90),
                                               ("2h", 7200), ("10us", 1e-5), ("5ns", 5e-9), ("-1s", -1)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1x", "s", "1d", "1 s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ArgosayError, match="invalid duration"):
        parse_duration(text)


def test_assert_contains(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("hello world\n")
    assert _argosay("assert_contains", str(f), "lo wo").returncode == 0
    proc = _argosay("assert_contains", str(f), "absent")
    assert proc.returncode == 1 and f'expected "{f}" to contain "absent"' in proc.stderr


def test_assert_equals(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("exact\n")
    assert _argosay("assert_equals", str(f), "exact").returncode == 0
    assert _argosay("assert_equals", str(f), "exac").returncode == 1


def test_unknown_verb_prints_usage() -> None:
    proc = _argosay("dance")
    assert proc.returncode == 1 and proc.stderr.startswith("usage: argosay")


def test_wrong_arity() -> None:
    assert _argosay("echo", "a", "b", "c").returncode == 1
    assert _argosay("sleep").returncode == 1


def _argosay_uses() -> list[tuple[str, list[str]]]:
    uses = []
    for path in argo_examples():
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue

        def walk(o, path=path):
            if isinstance(o, dict):
                if "argosay" in str(o.get("image", "")) and o.get("command") in (None, ["/argosay"]):
                    uses.append((path.name, [str(a) for a in o.get("args") or []]))
                for v in o.values():
                    walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        for d in docs:
            walk(d)
    return uses


def test_every_argosay_use_in_argo_examples_runs(tmp_path: Path) -> None:
    """Each argosay invocation in ../shared/argo/examples runs here (file targets moved under tmp)."""
    uses = _argosay_uses()
    if not uses:
        pytest.skip("Argo examples not found at ../shared/argo/examples (or none use argosay)")
    for name, args in uses:
        # write targets live at absolute paths in the examples: re-root them under tmp_path
        args = [str(tmp_path / a.lstrip("/")) if a.startswith("/") and i > 0 else a for i, a in enumerate(args)]
        if args[:1] == ["cat"]:
            for f in args[1:]:
                Path(f).parent.mkdir(parents=True, exist_ok=True)
                Path(f).write_text("content")
        out = io.StringIO()
        assert run(args, stdout=out) == 0, (name, args)
    assert len(uses) >= 10
