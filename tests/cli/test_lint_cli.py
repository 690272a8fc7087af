"""`tiphys lint` as a user runs it: exit codes, output formats, never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import argo_path

INVALID = Path(__file__).parent.parent / "core" / "validate" / "invalid"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiphys.cli", "lint", *args], capture_output=True, input=stdin,
                          timeout=120)


def test_every_argo_example_passes():
    """All of Argo's examples are valid for Argo, so they lint clean together (templateRefs resolve)."""
    result = run(str(argo_path("examples")), "-q")
    assert result.returncode == 0, result.stdout.decode()[-3000:]
    assert b"no errors found" in result.stdout


def test_invalid_file_exits_1_with_located_errors():
    result = run(str(INVALID / "dag-cycle.yaml"))
    assert result.returncode == 1
    out = result.stdout.decode()
    assert "dag-cycle.yaml:" in out and "spec.templates[0].dag.tasks[0]" in out and "a -> c -> b -> a" in out


def test_json_output_for_machines():
    result = run("-o", "json", str(INVALID / "multiple-errors-at-once.yaml"))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["errors"] == 3
    paths = {p["path"] for f in data["files"] for p in f["problems"]}
    assert "spec.templates[1].name" in paths
    assert all(p["line"] for f in data["files"] for p in f["problems"])


@pytest.mark.parametrize("payload", [b"\x00\x01\x02", b"a: [\n", b"- 1\n- 2\n", b"{{{{", b"kind: 7\n"],
                         ids=["binary", "unclosed", "list", "braces", "kind-int"])
def test_garbage_never_tracebacks(payload):
    result = run("-", stdin=payload)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr + result.stdout


def test_unknown_fields_warn_and_strict_fails(tmp_path):
    doc = tmp_path / "w.yaml"
    doc.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n"
                   "  entrypoint: main\n  templates:\n  - name: main\n    contianer: {image: busybox}\n"
                   "    container: {image: busybox}\n")
    relaxed = run(str(doc))
    assert relaxed.returncode == 0 and b"unknown field 'contianer'" in relaxed.stdout
    strict = run("--strict", str(doc))
    assert strict.returncode == 1 and b"w.yaml:8: spec.templates[0].contianer" in strict.stdout


def test_missing_path_is_a_clear_error():
    result = run("/nonexistent/flow.yaml")
    assert result.returncode != 0 and b"no such file" in result.stderr
