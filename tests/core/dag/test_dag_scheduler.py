"""Argo's DAG and steps rules, run on both schedulers (`impl` is the reference or the Cython class)."""
from __future__ import annotations

import pytest

from tiphys.core.dag import (Outcome, RestoreError, SchedulerError, UnknownDependencyError, compile_dag,
                             compile_steps)

S, F, E, SK, O, D = (int(x) for x in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ERRORED,
                                      Outcome.SKIPPED, Outcome.OMITTED, Outcome.DAEMONED))
ANY, ALL = int(Outcome.ANY_SUCCEEDED), int(Outcome.ALL_FAILED)


def dag(*tasks):
    """tasks as 'name' or ('name', 'depends text', {extra fields})."""
    out = []
    for t in tasks:
        if isinstance(t, str):
            out.append({"name": t})
        else:
            spec = {"name": t[0], "depends": t[1]} if t[1] else {"name": t[0]}
            spec.update(t[2] if len(t) > 2 else {})
            out.append(spec)
    return compile_dag(out)


def names(compiled, ids):
    return [compiled.names[i] for i in ids]


def run(sched, outcomes, *, order=None):
    """Drive a scheduler: finish each ready batch in order with outcomes[name]; return the batches."""
    c = sched.compiled
    batches = []
    while True:
        batch = sched.ready()
        if not batch:
            break
        batches.append(names(c, batch))
        for t in batch:
            sched.done(t, outcomes.get(c.names[t], S))
    assert not sched.is_active()
    return batches


def phases(sched):
    return {n: o for n, o in zip(sched.compiled.names, sched.outcomes())}


def test_diamond(impl):
    """graphlib's shape: roots first, then each wave as its dependencies finish."""
    c = dag("A", ("B", "A"), ("C", "A"), ("D", "B && C"))
    s = impl(c)
    assert s.is_active()
    assert names(c, s.ready()) == ["A"] and s.ready() == []
    s.done(0, S)
    assert names(c, s.ready()) == ["B", "C"]
    s.done(2, S)
    assert s.ready() == [] and s.is_active()
    s.done(1, S)
    assert names(c, s.ready()) == ["D"]
    s.done(3, S)
    assert not s.is_active() and s.take_omitted() == []


def test_depends_is_evaluated_only_when_every_dependency_is_fulfilled(impl):
    """`A.Succeeded || B` is true once A succeeded, yet Argo waits for B too (§3.7)."""
    c = dag("A", "B", ("C", "A.Succeeded || B"))
    s = impl(c, fail_fast=False)
    assert s.ready() == [0, 1]
    s.done(0, S)
    assert s.ready() == []
    s.done(1, F)
    assert names(c, s.ready()) == ["C"]


def test_false_depends_omits_only_after_all_dependencies(impl):
    """`A.Succeeded && B` with A failed: C is omitted when B finishes, not before."""
    c = dag("A", "B", ("C", "A.Succeeded && B"))
    s = impl(c, fail_fast=False)
    s.ready()
    s.done(0, F)
    assert s.take_omitted() == []
    s.done(1, S)
    assert names(c, s.take_omitted()) == ["C"] and s.outcome(2) == O and not s.is_active()


def test_omitted_cascades_and_can_be_depended_on(impl):
    """An Omitted task is fulfilled: bare dependants are omitted too, `.Omitted` dependants run."""
    c = dag("A", ("B", "A"), ("C", "B"), ("D", "B.Omitted"), ("E", "C || D"))
    s = impl(c, fail_fast=False)
    assert run(s, {"A": F}) == [["A"], ["D"], ["E"]]
    assert phases(s) == {"A": F, "B": O, "C": O, "D": S, "E": S}


def test_bare_name_accepts_skipped_and_daemoned_not_omitted(impl):
    c = dag("A", "B", "X", ("Y", "X.Succeeded"), ("C", "A && B"), ("Z", "Y"))
    s = impl(c, fail_fast=False)
    assert run(s, {"A": SK, "B": D, "X": F}) == [["A", "B", "X"], ["C"]]
    assert phases(s)["Y"] == O and phases(s)["Z"] == O


