"""The admission decision (`core.plan.admission`) on its own: Argo's throttler order and limits."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.core.plan.admission import AdmissionError, AdmissionTable, Candidate, candidate_of


def c(key: str, priority: int = 0, created: float = 0.0) -> Candidate:
    return Candidate(key, priority, created)


def test_no_limits_admit_everyone_at_once():
    t = AdmissionTable()
    assert [t.offer(c(f"ns/w{i}")) for i in range(3)] == [["ns/w0"], ["ns/w1"], ["ns/w2"]]


def test_parallelism_one_admits_the_next_waiter_when_the_runner_leaves():
    t = AdmissionTable(parallelism=1)
    assert t.offer(c("a/x", created=1)) == ["a/x"]
    assert t.offer(c("a/y", created=2)) == [] and t.offer(c("b/z", created=3)) == []
    assert t.waiting() == ["a/y", "b/z"]
    assert t.withdraw("a/x") == ["a/y"]
    assert t.withdraw("a/y") == ["b/z"]
    assert t.withdraw("b/z") == [] and not t.running


def test_higher_priority_first_then_older_then_name():
    t = AdmissionTable(parallelism=1)
    t.offer(c("ns/runner"))
    t.offer(c("ns/old-low", priority=0, created=10))
    t.offer(c("ns/new-high", priority=5, created=30))
    t.offer(c("ns/old-high", priority=5, created=20))
    t.offer(c("ns/b-tie", priority=1, created=15))
    t.offer(c("ns/a-tie", priority=1, created=15))
    assert t.waiting() == ["ns/old-high", "ns/new-high", "ns/a-tie", "ns/b-tie", "ns/old-low"]
    order = [t.withdraw(k)[0] for k in ("ns/runner", "ns/old-high", "ns/new-high", "ns/a-tie", "ns/b-tie")]
    assert order == ["ns/old-high", "ns/new-high", "ns/a-tie", "ns/b-tie", "ns/old-low"]


def test_reoffer_with_a_new_priority_reranks_the_waiter():
    t = AdmissionTable(parallelism=1)
    t.offer(c("ns/runner"))
    t.offer(c("ns/a", created=1))
    t.offer(c("ns/b", created=2))
    t.offer(c("ns/b", priority=3, created=2))
    assert t.waiting() == ["ns/b", "ns/a"]


def test_namespace_parallelism_is_per_namespace_and_the_label_overrides_it():
    t = AdmissionTable(namespace_parallelism=1)
    assert t.offer(c("a/1")) == ["a/1"] and t.offer(c("a/2")) == []
    assert t.offer(c("b/1")) == ["b/1"] and t.offer(c("b/2")) == []
    assert t.set_namespace_limit("b", 3) == ["b/2"]  # the label wins over namespaceParallelism
    assert t.offer(c("b/3")) == ["b/3"] and t.offer(c("b/4")) == []
    assert t.set_namespace_limit("b", None) == []  # back to 1: nothing running is stopped
    assert t.counts == {"a": 1, "b": 3}
    assert t.withdraw("b/1") == [] and t.withdraw("b/2") == [] and t.withdraw("b/3") == ["b/4"]


def test_a_full_namespace_does_not_block_another():
    t = AdmissionTable(parallelism=3, namespace_parallelism=1)
    t.offer(c("a/1", priority=9))
    t.offer(c("a/2", priority=9))  # best overall, but its namespace is full
    assert t.offer(c("b/1", priority=0)) == ["b/1"]
    assert t.offer(c("c/1")) == ["c/1"]
    assert t.offer(c("d/1")) == []  # the controller-wide limit now
    assert t.withdraw("a/1") == ["a/2"]


def test_label_zero_lifts_the_namespace_limit():
    t = AdmissionTable(namespace_parallelism=1)
    t.offer(c("a/1"))
    t.offer(c("a/2"))
    assert t.set_namespace_limit("a", 0) == ["a/2"]


def test_raising_the_limit_admits_waiters_in_order_and_lowering_stops_nothing():
    t = AdmissionTable(parallelism=1)
    for i in range(5):
        t.offer(c(f"ns/w{i}", created=i))
    assert t.set_limits(parallelism=3, namespace_parallelism=0) == ["ns/w1", "ns/w2"]
    assert t.set_limits(parallelism=1, namespace_parallelism=0) == []
    assert len(t.running) == 3
    assert t.withdraw("ns/w0") == [] and t.withdraw("ns/w1") == [] and t.withdraw("ns/w2") == ["ns/w3"]
    assert t.set_limits(parallelism=0, namespace_parallelism=0) == ["ns/w4"]


def test_restore_counts_running_before_admitting():
    t = AdmissionTable(parallelism=2)
    assert t.restore(["ns/a", "ns/b", "ns/c"]) == 3  # over the limit: still counted, never stopped
    assert t.offer(c("ns/new")) == []
    assert t.withdraw("ns/a") == [] and t.withdraw("ns/b") == ["ns/new"]


def test_withdrawing_a_waiter_or_a_stranger_admits_nobody():
    t = AdmissionTable(parallelism=1)
    t.offer(c("ns/a"))
    t.offer(c("ns/b"))
    assert t.withdraw("ns/b") == [] and t.waiting() == []
    assert t.withdraw("ns/never-seen") == []


@pytest.mark.parametrize("kw", [{"parallelism": -1}, {"namespace_parallelism": -3}, {"parallelism": True}])
def test_bad_limits_are_typed_errors(kw):
    with pytest.raises(AdmissionError, match="non-negative"):
        AdmissionTable(**kw)
    with pytest.raises(AdmissionError, match="'ns'"):
        AdmissionTable().set_namespace_limit("ns", -1)


def test_candidate_of_reads_priority_and_creation_time():
    wf = {"metadata": {"name": "w", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:10Z"},
          "spec": {"priority": 4}}
    assert candidate_of(wf) == Candidate("ns/w", 4, 1767225610.0)
    assert candidate_of({"metadata": {"name": "w", "namespace": "ns"}, "spec": {"priority": "high"}}).priority == 0
    with pytest.raises(AdmissionError, match="metadata.name"):
        candidate_of({"metadata": {"namespace": "ns"}})


_event = st.one_of(
    st.tuples(st.just("offer"), st.integers(0, 11), st.integers(-2, 2)),
    st.tuples(st.just("withdraw"), st.integers(0, 11), st.just(0)),
    st.tuples(st.just("limits"), st.integers(0, 4), st.integers(0, 3)),
    st.tuples(st.just("label"), st.integers(0, 2), st.integers(-1, 3)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_event, max_size=60))
def test_limits_hold_and_no_waiter_is_passed_over(events):
    """After any sequence: whoever was just admitted fits the limits in force, and no waiter is
    left that would fit (its namespace and the controller both have room)."""
    t = AdmissionTable()
    for kind, a, b in events:
        if kind == "offer":
            admitted = t.offer(c(f"ns{a % 3}/w{a}", priority=b, created=a))
        elif kind == "withdraw":
            admitted = t.withdraw(f"ns{a % 3}/w{a}")
        elif kind == "limits":
            admitted = t.set_limits(parallelism=a, namespace_parallelism=b)
        else:
            admitted = t.set_namespace_limit(f"ns{a}", None if b < 0 else b)
        if admitted:
            assert t.parallelism == 0 or len(t.running) <= t.parallelism
        for key in admitted:
            ns = key.split("/")[0]
            assert t.limit_of(ns) == 0 or t.counts[ns] <= t.limit_of(ns)
        assert sum(t.counts.values()) == len(t.running)
        assert not set(t.running) & set(t.ranks)
        room = t.parallelism == 0 or len(t.running) < t.parallelism
        for key in t.waiting():
            ns = key.split("/")[0]
            limit = t.limit_of(ns)
            assert not (room and (limit == 0 or t.counts.get(ns, 0) < limit)), f"{key} could run"
