"""Pod → node assessment: every row of argo-semantics §5.7, message formats verbatim."""
from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from tiphys.core.plan._poderrors import PodStatusError
from tiphys.core.plan._podresources import parse_quantity_milli, resources_duration
from tiphys.core.plan.assess import ContainerState, PodAssessment, assess_pod, infer_failed_reason, should_kill_sidecars

T0, T1, T2 = "2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z", "2024-05-01T10:00:09Z"


def waiting(name, reason="ContainerCreating", message="", ready=False):
    return {"name": name, "ready": ready, "state": {"waiting": {"reason": reason, **({"message": message} if message
                                                                                     else {})}}}


def running(name, ready=True):
    return {"name": name, "ready": ready, "state": {"running": {"startedAt": T0}}}


def done(name, code=0, reason=None, message="", finished=T1):
    term = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error"), "startedAt": T0,
            "finishedAt": finished}
    if message:
        term["message"] = message
    return {"name": name, "ready": False, "state": {"terminated": term}}


def pod(phase, containers=(), inits=(), **status):
    return {"metadata": {"name": "wf-t-1", "namespace": "argo"}, "spec": {"nodeName": "node-7"},
            "status": {"phase": phase, "startTime": T0, "podIP": "10.0.0.9", "containerStatuses": list(containers),
                       "initContainerStatuses": list(inits), **status}}


INIT_OK = [done("init")]


# ---- Pending -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("containers", "conditions", "message"), [
    pytest.param([waiting("wait"), waiting("main")], [], "ContainerCreating", id="reason-only"),
    pytest.param([running("wait"), waiting("main", "ErrImagePull", "rpc error: not found")], [],
                 "ErrImagePull: rpc error: not found", id="reason-and-message"),
    pytest.param([], [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                       "message": "0/3 nodes are available: 3 Insufficient cpu."}],
                 "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.", id="unschedulable"),
    pytest.param([], [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}], "Unschedulable",
                 id="unschedulable-no-message"),
    pytest.param([], [], "", id="nothing-known"),
])
def test_pending_messages(containers, conditions, message):
    """Pending: first waiting container's `Reason: Message`, else the Unschedulable condition."""
    a = assess_pod(pod("Pending", containers, conditions=conditions))
    assert (a.phase, a.message) == ("Pending", message)
    assert not a.daemoned and a.pod_ip == ""


# ---- Running, daemons ----------------------------------------------------------------------------------------

def test_running():
    a = assess_pod(pod("Running", [running("wait"), running("main")], INIT_OK))
    assert a == PodAssessment(phase="Running", host_node_name="node-7", started_at=T0, finished_at=None,
                              wait_running=True)


def test_daemon_becomes_daemoned_only_when_all_ready():
    not_ready = pod("Running", [running("wait"), running("main", ready=False)], INIT_OK)
    a = assess_pod(not_ready, daemon=True)
    assert (a.phase, a.daemoned, a.pod_ip) == ("Pending", False, "")
    ready = pod("Running", [running("wait"), running("main")], INIT_OK)
    a = assess_pod(ready, daemon=True)
    assert (a.phase, a.daemoned, a.pod_ip) == ("Running", True, "10.0.0.9")
    # once daemoned, readiness no longer matters (Argo skips the check for fulfilled nodes)
    a = assess_pod(not_ready, daemon=True, daemoned=True)
    assert (a.phase, a.daemoned) == ("Running", True)


def test_daemon_exits():
    """A daemon whose pod succeeds is Failed; a daemoned pod that fails was stopped by us: Succeeded."""
    ok = pod("Succeeded", [done("wait"), done("main")], INIT_OK)
    assert assess_pod(ok, daemon=True).phase == "Failed"
    assert assess_pod(ok).phase == "Succeeded"
    killed = pod("Failed", [done("wait"), done("main", 143)], INIT_OK)
    a = assess_pod(killed, daemon=True, daemoned=True)
    assert (a.phase, a.message, a.daemoned) == ("Succeeded", "", False)