def test_enhanced_depends_results(impl):
    """Each `.Result` reads its own bit (Argo's TaskResults)."""
    c = dag("A", "B", "C",
            ("r1", "A.Failed"), ("r2", "B.Errored"), ("r3", "C.Daemoned"), ("r4", "A.Succeeded"),
            ("r5", "!A.Succeeded && (B.Errored || C.Skipped)"), ("r6", "C.Succeeded"))
    s = impl(c, fail_fast=False)
    run(s, {"A": F, "B": E, "C": D | S})
    got = phases(s)
    assert [got[f"r{i}"] for i in range(1, 7)] == [S, S, S, O, S, S]


def test_continue_on_widens_bare_dependants(impl):
    """continueOn.failed: dependants see a failed task as fine and the DAG keeps going."""
    c = dag(("A", None, {"continueOn": {"failed": True}}), ("B", "A"), ("C", "B"))
    s = impl(c)
    assert run(s, {"A": F}) == [["A"], ["B"], ["C"]]
    assert not s.halted


def test_continue_on_failed_does_not_cover_error(impl):
    """continueOn.failed says nothing about Error: the dependant is omitted, the DAG ends Error."""
    c = dag(("A", None, {"continueOn": {"failed": True}}), ("B", "A"))
    s = impl(c)
    run(s, {"A": E})
    assert phases(s)["B"] == O and s.phase() == "Error"


def test_failures_do_not_stop_the_dag(impl):
    """Argo's dag-continue-on-fail: a task asking for `B.Failed` runs after B fails (failFast or not);
    bare dependants of a failure are omitted, and the DAG ends Failed through its target G."""
    c = dag("A", ("B", "A"), ("C", "A"), ("D", "B.Failed && C"), ("E", "A"), ("F", "A"), ("G", "E && F"))
    for fail_fast in (True, False):
        s = impl(c, fail_fast=fail_fast)
        assert run(s, {"B": F, "E": F}) == [["A"], ["B", "C", "E", "F"], ["D"]]
        assert phases(s)["G"] == O and not s.halted
        assert s.phase() == "Failed"


def test_enhanced_depends_example(impl):
    """Argo's dag-enhanced-depends example: C fails, yet every should-execute runs and the DAG
    succeeds (its targets are should-execute-1 and should-execute-3)."""
    c = dag("A", ("B", "A"), ("C", "A"), ("should-execute-1", "A && (C.Succeeded || C.Failed)"),
            ("should-execute-2", "B || C"), ("should-not-execute", "B && C"),
            ("should-execute-3", "should-execute-2.Succeeded || should-not-execute"))
    s = impl(c)
    run(s, {"C": F})
    got = phases(s)
    assert got["should-not-execute"] == O
    assert all(got[f"should-execute-{i}"] == S for i in (1, 2, 3))
    assert s.phase() == "Succeeded"


@pytest.mark.parametrize("outcomes, expected", [
    pytest.param({}, "Succeeded", id="all-succeed"),
    pytest.param({"A": F}, "Failed", id="omitted-target-inherits-failed"),
    pytest.param({"A": E}, "Error", id="omitted-target-inherits-error"),
    pytest.param({"A": SK}, "Succeeded", id="skipped-root-is-fine"),
    pytest.param({"X": F}, "Failed", id="failed-target"),
    pytest.param({"A": F, "X": E}, "Failed", id="first-failing-target-by-name"),
])
def test_phase_from_target_branches(impl, outcomes, expected):
    """§5.5: a target's branch phase is the last completed phase on its path; Omitted/Skipped inherit."""
    c = dag("A", ("B", "A"), ("C", "B"), "X")   # targets, sorted by name: C, X
    s = impl(c)
    run(s, outcomes)
    assert s.phase() == expected


