"""Parity with Argo's Go libraries: run the golden tables through expr-lang v1.17.8, govaluate and
sprig v3.3.0 (the `go_parity/` harness) and compare with the tables' expectations.

Opt-in because it needs a Go toolchain and the Go module proxy: `TIPHYS_GO_PARITY=1 pytest
tests/core/lang/test_go_parity.py`. The cases listed in `KNOWN_DEVIATIONS` differ on purpose.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tiphys.core.lang._go import go_json

from . import test_expr_golden as E
from . import test_govaluate as W

HARNESS = Path(__file__).parent / "go_parity"
# Cases that need the injected clock, datetimes or jsonpath (absent from the harness) are skipped.
_SKIP = ("now()", "date(", "duration(", "jsonpath", "cronworkflow", "sprig.date")
KNOWN_DEVIATIONS = {
    # tiphys refuses sprig's random and crypto helpers
    "sprig.genCA('x', 1)",
    # Go cannot JSON-render map[interface{}]… results; tiphys renders them
    "fromPairs([['a', 1]])", "groupBy([1, 2, 3], # % 2)",
    # govaluate returns these non-booleans; Argo's shouldExecute then rejects them, as tiphys does
    "5", "heads", "1 + 1",
}

pytestmark = pytest.mark.skipif(
    os.environ.get("TIPHYS_GO_PARITY") != "1" or shutil.which("go") is None,
    reason="Go parity check is opt-in: set TIPHYS_GO_PARITY=1 with a Go toolchain available")


@pytest.fixture(scope="module")
def goparity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("goparity")
    for f in HARNESS.iterdir():
        shutil.copy(f, build / f.name)
    subprocess.run(["go", "build", "-o", str(build / "goparity"), "."], cwd=build, check=True,
                   timeout=600)
    return build / "goparity"


def _cases() -> list[tuple[str, str, Any, bool]]:
    cases: list[tuple[str, str, Any, bool]] = []
    for src, expected in E.CASES:
        cases.append(("expr", src, expected, True))
    for src, _err, _col in E.ERRORS:
        cases.append(("expr", src, None, False))
    for src, expected in W.TRUE_FALSE:
        if src:
            cases.append(("when", src, expected, True))
    for src, _err, _col in W.ERRORS:
        cases.append(("when", src, None, False))
    return [c for c in cases if not any(w in c[1] for w in _SKIP) and c[1] not in KNOWN_DEVIATIONS]


def _kind(go_type: str) -> str:
    if go_type.startswith("[]"):
        return "list"
    if go_type.startswith("map["):
        return "map"
    return {"int64": "int", "uint8": "int", "float64": "float", "<nil>": "nil"}.get(go_type, go_type)


def _py_kind(v: Any) -> str:
    return "nil" if v is None else {bool: "bool", int: "int", float: "float", str: "string",
                                    list: "list", dict: "map"}[type(v)]


def test_golden_tables_match_go(goparity: Path) -> None:
    """Every golden expectation is what the Go libraries compute (or a listed deviation)."""
    scope = {k: v for k, v in E.SCOPE.items() if not hasattr(v, "year")}
    cases = _cases()
    lines = "".join(json.dumps({"kind": k, "src": s, "scope": scope}) + "\n" for k, s, _, _ in cases)
    out = subprocess.run([str(goparity)], input=lines, capture_output=True, text=True,
                         check=True, timeout=300).stdout.splitlines()
    problems = []

    def render(v: Any) -> str:
        try:
            return go_json(v)
        except ValueError as exc:  # ±Inf/NaN: Go's marshal fails the same way
            return f"ERR:{exc}"

    for (kind, src, expected, ok), line in zip(cases, out, strict=True):
        got = json.loads(line)
        if ok and not got["ok"]:
            problems.append(f"{kind} {src!r}: Go error {got['err'].splitlines()[0]}")
        elif ok and (got["json"] != render(expected)
                     or (kind == "expr" and _kind(got["type"]) != _py_kind(expected))):
            problems.append(f"{kind} {src!r}: Go {got['json']} ({got['type']}), table {expected!r}")
        elif not ok and got["ok"]:
            problems.append(f"{kind} {src!r}: Go succeeds with {got['json']}, table expects an error")
    assert not problems, "\n".join(problems)
