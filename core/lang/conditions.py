"""The two ways a condition decides something in a workflow, as one call each.

`should_execute(when, scope)` is Argo's pipeline for a step's or task's `when:` (§3.6): substitute
simple and expression tags with `steps`/`tasks` as strict prefixes (a reference to a producer that
has not finished raises `UnresolvedVariable`, meaning "requeue"), then evaluate the text with
govaluate. `evaluate_condition(expression, scope)` is the expr-lang form used by
`retryStrategy.expression`, hook `expression`s, cron `when` and similar fields (§3.10): the
expression runs against the env built from the scope and must yield a boolean.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from ._go import go_sprint
from .errors import ExprEvalError
from .expr import Limits, build_env, compile_expr
from .govaluate import evaluate_when
from .tags import substitute

__all__ = ["should_execute", "evaluate_condition"]


def should_execute(when: str, scope: Mapping[str, Any], /, *,
                   now: _dt.datetime | None = None) -> bool:
    """True when a step/task with this `when:` runs; `""` always runs.

    Raises `UnresolvedVariable` for a missing `steps.*`/`tasks.*` reference (requeue),
    `AbsentOutput` for an unguarded absent output, and `WhenError` for a bad condition.
    """
    if when == "":
        return True
    return evaluate_when(substitute(when, scope, strict_prefixes=("steps", "tasks"), now=now))


def evaluate_condition(expression: str, scope: Mapping[str, Any], /, *,
                       now: _dt.datetime | None = None, limits: Limits | None = None) -> bool:
    """Evaluate an expr-lang condition field against a flat scope; non-booleans are errors."""
    program = compile_expr(expression)
    result = program.evaluate(build_env(scope, now=now), limits=limits, now=now)
    if type(result) is not bool:
        raise ExprEvalError(f"expected a boolean, got {go_sprint(result)}", source=expression)
    return result