def test_phase_continue_on_target_and_handled_failure(impl):
    """A target whose continueOn covers its failure does not fail the DAG; a failure handled by a
    `.Failed` dependant restarts the branch at that dependant's phase."""
    c = dag(("A", None, {"continueOn": {"failed": True}}), "B", ("H", "B.Failed"))
    s = impl(c)
    run(s, {"A": F, "B": F})
    assert s.phase() == "Succeeded"


def test_phase_running_and_fail_fast(impl):
    """Anything running keeps the DAG Running; with nothing running, failFast lets a failed target
    decide although another target has not started (§5.5 step 4), failFast=false waits for it."""
    c = dag("T1", "X", ("Y", "X"))
    for fail_fast, expected in ((True, "Failed"), (False, "Running")):
        s = impl(c, parallelism=1, fail_fast=fail_fast)
        assert s.ready() == [0]
        assert s.phase() == "Running"
        s.done(0, F)
        assert s.phase() == expected
        assert s.ready() == [1]
        assert s.phase() == "Running"


def test_targets_phase_uses_given_targets(impl):
    c = dag("A", ("B", "A"), "Z")
    s = impl(c, targets="B")
    run(s, {"A": S})
    assert s.phase() == "Succeeded" and s.outcome("Z") == 0


def test_targets_run_only_their_ancestors(impl):
    """`dag.target`: only the targets and what they depend on."""
    c = dag("A", ("B", "A"), ("C", "B"), ("D", "A"), "E")
    assert run(impl(c, targets=["B"]), {}) == [["A"], ["B"]]
    assert run(impl(c, targets="B E"), {}) == [["A", "E"], ["B"]]
    assert run(impl(c, targets=[3, 1]), {}) == [["A"], ["B", "D"]]
    with pytest.raises(UnknownDependencyError):
        impl(c, targets="B nope")
    with pytest.raises(SchedulerError):
        impl(c, targets=[9])


def test_parallelism_limits_running_tasks(impl):
    """Template parallelism: at most N running; omitted tasks do not count."""
    c = dag("A", "B", "C", "D", ("E", "A.Failed"), ("F", "A"))
    s = impl(c, parallelism=2, fail_fast=False)
    assert s.ready() == [0, 1]
    assert s.ready() == []
    s.done(0, S)                       # E omitted at once, F runnable behind C and D
    assert names(c, s.take_omitted()) == ["E"]
    assert names(c, s.ready()) == ["C"]
    s.done(1, S)
    s.done(2, S)
    assert names(c, s.ready()) == ["D", "F"]
    with pytest.raises(ValueError):
        impl(c, parallelism=-1)


def test_loop_group_any_succeeded_and_all_failed(impl):
    """AnySucceeded / AllFailed read the group's extra bits; other tasks may not carry them."""
    c = dag(("G", None, {"withItems": [1, 2]}), ("H", None, {"withParam": "x"}), "P",
            ("a", "G.AnySucceeded"), ("b", "G.AllFailed"), ("c", "H.AllFailed"), ("d", "H.AnySucceeded"),
            ("e", "P.AnySucceeded"))
    s = impl(c, fail_fast=False)
    run(s, {"G": F | ANY, "H": F | ALL})
    got = phases(s)
    assert [got[x] for x in "abcde"] == [S, O, S, O, O]
    s = impl(c)
    s.ready()
    for bad in (S | ANY, ):
        with pytest.raises(SchedulerError, match="not a loop group"):
            s.done(2, bad)
    with pytest.raises(SchedulerError, match="exclusive"):
        s.done(0, F | ANY | ALL)
    with pytest.raises(SchedulerError, match="requires the FAILED"):
        s.done(0, S | ALL)


@pytest.mark.parametrize("outcome, fragment", [
    (0, "no phase"), (S | F, "more than one phase"), (256, "unknown outcome"), (-1, "unknown outcome"),
    (O, "decided by the scheduler"),
])
def test_bad_outcomes(impl, outcome, fragment):
    s = impl(dag("A"))
    s.ready()
    with pytest.raises(SchedulerError, match=fragment):
        s.done(0, outcome)
    s.done(0, S)  # a rejected outcome changed nothing


