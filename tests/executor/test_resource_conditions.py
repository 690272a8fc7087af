"""Argo's success/failure conditions: Kubernetes label-selector syntax over the live object."""
from __future__ import annotations

import pytest

from tiphys.executor.resource import ResourceError, evaluate, parse_condition

JOB = {"metadata": {"name": "x", "labels": {"app": "a"}},
       "status": {"succeeded": 3, "failed": 0, "phase": "Failed", "ready": True,
                  "conditions": [{"type": "Complete", "status": "True"}]}}


@pytest.mark.parametrize("text, printed", [
    ("status.succeeded > 2", ["status.succeeded>2"]),
    ("status.phase in (Failed, Error)", ["status.phase in (Error,Failed)"]),
    ("status.phase notin (Running)", ["status.phase notin (Running)"]),
    ("metadata.name == x,status.ready", ["metadata.name==x", "status.ready"]),
    ("status.phase=Failed", ["status.phase=Failed"]),
    ("!status.missing", ["!status.missing"]),
    ("z.a != b , a.b < 3", ["a.b<3", "z.a!=b"]),  # sorted by key, as labels.Parse returns them
])
def test_parse_prints_as_kubernetes(text, printed):
    assert [str(r) for r in parse_condition(text)] == printed


@pytest.mark.parametrize("text", [
    "status.succeeded > two", "status.phase in Failed", "status.phase in (a b)", "== x", "a,", "a b",
    "status.phase in (Failed", "bad key!x == y", "a == " + "v" * 64, "a == -bad-",
])
def test_bad_conditions_name_the_field(text):
    with pytest.raises(ResourceError) as err:
        parse_condition(text, where="$.resource.successCondition")
    assert err.value.where == "$.resource.successCondition"


@pytest.mark.parametrize("success, failure, verdict", [
    ("status.succeeded > 2", "", "succeeded"),
    ("status.succeeded > 3", "", "waiting"),
    ("status.succeeded < 4,metadata.name == x", "", "succeeded"),
    ("status.succeeded > 2", "status.phase in (Failed, Error)", "failed"),      # failure wins
    ("", "status.failed > 0", "succeeded"),                                      # no success cond: done
    ("status.ready == true", "", "succeeded"),                                   # gjson String() of a bool
    ("status.conditions.0.type == Complete", "", "succeeded"),                   # array index
    ("status.nothing == x", "", "waiting"),
    ("status.nothing != x", "", "succeeded"),                                    # absent key: != holds
    ("status.nothing", "", "waiting"), ("!status.nothing", "", "succeeded"),
    ("metadata.name > 1", "", "waiting"),                                        # not an integer: never matches
    ("", "status.phase == Running,status.failed < 1", "failed"),                 # comma in failure: any one
])
def test_evaluate_as_argo(success, failure, verdict):
    v = evaluate(JOB, success=parse_condition(success) if success else (),
                 failure=parse_condition(failure) if failure else ())
    assert ("failed" if v.failed else "succeeded" if v.succeeded else "waiting") == verdict


def test_failure_message_names_the_requirement():
    v = evaluate(JOB, success=(), failure=parse_condition("status.phase in (Failed, Error)"))
    assert v.message == "failure condition 'status.phase in (Error,Failed)' evaluated true"
