"""`when:` and expression-field conditions as the controller calls them."""
from __future__ import annotations

import pytest

from tiphys.core.lang import (AbsentOutput, ExprEvalError, UnresolvedVariable, WhenSyntaxError,
                              evaluate_condition, node_vars, retry_vars, should_execute)

SCOPE = {**node_vars("steps", "flip-coin", status="Succeeded", result="heads"),
         **node_vars("tasks", "skipped", result=None), "item": "even"}


@pytest.mark.parametrize(("when", "expected"), [
    pytest.param("", True, id="empty"),
    pytest.param("{{steps.flip-coin.outputs.result}} == heads", True, id="heads"),
    pytest.param("{{steps.flip-coin.outputs.result}} == tails", False, id="tails"),
    pytest.param("{{steps.flip-coin.status}} == Succeeded && {{item}} == even", True, id="and"),
    pytest.param("{{= steps['flip-coin'].outputs.result == 'heads' }}", True, id="expr-tag"),
    pytest.param("{{=tasks.skipped.outputs.result ?? 'none'}} == none", True, id="absent-guarded"),
])
def test_should_execute(when: str, expected: bool) -> None:
    """Substitute, then govaluate."""
    assert should_execute(when, SCOPE) is expected


def test_should_execute_requeues_on_unfinished_producer() -> None:
    """A reference to a step that has not produced yet means "try again later"."""
    with pytest.raises(UnresolvedVariable) as info:
        should_execute("{{steps.later.outputs.result}} == x", SCOPE)
    assert info.value.name == "steps.later.outputs.result"


def test_should_execute_errors() -> None:
    """Absent outputs in text are terminal; malformed conditions are WhenErrors."""
    with pytest.raises(AbsentOutput):
        should_execute("{{tasks.skipped.outputs.result}} == x", SCOPE)
    with pytest.raises(WhenSyntaxError):
        should_execute("{{steps.flip-coin.outputs.result}} = heads", SCOPE)


@pytest.mark.parametrize(("expression", "scope", "expected"), [
    pytest.param("asInt(lastRetry.exitCode) > 1", retry_vars(1, last_exit_code="2"), True, id="exit"),
    pytest.param("lastRetry.status != 'Error'", retry_vars(1, last_status="Failed"), True, id="status"),
    pytest.param("asInt(retries) < 3", retry_vars(3), False, id="limit"),
    pytest.param("steps['flip-coin'].status == 'Succeeded'", SCOPE, True, id="hook"),
])
def test_evaluate_condition(expression: str, scope: dict[str, str], expected: bool) -> None:
    """expr-lang conditions (retryStrategy.expression, hooks)."""
    assert evaluate_condition(expression, scope) is expected


def test_evaluate_condition_requires_bool() -> None:
    """A non-boolean result is an error, as are Argo's static type errors."""
    with pytest.raises(ExprEvalError, match="expected a boolean"):
        evaluate_condition("retries", retry_vars(0))
    with pytest.raises(ExprEvalError, match="mismatched types string and int"):
        evaluate_condition("retries == 2", retry_vars(2))