def test_misuse(impl):
    """done() only for tasks handed out, once; indices in range (graphlib's ValueError shape)."""
    c = dag("A", ("B", "A"))
    s = impl(c)
    with pytest.raises(SchedulerError, match="not returned by ready"):
        s.done(0, S)
    s.ready()
    with pytest.raises(SchedulerError, match="not returned by ready"):
        s.done(1, S)
    with pytest.raises(SchedulerError, match="out of range"):
        s.done(2, S)
    s.done(0, S)
    with pytest.raises(SchedulerError, match="already done") as info:
        s.done(0, S)
    assert info.value.task == 0 and isinstance(info.value, ValueError)
    with pytest.raises(TypeError):
        s.done("B", S)  # done() takes indices; names are for targets, restore() and outcome()


def test_done_many_and_sweep_match_single_calls(impl):
    c = dag("A", "B", ("C", "A && B"), ("D", "C.Failed"), ("E", "C"))
    s = impl(c, fail_fast=False)
    s.done_many(s.ready(), [S, S])
    s.done_many(s.ready(), F)
    assert phases(s) == {"A": S, "B": S, "C": F, "D": 0, "E": O}
    assert s.ready() == [3]
    with pytest.raises(SchedulerError):
        s.done_many([3], [S, S])
    s2 = impl(c, fail_fast=False)
    assert s2.sweep([S, S, F, S, S]) == 4
    s.done(3, S)
    assert s2.outcomes() == s.outcomes()
    with pytest.raises(SchedulerError):
        impl(c).sweep([S])
    s3 = impl(c)
    assert s3.sweep(S) == 4 and not s3.is_active() and s3.outcome("D") == O


def test_restore_rebuilds_state(impl):
    """After a restart: fulfilled tasks and running ones given, the rest recomputed."""
    c = dag("A", "B", ("C", "A"), ("D", "A.Failed"), ("E", "C && B"), ("F", "E"))
    s = impl(c, fail_fast=False)
    s.restore({"A": S, "C": S}, running=["B"])
    assert names(c, s.take_omitted()) == ["D"]
    assert s.ready() == [] and s.is_active()
    s.done(1, S)
    assert names(c, s.ready()) == ["E"]
    # Omitted given explicitly is accepted and not reported again.
    s.restore({0: S, "D": O})
    assert s.take_omitted() == [] and names(c, s.ready()) == ["B", "C"]


def test_restore_recomputes_the_steps_halt(impl):
    c = compile_steps([[{"name": "A"}, {"name": "B"}], [{"name": "C"}]])
    s = impl(c)
    s.restore({"A": F, "B": S})
    assert s.halted and s.ready() == [] and not s.is_active() and s.phase() == "Failed"


@pytest.mark.parametrize("given, running, fragment", [
    ({"C": S}, (), "dependency 'A'"),
    ({}, ["C"], "is running but its dependency"),
    ({"A": F}, ["C"], "depends is false"),
    ({"A": S}, ["A"], "given twice"),
    ({"zz": S}, (), "unknown task"),
])
def test_restore_rejects_contradictions(impl, given, running, fragment):
    c = dag("A", "B", ("C", "A"))
    with pytest.raises(SchedulerError, match=fragment):
        impl(c, fail_fast=False).restore(given, running=running)


def test_restore_rejects_running_task_outside_targets(impl):
    c = dag("A", "B")
    with pytest.raises(RestoreError, match="not an ancestor"):
        impl(c, targets="A").restore({}, running=["B"])


def test_steps_groups_in_sequence(impl):
    """Steps: a group starts when the previous one is done; Skipped steps are fine (§5.4)."""
    c = compile_steps([[{"name": "a"}, {"name": "b"}], [{"name": "c"}], [{"name": "d"}, {"name": "e"}]])
    s = impl(c, fail_fast=False)
    assert s.phase() == "Running"
    assert run(s, {"b": SK}) == [["a", "b"], ["c"], ["d", "e"]]
    assert s.phase() == "Succeeded"


