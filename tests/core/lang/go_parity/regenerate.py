"""Regenerate tests/core/lang/test_go_golden.py from go_parity/cases.txt (expr-lang) and
go_parity/when_cases.txt (govaluate) by running each case through the Go harness (expr-lang
v1.17.8, sprig v3.3.0, govaluate v3.0.0 — the proxy does not serve Argo's later pseudo-version —
with Argo's env construction and VARIABLE→STRING re-typing).

Usage: python tests/core/lang/go_parity/regenerate.py   (needs `go` and the Go module proxy)
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
TARGET = HERE.parent / "test_go_golden.py"
SCOPE = {"s": "Hello World", "n": "42", "a.x": "1", "l.v": None}
# Go renders a nil slice as null; tiphys returns [] (see the test module docstring).
SKIP = {'split("a,b,c", ",", 0)'}


def _kind(t: str) -> str:
    if t.startswith("[]"):
        return "list"
    if t.startswith("map["):
        return "map"
    return {"int64": "int", "uint8": "int", "int32": "int", "float64": "float",
            "<nil>": "nil"}.get(t, t)


def main() -> None:
    exprs = [line.strip() for line in (HERE / "cases.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#") and line.strip() not in SKIP]
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("main.go", "go.mod", "go.sum"):
            shutil.copy(HERE / f, Path(tmp) / f)
        subprocess.run(["go", "build", "-o", "goparity", "."], cwd=tmp, check=True)
        whens = [line for line in (HERE / "when_cases.txt").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
        lines = "".join(json.dumps({"kind": "expr", "src": e, "scope": SCOPE}) + "\n" for e in exprs)
        lines += "".join(json.dumps({"kind": "when", "src": w, "scope": {}}) + "\n" for w in whens)
        out = subprocess.run([str(Path(tmp) / "goparity")], input=lines, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    when_out, out = out[len(exprs):], out[:len(exprs)]
    when_values, when_errors = [], []
    for src, line in zip(whens, when_out, strict=True):
        got = json.loads(line)
        # Argo's shouldExecute rejects non-boolean results, so those count as errors
        if got["ok"] and got["type"] == "bool":
            when_values.append((src, got["json"] == "true"))
        else:
            when_errors.append(src)
    values, errors = [], []
    for src, line in zip(exprs, out, strict=True):
        got = json.loads(line)
        if not got["ok"]:
            errors.append(src)
        elif not got["json"].startswith("ERR"):
            values.append((src, got["json"], _kind(got["type"])))
    text = TARGET.read_text()
    head = text[:text.index("GO_VALUES = [")]
    tail = text[text.index("\n_KINDS = "):]
    body = ["GO_VALUES = ["] + [f"    {r!r}," for r in values] + ["]", "", "GO_ERRORS = ["]
    body += [f"    {e!r}," for e in errors] + ["]", "", "WHEN_VALUES = ["]
    body += [f"    {r!r}," for r in when_values] + ["]", "", "WHEN_ERRORS = ["]
    body += [f"    {e!r}," for e in when_errors] + ["]", ""]
    TARGET.write_text(head + "\n".join(body) + tail)
    print(f"{len(values)} values, {len(errors)} errors, {len(when_values)} when values, "
          f"{len(when_errors)} when errors written to {TARGET}")


if __name__ == "__main__":
    main()
