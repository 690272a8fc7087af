"""The cron decision: due runs, concurrency policies, suspend, deadlines, when, stop, history."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.core.cron import (COMPLETED_LABEL, CRON_LABEL, LAST_USED_SCHEDULE_ANNOTATION, SCHEDULED_TIME_ANNOTATION,
                              created, decide, read_cron, rfc3339)

T0 = int(dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc).timestamp())  # a whole minute


def cron(**spec) -> dict:
    spec.setdefault("schedules", ["* * * * *"])
    spec.setdefault("workflowSpec", {"entrypoint": "main", "templates": [{"name": "main", "container": {
        "image": "busybox"}}]})
    status = spec.pop("status", None)
    meta = {"name": "hello", "namespace": "ns", "uid": "cron-uid", **spec.pop("metadata", {})}
    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": meta, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


def child(name: str, phase: str = "Running", finished: int | None = None, uid: str | None = None) -> dict:
    status = {"phase": phase}
    if finished is not None:
        status["finishedAt"] = rfc3339(finished)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}", "labels": {CRON_LABEL: "hello"}},
            "status": status}


def ref(name: str) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": name, "namespace": "ns",
            "uid": f"uid-{name}"}


def test_due_run_creates_the_named_child_with_argo_metadata():
    obj = cron(metadata={"labels": {"workflows.argoproj.io/controller-instanceid": "i1"}},
               workflowMetadata={"labels": {"team": "a"}, "annotations": {"note": "x"}, "finalizers": ["f/x"]})
    d = decide(obj, [], now=T0, handled_through=T0 - 30)
    assert d.scheduled_time == T0 and d.skipped is None
    wf = d.create
    assert wf["metadata"]["name"] == f"hello-{T0}"
    assert wf["metadata"]["namespace"] == "ns"
    assert wf["metadata"]["labels"] == {CRON_LABEL: "hello", "team": "a",
                                        "workflows.argoproj.io/controller-instanceid": "i1"}
    assert wf["metadata"]["annotations"] == {SCHEDULED_TIME_ANNOTATION: "2026-01-01T12:00:00Z", "note": "x"}
    assert wf["metadata"]["finalizers"] == ["f/x"]
    assert wf["metadata"]["ownerReferences"] == [{"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
                                                  "name": "hello", "uid": "cron-uid", "controller": True,
                                                  "blockOwnerDeletion": True}]
    assert wf["spec"] == obj["spec"]["workflowSpec"] and wf["spec"] is not obj["spec"]["workflowSpec"]
    assert d.handled_through == T0 and d.next_run == T0 + 60
    assert d.annotations == {LAST_USED_SCHEDULE_ANNOTATION: "* * * * *"}


def test_created_status_as_argo_writes_it():
    d = decide(cron(status={"conditions": [{"type": "SubmissionError", "status": "True", "message": "x"}]}), [],
               now=T0, handled_through=T0 - 30)
    status = created(d, {**child(f"hello-{T0}"), "metadata": {"name": f"hello-{T0}", "namespace": "ns", "uid": "u1"}})
    assert status == {"active": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": f"hello-{T0}",
                                  "namespace": "ns", "uid": "u1"}],
                      "phase": "Active", "lastScheduledTime": "2026-01-01T12:00:00Z"}


def test_nothing_due_between_runs():
    d = decide(cron(), [], now=T0 + 30, handled_through=T0)
    assert d.create is None and d.next_run == T0 + 60 and d.handled_through == T0


def test_first_look_does_not_run_the_past():
    """Armed at now: a time already passed is not an on-time run (robfig schedules from now)."""
    d = decide(cron(), [], now=T0 + 5, handled_through=None)
    assert d.create is None and d.next_run == T0 + 60


def test_several_due_times_give_one_run_the_latest():
    d = decide(cron(), [], now=T0 + 1, handled_through=T0 - 300)
    assert d.scheduled_time == T0


def test_multiple_schedules_next_is_the_earliest():
    d = decide(cron(schedules=["0 * * * *", "30 12 * * *"]), [], now=T0 + 1, handled_through=T0 + 1)
    assert d.next_run == T0 + 1800


def test_suspend_skips_but_marks_the_time_handled():
    d = decide(cron(suspend=True), [], now=T0, handled_through=T0 - 30)
    assert d.create is None and d.skipped == "suspended" and d.handled_through == T0 and d.scheduled_time == T0


@pytest.mark.parametrize("policy, creates, terminate, skipped", [
    pytest.param("Allow", True, (), None, id="allow-runs-alongside"),
    pytest.param(None, True, (), None, id="default-is-allow"),
    pytest.param("Forbid", False, (), "forbid", id="forbid-skips"),
    pytest.param("Replace", True, ("hello-100",), None, id="replace-terminates-then-creates"),
])
def test_concurrency_policy_with_one_running(policy, creates, terminate, skipped):
    spec = {"concurrencyPolicy": policy} if policy else {}
    obj = cron(**spec, status={"active": [ref("hello-100")]})
    d = decide(obj, [child("hello-100")], now=T0, handled_through=T0 - 30)
    assert (d.create is not None) is creates
    assert d.terminate == terminate
    assert d.skipped == skipped


def test_forbid_runs_when_the_active_one_has_finished():
    obj = cron(concurrencyPolicy="Forbid", status={"active": [ref("hello-100")]})
    d = decide(obj, [child("hello-100", "Succeeded", finished=T0 - 5)], now=T0, handled_through=T0 - 30)
    assert d.create is not None
    assert "active" not in d.status and d.status["succeeded"] == 1


def test_active_reconciled_and_counted_once():
    obj = cron(status={"active": [ref("a"), ref("b"), ref("c"), ref("gone")], "succeeded": 2, "failed": 1})
    kids = [child("a", "Succeeded", finished=T0), child("b", "Failed", finished=T0), child("c", "Running"),
            child("d", "Pending"), child("e", "Error", finished=T0)]
    d = decide(obj, kids, now=T0 + 1, handled_through=T0 + 1)
    assert d.status["succeeded"] == 3 and d.status["failed"] == 2  # e was never active: not counted
    assert [r["name"] for r in d.status["active"]] == ["c", "d"]
    # applying the same pass to its own result counts nothing more
    again = decide(cron(status=d.status), kids, now=T0 + 2, handled_through=T0 + 2)
    assert again.status == d.status


def test_a_recreated_child_with_another_uid_is_not_the_listed_one():
    obj = cron(status={"active": [ref("a")]})
    d = decide(obj, [child("a", "Succeeded", finished=T0, uid="other")], now=T0 + 1, handled_through=T0 + 1)
    assert "succeeded" not in d.status and "active" not in d.status


@pytest.mark.parametrize("limits, doomed", [
    pytest.param({}, {"s1", "s2", "f1", "f2", "e1"}, id="defaults-3-and-1"),
    pytest.param({"successfulJobsHistoryLimit": 5, "failedJobsHistoryLimit": 4}, set(), id="roomy"),
    pytest.param({"successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0},
                 {"s1", "s2", "s3", "s4", "s5", "f1", "f2", "e1", "f3"}, id="zero-keeps-none"),
    pytest.param({"successfulJobsHistoryLimit": -1, "failedJobsHistoryLimit": -2}, {"s1", "s2", "f1", "f2", "e1"},
                 id="negative-means-default"),
])
def test_history_limits_delete_the_oldest_finished(limits, doomed):
    kids = [child(f"s{i}", "Succeeded", finished=T0 + i) for i in range(1, 6)]
    kids += [child("f1", "Failed", finished=T0 + 1), child("f2", "Failed", finished=T0 + 2),
             child("e1", "Error", finished=T0 + 3), child("f3", "Failed", finished=T0 + 4),
             child("r1", "Running")]
    d = decide(cron(**limits), kids, now=T0 + 10, handled_through=T0 + 10)
    assert set(d.delete) == doomed


def test_missed_run_recovered_within_the_starting_deadline():
    obj = cron(startingDeadlineSeconds=120, metadata={"annotations": {LAST_USED_SCHEDULE_ANNOTATION: "* * * * *"}},
               status={"lastScheduledTime": rfc3339(T0 - 600)})
    d = decide(obj, [], now=T0 + 90, handled_through=None)
    assert d.scheduled_time == T0 + 60  # the latest missed time, only one
    # the latest missed time is outside the deadline: nothing (an older one is not tried)
    obj["spec"]["startingDeadlineSeconds"] = 30
    d = decide(obj, [], now=T0 + 60 + 45, handled_through=None)
    assert d.create is None and d.next_run == T0 + 120


@pytest.mark.parametrize("change", [
    pytest.param({"startingDeadlineSeconds": None}, id="no-deadline"),
    pytest.param({"startingDeadlineSeconds": 0}, id="zero-deadline"),
    pytest.param({"status": {}}, id="never-ran"),
    pytest.param({"metadata": {"annotations": {LAST_USED_SCHEDULE_ANNOTATION: "0 * * * *"}}}, id="schedule-changed"),
    pytest.param({"metadata": {}}, id="no-last-used-annotation"),
])
def test_missed_run_not_recovered(change):
    spec = {"startingDeadlineSeconds": 120, "metadata": {"annotations": {LAST_USED_SCHEDULE_ANNOTATION: "* * * * *"}},
            "status": {"lastScheduledTime": rfc3339(T0 - 600)}}
    spec.update(change)
    if spec["startingDeadlineSeconds"] is None:
        del spec["startingDeadlineSeconds"]
    d = decide(cron(**spec), [], now=T0 + 90, handled_through=None)
    assert d.create is None


def test_when_false_skips_true_runs():
    when = "{{= cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime).Seconds() > 360 }}"
    d = decide(cron(when=when), [], now=T0, handled_through=T0 - 30)
    assert d.create is not None
    recent = cron(when=when, status={"lastScheduledTime": rfc3339(T0 - 60)})
    d = decide(recent, [], now=T0, handled_through=T0 - 30)
    assert d.create is None and d.skipped == "when"


def test_stop_strategy_marks_completed_and_stops_scheduling():
    obj = cron(stopStrategy={"expression": "cronworkflow.failed >= 2"}, status={"failed": 1, "active": [ref("a")]})
    d = decide(obj, [child("a", "Failed", finished=T0 - 1)], now=T0, handled_through=T0 - 30)
    assert d.create is None and d.labels == {COMPLETED_LABEL: "true"}
    assert d.status["phase"] == "Stopped" and d.status["failed"] == 2 and d.next_run is None
    done = cron(metadata={"labels": {COMPLETED_LABEL: "true"}})
    assert decide(done, [], now=T0, handled_through=T0 - 30).create is None


def test_stop_strategy_false_keeps_running():
    obj = cron(stopStrategy={"expression": "cronworkflow.succeeded >= 5"}, status={"succeeded": 4})
    assert decide(obj, [], now=T0, handled_through=T0 - 30).create is not None


@pytest.mark.parametrize("spec, path", [
    pytest.param({"schedules": ["61 * * * *"]}, "$.spec.schedules[0]", id="bad-minute"),
    pytest.param({"schedules": ["* * * * *", "bad"]}, "$.spec.schedules[1]", id="second-schedule"),
    pytest.param({"schedules": []}, "$.spec.schedules", id="none"),
    pytest.param({"schedules": None, "schedule": "* * *"}, "$.spec.schedule", id="legacy-field"),
    pytest.param({"timezone": "Mars/Base"}, "$.spec.timezone", id="timezone"),
    pytest.param({"concurrencyPolicy": "Sometimes"}, "$.spec.concurrencyPolicy", id="policy"),
    pytest.param({"startingDeadlineSeconds": -5}, "$.spec.startingDeadlineSeconds", id="deadline"),
    pytest.param({"stopStrategy": {"expression": "cronworkflow.failed >="}}, "$.spec.stopStrategy.expression",
                 id="stop-expression"),
])
def test_bad_spec_is_a_spec_error_condition_not_a_crash(spec, path):
    d = decide(cron(**spec), [], now=T0, handled_through=T0 - 30)
    assert d.create is None and d.error is not None and d.error.path == path
    [cond] = d.status["conditions"]
    assert cond["type"] == "SpecError" and cond["status"] == "True" and path in cond["message"]
    # fixed: the condition goes
    assert "conditions" not in decide(cron(status=d.status), [], now=T0, handled_through=T0 - 30).status


def test_legacy_single_schedule_with_commas():
    spec = read_cron(cron(schedules=None, schedule="0 * * * *,30 * * * *"))
    assert [s.text for s in spec.schedules] == ["0 * * * *", "30 * * * *"]


def test_timezone_in_the_last_used_schedule_string():
    spec = read_cron(cron(timezone="America/Los_Angeles", schedules=["*/3 * * * 1-5", "*/2 * * * *"]))
    assert spec.schedule_string == "CRON_TZ=America/Los_Angeles */3 * * * 1-5,CRON_TZ=America/Los_Angeles */2 * * * *"


def test_unchanged_status_compares_equal():
    """A pass with nothing to do returns the status it was given (no write, no event loop)."""
    status = {"active": [ref("a")], "lastScheduledTime": rfc3339(T0), "phase": "Active", "succeeded": 1}
    d = decide(cron(status=status), [child("a")], now=T0 + 1, handled_through=T0)
    assert d.status == status


PHASES = ["", "Pending", "Running", "Succeeded", "Failed", "Error"]


@settings(max_examples=200, deadline=None)
@given(phases=st.lists(st.sampled_from(PHASES), min_size=0, max_size=8),
       listed=st.lists(st.booleans(), min_size=8, max_size=8),
       ok_limit=st.integers(-1, 4), failed_limit=st.integers(-1, 4))
def test_a_second_pass_changes_nothing(phases, listed, ok_limit, failed_limit):
    """Whatever the children, a pass applied to its own status counts nothing again, and the
    counters grow by exactly the listed children that finished."""
    kids = [child(f"w{i}", p, finished=T0 - i if p in ("Succeeded", "Failed", "Error") else None)
            for i, p in enumerate(phases)]
    active = [ref(f"w{i}") for i in range(len(phases)) if listed[i]]
    obj = cron(successfulJobsHistoryLimit=ok_limit, failedJobsHistoryLimit=failed_limit,
               status={"active": active} if active else {})
    first = decide(obj, kids, now=T0 + 1, handled_through=T0 + 1)
    finished = [p for i, p in enumerate(phases) if listed[i]]
    assert first.status.get("succeeded", 0) == finished.count("Succeeded")
    assert first.status.get("failed", 0) == finished.count("Failed") + finished.count("Error")
    assert {r["name"] for r in first.status.get("active", ())} == \
        {f"w{i}" for i, p in enumerate(phases) if p not in ("Succeeded", "Failed", "Error")}
    second = decide(cron(successfulJobsHistoryLimit=ok_limit, failedJobsHistoryLimit=failed_limit,
                         status=first.status), kids, now=T0 + 2, handled_through=T0 + 2)
    assert second.status == first.status
    kept = [k for k in kids if k["metadata"]["name"] not in first.delete]
    ok_keep = ok_limit if ok_limit >= 0 else 3
    failed_keep = failed_limit if failed_limit >= 0 else 1
    assert sum(k["status"]["phase"] == "Succeeded" for k in kept) == min(ok_keep, phases.count("Succeeded"))
    assert sum(k["status"]["phase"] in ("Failed", "Error") for k in kept) == \
        min(failed_keep, phases.count("Failed") + phases.count("Error"))


@pytest.mark.parametrize("policy", ["Replace", "Forbid"])
def test_a_repeated_pass_keeps_the_run_it_already_created(policy):
    """The pass that created `hello-<T0>` lost its status write (Conflict) and runs again: the
    child is now active, but it is this run's own, so Replace does not terminate it and Forbid
    does not skip (the create is an AlreadyExists and the status records the run)."""
    others = ["hello-100"] if policy == "Replace" else []
    obj = cron(concurrencyPolicy=policy, status={"active": [ref(n) for n in others]})
    kids = [child(n) for n in others] + [child(f"hello-{T0}")]
    d = decide(obj, kids, now=T0, handled_through=T0 - 30)
    assert d.skipped is None and d.create is not None
    assert d.create["metadata"]["name"] == f"hello-{T0}"
    assert d.terminate == tuple(others)
    status = created(d, None)
    assert status["lastScheduledTime"] == rfc3339(T0)
    assert [r["name"] for r in status["active"]] == [*others, f"hello-{T0}"]


@pytest.mark.parametrize("status", [
    {"active": ["hello-100"]}, {"active": "hello-100"}, {"failed": "two"}, {"succeeded": 1.5},
    {"lastScheduledTime": 5}, {"conditions": "SpecError"}, {"conditions": ["SpecError"]},
])
def test_a_status_edited_out_of_shape_is_rewritten_not_fatal(status):
    """The status is the controller's: a field in another shape is dropped (the write replaces
    it) and the run still happens, instead of every pass raising and the cron never running."""
    d = decide(cron(status=status), [], now=T0, handled_through=T0 - 30)
    assert d.error is None and d.create is not None
    assert not set(status) & set(d.status)


@pytest.mark.parametrize("kid", [{"metadata": {"name": "hello-1", "uid": "u"}, "status": "Running"},
                                 {"metadata": "hello-1"}])
def test_a_child_out_of_shape_is_read_without_raising(kid):
    d = decide(cron(), [kid], now=T0, handled_through=T0 - 30)
    assert d.create is not None
