"""Every `when:`, `{{= }}` tag and `expression:` field in Argo's examples parses and evaluates.

Each expression is substituted/evaluated against a plausible scope: the workflow's own argument
and input-parameter values where the example defines them, a few semantic defaults (results,
statuses), and `"1"` for anything else. The assertions are the ones Argo itself makes: `when`
yields a bool, `{{= }}` tags render to text, hook/retry expressions yield bools.
"""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiphys.core.lang import (build_env, compile_expr, compile_template, evaluate_when,
                              parameters_json, referenced_variables, substitute)

from .conftest import EXAMPLES, NOW

# Values that make the examples' conditions meaningful.
DEFAULTS: dict[str, Any] = {
    "status": "Succeeded", "workflow.status": "Succeeded", "item.evenness": "even",
    "inputs.parameters.limit": "10", "steps.iterate-counter.outputs.result": "4", "steps.approval.outputs.parameters.approve": "YES",
    "inputs.parameters.week-temps": '{"avg": 20, "min": 10, "max": 30}',
    "cronworkflow.lastScheduledTime": dt.datetime(2024, 5, 6, 7, 0, tzinfo=dt.timezone.utc),
    "lastRetry.exitCode": "2", "lastRetry.status": "Failed", "lastRetry.duration": "3",
    "lastRetry.message": "pod deleted", "retries": "1", "inputs.parameters.safe-to-retry": "true",
}
_SUFFIX_DEFAULTS = {".status": "Succeeded", ".outputs.result": "heads"}
# Expressions whose top-level value is not a bool in Argo either.
_VALUE_EXPRESSIONS = ("expression-fallback", "conditional-parameters", "fibonacci",
                      "label-value-from-workflow", "data-transformations")


def _load(path: Path) -> list[Any]:
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [d for d in yaml.load_all(path.read_text(), Loader=loader) if d is not None]
    except yaml.YAMLError:
        return []


def _parameters(doc: Any, out: dict[str, str]) -> None:
    """Collect workflow arguments and template input defaults as plausible values."""
    if isinstance(doc, dict):
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
        args = [p for p in ((spec.get("arguments") or {}).get("parameters") or [])
                if isinstance(p, dict) and p.get("name")]
        if args:
            out["workflow.parameters.json"] = parameters_json(args)
        for p in args:
            if isinstance(p, dict) and "value" in p and "{{" not in str(p["value"]):
                out[f"workflow.parameters.{p['name']}"] = str(p["value"])
        for t in spec.get("templates") or []:
            for p in ((t.get("inputs") or {}).get("parameters") or []):
                if isinstance(p, dict) and p.get("name"):
                    value = p.get("value", p.get("default"))
                    if value is not None and "{{" not in str(value):
                        out.setdefault(f"inputs.parameters.{p['name']}", str(value))


def _walk(obj: Any, found: dict[str, list[str]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "when" and isinstance(v, str):
                found["when"].append(v)
            elif k == "expression" and isinstance(v, str):
                found["expression"].append(v)
            _walk(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, found)
    elif isinstance(obj, str) and "{{=" in obj:
        found["tag"].append(obj)


@functools.lru_cache(maxsize=1)
def _collect() -> list[Any]:
    if not EXAMPLES.is_dir():
        return [pytest.param("", "", "", {}, id="examples-missing")]
    cases = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        found: dict[str, list[str]] = {"when": [], "expression": [], "tag": []}
        params: dict[str, str] = {}
        for doc in _load(path):
            _walk(doc, found)
            _parameters(doc, params)
        for kind, texts in found.items():
            for i, text in enumerate(dict.fromkeys(texts)):
                rel = path.relative_to(EXAMPLES)
                cases.append(pytest.param(kind, text, str(rel), params, id=f"{rel}:{kind}:{i}"))
    return cases


def _scope(names: tuple[str, ...], params: dict[str, str]) -> dict[str, Any]:
    scope: dict[str, Any] = dict(DEFAULTS)
    scope.update(params)
    for name in names:
        if name in scope or name == "sprig":
            continue
        value = next((v for s, v in _SUFFIX_DEFAULTS.items() if name.endswith(s)), "1")
        if name == "data":
            scope[name] = ["logs/main.log", "logs/wait.log"]
        else:
            scope[name] = value
    return scope


def _expr_names(text: str) -> tuple[str, ...]:
    return tuple(r.path for r in compile_expr(text).identifiers)


@pytest.mark.parametrize(("kind", "text", "where", "params"), _collect())
def test_example_expression(kind: str, text: str, where: str, params: dict[str, str]) -> None:
    """The example's expression parses and evaluates as Argo would evaluate it."""
    if not where:
        pytest.skip(f"Argo examples not found at {EXAMPLES}")
    if kind == "when":
        scope = _scope(referenced_variables(text), params)
        assert isinstance(evaluate_when(substitute(text, scope, strict=True, now=NOW)), bool)
    elif kind == "tag":
        scope = _scope(referenced_variables(text), params)
        out = substitute(text, scope, strict=True, now=NOW)
        assert "{{=" not in out
        assert len(compile_template(text)) > 0
    else:
        # expression fields may themselves contain simple tags (retry-conditional.yaml)
        pre_scope = _scope(referenced_variables(text), params)
        expanded = substitute(text, pre_scope, strict=True)
        scope = _scope(_expr_names(expanded), params)
        value = compile_expr(expanded).evaluate(build_env(scope, now=NOW), now=NOW)
        if not any(marker in where for marker in _VALUE_EXPRESSIONS):
            assert isinstance(value, bool)
        else:
            assert value is not None


def test_examples_cover_all_constructs() -> None:
    """The sweep is not vacuous: it sees when, tag and expression sites."""
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo examples not found at {EXAMPLES}")
    kinds = [c.values[0] for c in _collect()]
    assert kinds.count("when") >= 20 and kinds.count("tag") >= 10 and kinds.count("expression") >= 8
