"""Argo's success/failure conditions: Kubernetes label-selector syntax over the live object."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


_name = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_key = st.lists(_name, min_size=1, max_size=3).map(".".join)
_value = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,5}[A-Za-z0-9])?", fullmatch=True)
_req = st.one_of(
    st.tuples(_key, st.sampled_from(["=", "==", "!="]), _value).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    st.tuples(_key, st.sampled_from(["in", "notin"]), st.lists(_value, min_size=1, max_size=3))
      .map(lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})"),
    st.tuples(_key, st.sampled_from([">", "<"]), st.integers(-10**6, 10**6)).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
    _key, _key.map(lambda k: "!" + k))


@given(st.lists(_req, min_size=1, max_size=4))
def test_printed_requirements_parse_back_to_themselves(parts):
    """What a condition prints (Argo's failure message) is itself a condition meaning the same."""
    reqs = parse_condition(",".join(parts))
    again = parse_condition(",".join(str(r) for r in reqs))
    assert [str(r) for r in again] == [str(r) for r in reqs]
    assert [(r.key, r.operator, sorted(r.values)) for r in again] == [(r.key, r.operator, sorted(r.values)) for r in reqs]