def test_steps_failed_group_stops_the_template(impl):
    """A failed step ends the steps template (always fail-fast); its group siblings finish."""
    c = compile_steps([[{"name": "a"}, {"name": "b"}], [{"name": "c"}]])
    s = impl(c, fail_fast=False)
    s.ready()
    s.done(0, F)
    assert s.halted and s.is_active() and s.phase() == "Running"
    s.done(1, S)
    assert not s.is_active() and s.ready() == [] and s.take_omitted() == []
    assert s.phase() == "Failed"


def test_steps_continue_on_lets_the_next_group_run(impl):
    c = compile_steps([[{"name": "a", "continueOn": {"error": True}}], [{"name": "b"}]])
    assert run(impl(c), {"a": E}) == [["a"], ["b"]]


def test_empty_graph(impl):
    s = impl(compile_dag([]))
    assert s.ready() == [] and not s.is_active() and s.sweep(S) == 0 and s.outcomes() == []
    assert s.phase() == "Succeeded"


def test_sweep_stops_at_a_bad_outcome_leaving_the_batch_running(impl):
    """A bad outcome in sweep raises; the rest of that batch stays running and can still be done."""
    c = dag("A", "B", "C", ("D", "A"))
    s = impl(c)
    with pytest.raises(SchedulerError, match="no phase"):
        s.sweep([S, 0, S, S])
    assert s.outcomes() == [S, 0, 0, 0] and s.is_active()
    s.done(1, S)
    s.done(2, S)
    assert s.ready() == [3]


def test_argo_examples_run_to_success(impl):
    """Every DAG/steps template among Argo's examples runs to Succeeded when all tasks succeed, and
    still ends (Failed, or Succeeded where continueOn or a `.Failed` path covers it) when its first
    task fails instead."""
    from tests.conftest import argo_path
    from tests.core.dag.test_dag_compile import _dag_templates
    argo_path("examples")
    count = 0
    for file, name, kind, body in _dag_templates():
        compiled = compile_dag(body) if kind == "dag" else compile_steps(body)
        s = impl(compiled)
        ran = s.sweep(S)
        assert not s.is_active() and s.phase() == "Succeeded", (file, name)
        assert ran + sum(1 for o in s.outcomes() if o == O) == len(compiled), (file, name)
        s = impl(compiled)
        s.sweep([F] + [S] * (len(compiled) - 1))
        assert not s.is_active() and s.phase() in ("Failed", "Succeeded"), (file, name)
        count += 1
    assert count >= 40


@pytest.mark.parametrize("fail_fast, started", [(False, ["a", "b", "c"]), (True, ["a"])])
def test_steps_group_waiting_for_parallelism(impl, fail_fast, started):
    """Steps with parallelism 1: after a failed step its group still completes unless the template
    has failFast (§5.4); the next group never runs and nothing is omitted."""
    c = compile_steps([[{"name": "a"}, {"name": "b"}, {"name": "c"}], [{"name": "d"}]])
    s = impl(c, parallelism=1, fail_fast=fail_fast)
    got = []
    while batch := s.ready():
        got += names(c, batch)
        for t in batch:
            s.done(t, F if c.names[t] == "a" else S)
        assert s.phase() == ("Running" if s.is_active() else "Failed")
    assert got == started and s.take_omitted() == [] and s.outcome("d") == 0


def test_steps_restore_after_failure_keeps_the_group_going(impl):
    """Restoring a failed steps group: its other steps are still runnable, later groups are not."""
    c = compile_steps([[{"name": "a"}, {"name": "b"}], [{"name": "c"}]])
    s = impl(c, fail_fast=False)
    s.restore({"a": F})
    assert s.halted and names(c, s.ready()) == ["b"] and s.take_omitted() == []
    s.done(1, S)
    assert not s.is_active() and s.phase() == "Failed" and s.outcome("c") == 0