# ---- Succeeded / unexpected ----------------------------------------------------------------------------------

def test_succeeded_fields():
    p = pod("Succeeded", [done("wait", finished=T2), done("main", finished=T1)], [done("init", finished=T0)])
    a = assess_pod(p)
    assert a == PodAssessment(phase="Succeeded", exit_code="0", host_node_name="node-7", started_at=T0,
                              finished_at=T2, main_done=True)


@pytest.mark.parametrize("phase", ["Unknown", "", "Weird"])
def test_unexpected_phase_is_error(phase):
    a = assess_pod(pod(phase))
    assert (a.phase, a.message) == ("Error", f"Unexpected pod phase for wf-t-1: {phase}")


# ---- Failed: inferFailedReason -------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "phase", "message"), [
    pytest.param(pod("Failed", [done("wait"), done("main", 137)], INIT_OK,
                     message="Pod was active on the node longer than the specified deadline",
                     reason="DeadlineExceeded"),
                 "Failed", "Pod was active on the node longer than the specified deadline", id="pod-message-wins"),
    pytest.param(pod("Failed", [waiting("wait", "PodInitializing"), waiting("main", "PodInitializing")],
                     [done("init", 1, message="failed to download")]),
                 "Error", "init: Error (exit code 1): failed to download", id="init-failed"),
    pytest.param(pod("Failed", [waiting("wait"), waiting("main")],
                     [waiting("init", "ImagePullBackOff", "Back-off pulling image")]),
                 "Error", "Pod failed before init container starts due to ImagePullBackOff: Back-off pulling image",
                 id="init-never-started"),
    pytest.param(pod("Failed", [done("wait"), waiting("main", "CreateContainerConfigError", "secret not found")],
                     INIT_OK),
                 "Error", "Pod failed before main container starts due to CreateContainerConfigError: "
                          "secret not found", id="main-never-started"),
    pytest.param(pod("Failed", [done("wait", 1), done("main", 2)], INIT_OK),
                 "Failed", "main: Error (exit code 2)", id="main-before-wait"),
    pytest.param(pod("Failed", [done("wait"), done("main", 137, "OOMKilled")], INIT_OK),
                 "Failed", "main: OOMKilled (exit code 137)", id="main-oom"),
    pytest.param(pod("Failed", [done("wait", 1, message="failed to save outputs"), done("main")], INIT_OK),
                 "Error", "wait: Error (exit code 1): failed to save outputs", id="wait-failed"),
    pytest.param(pod("Failed", [done("wait"), done("main"), done("db", 3)], INIT_OK),
                 "Failed", "db: Error (exit code 3)", id="sidecar-failed"),
    pytest.param(pod("Failed", [done("db", 3), done("wait", 1), done("main")], INIT_OK),
                 "Error", "wait: Error (exit code 1)", id="wait-ranks-before-sidecar"),
    pytest.param(pod("Failed", [done("wait"), done("main"), done("db", 137), done("cache", 143)], INIT_OK),
                 "Succeeded", "", id="sidecar-137-143-ignored"),
    pytest.param(pod("Failed", [done("wait"), running("main")], INIT_OK),
                 "Failed", "pod failed: main container did not complete successfully", id="main-incomplete"),
    pytest.param(pod("Failed", [running("wait"), done("main")], INIT_OK),
                 "Failed", "pod failed: wait container did not complete successfully", id="wait-incomplete"),
    pytest.param(pod("Failed", [running("wait"), running("main")], INIT_OK),
                 "Failed", "pod failed: neither main nor wait container completed successfully", id="neither"),
    pytest.param(pod("Failed"), "Failed", "can't find failed message for pod wf-t-1 namespace argo",
                 id="no-statuses"),
    pytest.param(pod("Failed", [done("main", 1)], INIT_OK), "Failed", "main: Error (exit code 1)",
                 id="resource-pod-no-wait"),
    pytest.param(pod("Failed", [done("main")], INIT_OK), "Succeeded", "", id="resource-pod-main-ok"),
])
def test_infer_failed_reason(p, phase, message):
    a = assess_pod(p)
    assert (a.phase, a.message) == (phase, message)
    assert infer_failed_reason(p) == (phase, message)


