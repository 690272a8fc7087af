"""Conditions at DAG scale: 5,000 `when:` decisions and expression tags in one pass.

Figures only (no gate): µs per `should_execute` (substitute + govaluate), per `{{= }}` tag
(building the partial env from a 10,000-entry scope, or reusing a prebuilt one) and per compiled
expr-lang evaluation, so regressions in the languages show up beside the substitution numbers.
"""
from __future__ import annotations

from typing import Any

import pytest

from tiphys.core.lang import build_env, compile_expr, should_execute, substitute

N = 5_000
SCOPE: dict[str, Any] = {}
for _i in range(N):
    SCOPE[f"tasks.t{_i}.status"] = "Succeeded" if _i % 3 else "Failed"
    SCOPE[f"tasks.t{_i}.outputs.result"] = str(_i)
WHENS = [f"{{{{tasks.t{i}.status}}}} == Succeeded && {{{{tasks.t{i}.outputs.result}}}} != 7"
         for i in range(N)]
EXPRS = [f"{{{{=asInt(tasks.t{i}.outputs.result) % 2 == 0 ? 'even' : 'odd'}}}}" for i in range(N)]


def _whens() -> int:
    return sum(should_execute(w, SCOPE) for w in WHENS)


def _expr_tags() -> list[str]:
    return [substitute(e, SCOPE) for e in EXPRS]


ENV = build_env(SCOPE)


def _expr_tags_shared_env() -> list[str]:
    return [substitute(e, SCOPE, env=ENV) for e in EXPRS]


@pytest.mark.benchmark(group="lang-conditions-5000-tasks")
def test_when_5000(benchmark: Any) -> None:
    """5,000 `when:` conditions (substitution + govaluate)."""
    expected = sum(1 for i in range(N) if i % 3 and i != 7)
    assert benchmark(_whens) == expected


@pytest.mark.benchmark(group="lang-conditions-5000-tasks")
def test_expression_tags_5000(benchmark: Any) -> None:
    """5,000 `{{= }}` tags (env built per call, programs compiled once)."""
    out = benchmark(_expr_tags)
    assert out[:3] == ["even", "odd", "even"]


def test_condition_figures(measure: Any, record: Any) -> None:
    """Per-item costs for the README table."""
    program = compile_expr("asInt(tasks.t1.outputs.result) % 2 == 0 ? 'even' : 'odd'")
    env = build_env(SCOPE)
    whens, tags, shared, evals = measure(
        lambda _: _whens(), lambda _: _expr_tags(), lambda _: _expr_tags_shared_env(),
        lambda _: [program.evaluate(env) for _ in range(N)], repeat=3)
    record("lang should_execute (substitute + govaluate)", f"{whens / N * 1e6:.1f} µs per when")
    record("lang {{= }} tag, 10k-entry scope (partial env per tag)",
           f"{tags / N * 1e6:.1f} µs per tag")
    record("lang {{= }} tag, prebuilt env passed in", f"{shared / N * 1e6:.1f} µs per tag")
    record("lang compiled expr evaluate", f"{evals / N * 1e6:.2f} µs per evaluation")
    assert whens > 0 and tags > 0 and shared > 0 and evals > 0
