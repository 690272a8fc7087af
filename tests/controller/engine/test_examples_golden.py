"""Golden node trees for Argo's examples, run by the engine with the simulated kubelet.

Each golden file lists every node as Argo would write it: name, type, phase, display name,
boundary and children (by name; IDs follow from names, and `test_worked_example` pins the hash).
The first trees were generated, then read against argo-semantics §4-§5 (node names, step groups,
loop names, retry nodes, exit handlers, omitted/skipped rules) before being committed.
Regenerate with TIPHYS_UPDATE_GOLDEN=1 and review the diff by hand.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import SHARED_ARGO
from tests.controller.engine.conftest import node_name_of, run_workflow
from tiphys.controller.simkubelet import SimOutcome
from tiphys.core.spec import load_text

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = [
    "hello-world", "steps", "dag-diamond", "dag-diamond-steps", "dag-multiroot", "dag-nested", "dag-targets",
    "dag-enhanced-depends", "dag-continue-on-fail", "dag-disable-failFast", "continue-on-fail", "loops",
    "loops-maps", "loops-dag", "loops-sequence", "loops-param-argument", "loops-arbitrary-sequential-steps",
    "retry-with-steps", "retry-container", "retry-script", "retry-on-error", "exit-handlers",
    "exit-handler-step-level", "exit-handler-dag-level", "exit-handler-with-param", "coinflip", "dag-coinflip",
    "conditionals", "output-parameter", "global-outputs", "artifact-passing", "parameter-aggregation",
    "parameter-aggregation-dag", "scripts-python", "steps-inline-workflow", "dag-inline-workflow",
    "template-defaults", "status-reference", "exit-code-output-variable", "parallelism-nested",
    "parallelism-nested-dag", "global-parameters", "arguments-parameters", "sidecar", "volumes-emptydir",
]


def behaviour(pod: dict, template: dict) -> SimOutcome:
    """A stand-in for running the code: `exit 1` fails, coins land heads, scripts print a number."""
    text = str(template.get("container") or "") + str(template.get("script") or "")
    if re.search(r"exit 1\b|sys\.exit\(1\)|exit\(1\)", text) and "else" not in text:
        return SimOutcome(exit_code=1, message="")
    name = template.get("name", "")
    if name == "odd-or-even":  # parameter-aggregation*: {"num": n, "evenness": even|odd}
        num = re.search(r"(?:i = |echo )(\d+)", text).group(1)
        return SimOutcome(parameters={"num": num, "evenness": "even" if int(num) % 2 == 0 else "odd"},
                          result=f'{{"num": {num}, "evenness": "{"even" if int(num) % 2 == 0 else "odd"}"}}')
    if name == "divide-by-2":
        num = re.search(r"(\d+)", text).group(1)
        return SimOutcome(result=str(int(num) // 2))
    if "flip" in name or "coin" in name:
        return SimOutcome(result="heads")
    if "gen" in name and "list" in name or name in ("gen-number-list", "generate"):
        return SimOutcome(result="[1, 2]")
    if template.get("script") is not None:
        return SimOutcome(result="4")
    return SimOutcome()


def _workflow(stem: str) -> dict:
    path = SHARED_ARGO / "examples" / f"{stem}.yaml"
    if not path.exists():
        pytest.skip(f"Argo example {path} not found (expected ../shared/argo/examples)")
    wf = next(d.body for d in load_text(path.read_bytes(), source=str(path)) if d.kind == "Workflow")
    meta = dict(wf.get("metadata") or {})
    meta.pop("generateName", None)
    meta["name"] = stem.lower()[:50]
    return {**wf, "metadata": meta}


def _tree(final: dict, nodes: dict) -> dict:
    by_id = {n.id_: n.name for n in nodes.values()}
    lines = []
    for name in sorted(nodes):
        n = nodes[name]
        kids = ",".join(by_id.get(c, c) for c in n.children or ())
        line = f"{n.type_} {n.phase} {name} | {n.display_name}"
        if n.boundary_id:
            line += f" | in {by_id.get(n.boundary_id, n.boundary_id)}"
        if kids:
            line += f" | -> {kids}"
        if n.message and n.phase != "Succeeded":
            line += f" | {n.message}"
        lines.append(line)
    status = final["status"]
    return {"phase": status["phase"], "message": status.get("message", ""), "progress": status.get("progress", ""),
            "nodes": lines}


def _assert_golden(got: dict, path: Path, *, width: int) -> None:
    """`got` equals the reviewed golden file at `path`. With TIPHYS_UPDATE_GOLDEN=1, or when the file
    is missing (outside CI, where a missing file fails), the file is first written from `got`."""
    if os.environ.get("TIPHYS_UPDATE_GOLDEN") == "1" or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"golden file {path.name} missing")
        path.write_text(yaml.safe_dump(got, sort_keys=False, width=width, allow_unicode=True))
    assert got == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("stem", EXAMPLES)
def test_example_node_tree(stem):
    """The example's node tree matches its reviewed golden file."""
    final, nodes = run_workflow(_workflow(stem), behaviour=behaviour)
    _assert_golden(_tree(final, nodes), GOLDEN / f"{stem}.yaml", width=200)


def test_enough_examples():
    """At least 30 of Argo's examples have golden trees."""
    assert len(EXAMPLES) >= 30