# ---- containerSet --------------------------------------------------------------------------------------------

def test_container_set_states():
    """Each member maps to its Container node: 0 Succeeded, 64 Error (emissary), other Failed, waiting Pending."""
    p = pod("Running", [running("wait"), done("a"), done("b", 64, message="exec: not found"), done("c", 2),
                        running("d"), waiting("e", "PodInitializing")], INIT_OK)
    a = assess_pod(p, main_containers=["a", "b", "c", "d", "e"])
    assert a.containers == {
        "a": ContainerState(phase="Succeeded", exit_code=0, started_at=T0, finished_at=T1),
        "b": ContainerState(phase="Error", message="b: Error (exit code 64): exec: not found", exit_code=64,
                            started_at=T0, finished_at=T1),
        "c": ContainerState(phase="Failed", message="c: Error (exit code 2)", exit_code=2, started_at=T0,
                            finished_at=T1),
        "d": ContainerState(phase="Running", started_at=T0),
        "e": ContainerState(phase="Pending"),
    }
    assert a.exit_code is None and not a.main_done  # no container named main


def test_container_set_failed_pod_with_running_member():
    p = pod("Failed", [done("wait"), done("main", 1), running("side")], INIT_OK)
    a = assess_pod(p, main_containers=["main", "side"])
    assert a.containers["side"] == ContainerState(phase="Failed", message="Pod Failed whilst container running",
                                                  started_at=T0)
    assert (a.phase, a.message, a.exit_code) == ("Failed", "main: Error (exit code 1)", "1")


def test_container_set_main_ranks_every_member():
    """For inferFailedReason every containerSet member is a main container (ranked before wait)."""
    p = pod("Failed", [done("wait", 1), done("x", 5)], INIT_OK)
    assert assess_pod(p, main_containers=["x"]).message == "x: Error (exit code 5)"
    assert assess_pod(p).message == "wait: Error (exit code 1)"  # x is then a sidecar, wait ranks first


def test_no_container_map_for_plain_pods():
    assert assess_pod(pod("Running", [running("wait"), running("main")])).containers == {}


# ---- hold-while-wait, task result, timestamps ----------------------------------------------------------------

def test_wait_still_running_is_reported():
    p = pod("Running", [running("wait"), done("main")], INIT_OK)
    a = assess_pod(p)
    assert a.wait_running and a.main_done and a.exit_code == "0" and a.finished_at is None


def test_task_result_abandoned():
    assert assess_pod(pod("Failed", [done("wait", 2), done("main")], INIT_OK)).task_result_abandoned
    evicted = pod("Failed", [], INIT_OK, reason="Evicted", message="The node was low on resource: memory.")
    a = assess_pod(evicted)
    assert a.task_result_abandoned and (a.phase, a.message) == ("Failed", "The node was low on resource: memory.")
    assert not assess_pod(pod("Failed", [done("wait"), done("main", 1)], INIT_OK)).task_result_abandoned


def test_finished_at_compares_times_not_strings():
    p = pod("Succeeded", [done("wait", finished="2024-05-01T10:00:09.5+00:00"), done("main", finished=T2)], INIT_OK)
    assert assess_pod(p).finished_at == "2024-05-01T10:00:09.5+00:00"


def test_init_less_supervisor_counts_as_wait():
    p = pod("Failed", [done("supervisor", 1), done("main")], [])
    assert assess_pod(p).message == "supervisor: Error (exit code 1)"
    assert assess_pod(pod("Running", [running("supervisor"), done("main")])).wait_running


