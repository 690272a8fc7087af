"""Substitution over a synthetic 5,000-task DAG, against naive baselines in the same run.

tiphys walks the parsed templates and replaces tags in each string leaf (never re-parsing).
Baselines: (1) `re.sub` per string leaf with a dict lookup — the simplest correct-looking
approach; (2) Argo's approach — serialise to JSON, `re.sub` over the text with JSON escaping,
parse back. The ratio of the mean times is stored in `extra_info`.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tiphys.core.lang import compile_template, substitute_object

N_TASKS = 5_000
_TAG = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def _dag() -> tuple[list[dict[str, Any]], dict[str, str]]:
    scope = {"workflow.name": "big-dag-x7k2p", "workflow.uid": "0f9e8d7c-6b5a-4321",
             "workflow.namespace": "argo", "workflow.parameters.image": "alpine:3.19",
             "workflow.parameters.message": 'say "hi" }}{{workflow.uid'}
    tasks = []
    for i in range(N_TASKS):
        scope[f"tasks.t{i}.outputs.result"] = f"result-{i}"
        scope[f"tasks.t{i}.status"] = "Succeeded"
        scope[f"tasks.t{i}.outputs.parameters.out"] = json.dumps({"i": i})
        prev = f"t{max(i - 1, 0)}"
        tasks.append({
            "name": f"t{i}",
            "template": "work",
            "dependencies": [prev] if i else [],
            "when": f"{{{{tasks.{prev}.status}}}} == Succeeded",
            "arguments": {"parameters": [
                {"name": "in", "value": f"{{{{tasks.{prev}.outputs.result}}}}"},
                {"name": "cfg", "value": f"{{{{tasks.{prev}.outputs.parameters.out}}}}"},
                {"name": "msg", "value": "{{workflow.parameters.message}} from {{workflow.name}}"},
                {"name": "static", "value": "no tags here at all"},
            ]},
            "metadata": {"labels": {"wf": "{{workflow.name}}", "task": f"t{i}"}},
            "container": {"image": "{{workflow.parameters.image}}", "command": ["sh", "-c"],
                          "args": [f"echo {{{{tasks.{prev}.outputs.result}}}} > /tmp/out",
                                   "--uid={{workflow.uid}}", "--later={{inputs.parameters.x}}"]},
        })
    return tasks, scope


TASKS, SCOPE = _dag()


def _naive(obj: Any, scope: dict[str, str]) -> Any:
    if isinstance(obj, str):
        return _TAG.sub(lambda m: scope.get(m.group(1), m.group(0)), obj)
    if isinstance(obj, dict):
        return {_naive(k, scope): _naive(v, scope) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_naive(v, scope) for v in obj]
    return obj


def _argo_style(obj: Any, scope: dict[str, str]) -> Any:
    text = json.dumps(obj)
    out = _TAG.sub(lambda m: json.dumps(scope[m.group(1)])[1:-1] if m.group(1) in scope
                   else m.group(0), text)
    return json.loads(out)


def test_results_agree() -> None:
    """The naive per-leaf baseline computes the same result (so the comparison is fair)."""
    assert substitute_object(TASKS, SCOPE) == _naive(TASKS, SCOPE)


@pytest.mark.benchmark(group="lang-substitution-5000-tasks")
def test_tiphys_substitute_object(benchmark: Any) -> None:
    """tiphys: per-leaf substitution with cached compiled templates."""
    out = benchmark(substitute_object, TASKS, SCOPE)
    assert out[10]["arguments"]["parameters"][0]["value"] == "result-9"
    assert out[10]["arguments"]["parameters"][2]["value"].startswith('say "hi" }}{{workflow.uid')


def test_ratio_against_baselines(measure: Any, record: Any, gate: Any) -> None:
    """Same run, same data: tiphys vs `re.sub` per leaf vs Argo's JSON-text substitution."""
    ours, naive, argo = measure(lambda _: substitute_object(TASKS, SCOPE),
                                lambda _: _naive(TASKS, SCOPE),
                                lambda _: _argo_style(TASKS, SCOPE), repeat=5)
    cold_ours, = measure(lambda _: substitute_object(TASKS, SCOPE),
                         setups=(compile_template.cache_clear,), repeat=3)
    record("lang substitute_object 5000-task DAG (warm cache)", f"{ours * 1e3:.1f} ms")
    record("lang substitute_object 5000-task DAG (cold cache)", f"{cold_ours * 1e3:.1f} ms")
    record("lang naive re.sub per leaf", f"{naive * 1e3:.1f} ms ({naive / ours:.2f}x of tiphys)")
    record("lang Argo JSON-text re.sub", f"{argo * 1e3:.1f} ms ({argo / ours:.2f}x of tiphys)")
    # measured ≈1.9x on the reference machine; the gate sits at half of that (see conftest)
    gate("lang substitute_object vs naive re.sub (5000 tasks)", naive, ours, minimum=0.9)


@pytest.mark.benchmark(group="lang-substitution-5000-tasks")
def test_baseline_naive_re_sub(benchmark: Any) -> None:
    """Baseline: `re.sub` per string leaf with a dict lookup."""
    benchmark(_naive, TASKS, SCOPE)


@pytest.mark.benchmark(group="lang-substitution-5000-tasks")
def test_baseline_argo_json_text(benchmark: Any) -> None:
    """Baseline: Argo's serialise → substitute text → parse (unsafe, CVE-2021-37914 class)."""
    benchmark(_argo_style, TASKS, SCOPE)
