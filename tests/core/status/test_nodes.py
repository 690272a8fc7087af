"""Phase predicates, workflow phase from the root, and progress (argo-semantics §4.1, §4.6, §4.7)."""
from __future__ import annotations

import pytest

from tiphys.core.spec import NodeStatus
from tiphys.core.status import nodes
from tiphys.core.status.nodes import NodePhase, NodeType, Progress, ProgressError, WorkflowPhase

ALL_PHASES = list(NodePhase)


@pytest.mark.parametrize("phase", ALL_PHASES)
def test_phase_predicates_table(phase):
    """Completed = Succeeded|Failed|Error; FailedOrError; Fulfilled adds Skipped and Omitted."""
    completed = phase in ("Succeeded", "Failed", "Error")
    assert nodes.phase_completed(phase) is completed
    assert nodes.phase_failed_or_error(phase) is (phase in ("Failed", "Error"))
    assert nodes.phase_fulfilled(phase) is (completed or phase in ("Skipped", "Omitted"))
    # An unsynced task result holds back completed phases only.
    assert nodes.phase_fulfilled(phase, synced=False) is (phase in ("Skipped", "Omitted"))


def node(**kw) -> NodeStatus:
    return NodeStatus(**kw)


@pytest.mark.parametrize(("kw", "fulfilled", "completed"), [
    (dict(phase="Succeeded"), True, True),
    (dict(phase="Succeeded", task_result_synced=True), True, True),
    (dict(phase="Succeeded", task_result_synced=False), False, False),
    (dict(phase="Failed", task_result_synced=False), False, False),
    (dict(phase="Skipped"), True, False),
    (dict(phase="Omitted"), True, False),
    # Fulfilled() requires synced != false even for Skipped (the second conjunct).
    (dict(phase="Skipped", task_result_synced=False), False, False),
    (dict(phase="Running"), False, False),
    (dict(phase="Running", daemoned=True), True, False),      # a daemon past Pending is fulfilled
    (dict(phase="Pending", daemoned=True), False, False),
])
def test_node_fulfilled_and_completed(kw, fulfilled, completed):
    """node Fulfilled()/Completed() with taskResultSynced and daemons."""
    n = node(**kw)
    assert nodes.node_fulfilled(n) is fulfilled
    assert nodes.node_completed(n) is completed


def test_active_suspend_and_exit_node():
    """A Running Suspend node is active; `.onExit` display names mark exit handlers."""
    assert nodes.is_active_suspend(node(type_="Suspend", phase="Running"))
    assert not nodes.is_active_suspend(node(type_="Suspend", phase="Succeeded"))
    assert not nodes.is_active_suspend(node(type_="Pod", phase="Running"))
    assert nodes.is_exit_node("prep.onExit") and nodes.is_exit_node("wf.onExit")
    assert not nodes.is_exit_node("onExitish") and not nodes.is_exit_node(None)


@pytest.mark.parametrize(("root", "exit_phase", "expected"), [
    ("Pending", None, "Pending"),
    ("Running", None, "Running"),
    ("Succeeded", None, "Succeeded"),
    ("Skipped", None, "Succeeded"),
    ("Omitted", None, "Succeeded"),
    ("Succeeded", "Succeeded", "Succeeded"),
    ("Succeeded", "Failed", "Failed"),
    ("Succeeded", "Error", "Error"),
    ("Failed", None, "Failed"),
    ("Failed", "Succeeded", "Failed"),
    ("Error", None, "Error"),
    ("", None, ""),
    (None, None, ""),
])
def test_workflow_phase_from_root(root, exit_phase, expected):
    """§4.7: the root's phase decides, a failed exit handler turns success into its failure."""
    assert nodes.workflow_phase_from_root(root, exit_handler_phase=exit_phase) == WorkflowPhase(expected)


def test_workflow_phase_rejects_unknown():
    """An unknown phase is a programming error, not a silent default."""
    with pytest.raises(ValueError, match="Bogus"):
        nodes.workflow_phase_from_root("Bogus")


@pytest.mark.parametrize(("text", "value"), [("0/1", (0, 1)), ("1/1", (1, 1)), ("3/7", (3, 7)), ("0/100", (0, 100))])
def test_progress_parse(text, value):
    """`N/M` parses and prints back unchanged."""
    p = Progress.parse(text)
    assert tuple(p) == value and str(p) == text


@pytest.mark.parametrize("text", ["", "1", "1/0", "2/1", "-1/2", "a/b", "1/2/3", " 1/2", "１/2"])
def test_progress_invalid(text):
    """Invalid progress is a ProgressError, and None from try_parse."""
    with pytest.raises(ProgressError):
        Progress.parse(text)
    assert Progress.try_parse(text) is None


def test_progress_sum_and_complete():
    """Parents sum their children; complete() makes M/M."""
    assert str(Progress(1, 1) + Progress(0, 1) + Progress(2, 3)) == "3/5"
    assert str(Progress(2, 5).complete()) == "5/5"


@pytest.mark.parametrize(("type_", "phase", "current", "expected"), [
    ("Pod", "Pending", None, "0/1"),
    ("Pod", "Running", "3/10", "3/10"),     # reported by the user's code
    ("Pod", "Running", "bad", "0/1"),       # invalid progress is ignored
    ("Pod", "Succeeded", None, "1/1"),
    ("Pod", "Succeeded", "3/10", "10/10"),
    ("Container", "Skipped", None, "1/1"),
    ("HTTP", "Omitted", None, "1/1"),
    ("Suspend", "Running", None, "0/1"),
    ("Plugin", "Failed", None, "0/1"),      # failure is not progress
    ("DAG", "Running", None, None),         # non-leaves sum their children
    ("Steps", "Succeeded", None, None),
])
def test_leaf_progress(type_, phase, current, expected):
    """Leaf nodes start at 0/1 and complete when Succeeded/Skipped/Omitted (§4.6)."""
    p = nodes.node_default_progress(type_, phase, current)
    assert (None if p is None else str(p)) == expected


def test_enums_are_argo_strings():
    """Enum members compare equal to Argo's JSON strings."""
    assert NodeType.TASK_GROUP == "TaskGroup" and NodePhase.OMITTED == "Omitted"
    assert {t.value for t in NodeType} == {"Pod", "Container", "Steps", "StepGroup", "DAG", "TaskGroup", "Retry",
                                          "Skipped", "Suspend", "HTTP", "Plugin"}