# ---- sidecars ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("containers", "mains", "expected"), [
    pytest.param([running("wait"), running("main"), running("db")], None, [], id="main-running"),
    pytest.param([running("wait"), done("main"), running("db"), done("old"), waiting("late")], None, ["db"],
                 id="main-done"),
    pytest.param([running("wait"), done("a", 1), running("b"), running("db")], ["a", "b"], ["db"],
                 id="one-member-failed"),
    pytest.param([running("wait"), done("a"), running("b"), running("db")], ["a", "b"], [], id="one-member-ok"),
    pytest.param([running("wait"), running("db")], None, [], id="no-main-status"),
])
def test_should_kill_sidecars(containers, mains, expected):
    assert should_kill_sidecars(pod("Running", containers), main_containers=mains) == expected


def test_no_kill_outside_running():
    assert should_kill_sidecars(pod("Succeeded", [done("main"), running("db")])) == []


# ---- bad input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "where"), [
    pytest.param([], "pod", id="not-a-mapping"),
    pytest.param({"metadata": {"name": "p"}, "status": []}, "pod p: status", id="status-list"),
    pytest.param({"metadata": {"name": "p"}, "status": {"phase": "Running", "containerStatuses": {}}},
                 "pod p: status.containerStatuses", id="statuses-map"),
    pytest.param({"metadata": {"name": "p"}, "status": {"phase": "Failed", "containerStatuses": [{"state": {}}]}},
                 "pod p: status.containerStatuses[0]", id="nameless"),
    pytest.param({"metadata": {"name": "p"}, "status": {"phase": "Failed", "containerStatuses": [
        {"name": "main", "state": {"terminated": {"exitCode": "1"}}}]}}, "pod p: main.exitCode", id="exit-code-text"),
])
def test_bad_pods_raise_typed_errors(bad, where):
    with pytest.raises(PodStatusError) as info:
        assess_pod(bad)
    assert info.value.where == where


def test_assessment_is_a_frozen_encodable_struct():
    a = assess_pod(pod("Running", [running("wait"), running("main")]))
    with pytest.raises(AttributeError):
        a.phase = "Failed"  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(a))["phase"] == "Running"


# ---- resourcesDuration ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "milli"), [("100m", 100), ("1", 1000), ("0.5", 500), ("100Mi", 100 * 2**20 * 1000),
                                             ("1.5Gi", 3 * 2**29 * 1000), ("1e3", 1_000_000), ("2k", 2_000_000),
                                             ("1n", 1), ("1u", 1)])
def test_quantity_milli_rounds_up(text, milli):
    assert parse_quantity_milli(text) == milli


def test_quantity_rejects_garbage():
    with pytest.raises(PodStatusError, match="not a Kubernetes quantity"):
        parse_quantity_milli("12 bananas")


def test_resources_duration():
    """requests × whole seconds run; defaults 100m/100Mi; limits stand in for requests; init containers count."""
    p = pod("Succeeded", [done("wait", finished="2024-05-01T10:01:40Z"), done("main", finished="2024-05-01T10:00:10Z")],
            [done("init", finished="2024-05-01T10:00:02.9Z")])
    p["spec"]["initContainers"] = [{"name": "init"}]
    p["spec"]["containers"] = [
        {"name": "wait"},
        {"name": "main", "resources": {"limits": {"cpu": "2", "nvidia.com/gpu": "1"}, "requests": {"memory": "1Gi"}}}]
    # init 2 s (2.9 truncated), wait 100 s at 100m/100Mi; main 10 s at cpu 2, memory 1Gi, 1 gpu
    expected = {"cpu": 0 + 10 + 20, "memory": 2 + 100 + 102, "nvidia.com/gpu": 10}
    assert resources_duration(p) == expected
    assert assess_pod(p).resources_duration == expected
    assert assess_pod(pod("Running", [running("wait"), running("main")])).resources_duration == {}
    live = pod("Running", [running("main")])
    live["spec"]["containers"] = [{"name": "main"}]
    assert resources_duration(live, now=_epoch(T0) + 50) == {"cpu": 5, "memory": 50}
    assert resources_duration(live) == {"cpu": 0, "memory": 0}


def _epoch(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
