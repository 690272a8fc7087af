"""The pure rules behind podGC, ttlStrategy, volumeClaimTemplates and template timeouts."""
from __future__ import annotations

import pytest

from tiphys.core.plan import claims
from tiphys.core.plan.actions import CreatePod, CreatePVC, DeletePod, DeletePVC, DeleteWorkflow
from tiphys.core.plan.completed import after_completion, ttl_seconds
from tiphys.core.plan.deadlines import TimeoutFormatError, pod_deadline, template_deadline
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.planner import Observed, new_execution, plan
from tiphys.core.plan.podgc import PodGCPolicy, policy_of, selector_matches, should_delete

T0 = 1_800_000_000.0
META = WorkflowMeta(name="wf", namespace="ns", uid="u-1")


@pytest.mark.parametrize("selector, labels, matches", [
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Near"}]}, {"a": "1"}, False),
])
def test_label_selector(selector, labels, matches):
    assert selector_matches(selector, labels) is matches


# Argo's determinePodCleanupAction, one row per case: (strategy, pod phase, workflow phase) -> delete?
@pytest.mark.parametrize("strategy, pod_phase, wf_phase, delete", [
    ("OnWorkflowCompletion", "Succeeded", "Running", False),
    ("OnWorkflowCompletion", "Failed", "Error", True),
    ("OnWorkflowSuccess", "Succeeded", "Failed", False),
    ("OnWorkflowSuccess", "Failed", "Succeeded", True),
    ("OnPodCompletion", "Failed", "Running", True),
    ("OnPodSuccess", "Succeeded", "Running", True),
    ("OnPodSuccess", "Failed", "Running", False),
    ("OnPodSuccess", "Failed", "Succeeded", False),
])
def test_which_pods_are_deleted(strategy, pod_phase, wf_phase, delete):
    assert should_delete(PodGCPolicy(strategy=strategy), {}, pod_phase, wf_phase) is delete


def test_a_pod_outside_the_selector_is_never_deleted():
    policy = PodGCPolicy(strategy="OnPodCompletion", selector={"matchLabels": {"gc": "yes"}})
    assert not should_delete(policy, {"gc": "no"}, "Succeeded", "Succeeded")
    assert should_delete(policy, {"gc": "yes"}, "Succeeded", "Running")


def test_policy_defaults():
    """A selector alone means OnPodCompletion; the delay falls back to the ConfigMap's; the grace
    period comes from the ConfigMap; no strategy, no policy."""
    settings = PodSettings(pod_gc_delete_delay="20s", pod_gc_grace_period_seconds=3)
    p = policy_of({"podGC": {"labelSelector": {}}}, settings)
    assert (p.strategy, p.delay, p.grace_period_seconds, p.per_pod) == ("OnPodCompletion", 20.0, 3, True)
    assert policy_of({"podGC": {"strategy": "OnPodSuccess", "deleteDelayDuration": "1m30s"}}, settings).delay == 90
    assert policy_of({"podGC": {"strategy": "OnPodSuccess", "deleteDelayDuration": "later"}}, settings).delay == 20
    assert policy_of({"podGC": {}}, settings) is None
    assert policy_of({}, settings) is None
    assert not policy_of({"podGC": {"strategy": "OnWorkflowSuccess"}}, settings).per_pod


@pytest.mark.parametrize("ttl, phase, seconds", [
    ({"secondsAfterSuccess": 5, "secondsAfterCompletion": 10}, "Succeeded", 5),
    ({"secondsAfterFailure": 5, "secondsAfterCompletion": 10}, "Succeeded", 10),
    ({"secondsAfterFailure": 5, "secondsAfterCompletion": 10}, "Failed", 5),
    ({"secondsAfterFailure": 5, "secondsAfterCompletion": 10}, "Error", 10),
    ({"secondsAfterFailure": 5}, "Error", None),
    ({"secondsAfterCompletion": 0}, "Failed", 0),
    ({"secondsAfterCompletion": 10}, "Running", None),
    ({"secondsAfterCompletion": "10"}, "Failed", None),
    (None, "Failed", None),
])
def test_ttl_seconds(ttl, phase, seconds):
    assert ttl_seconds(ttl, phase) == seconds


def completed_wf(phase="Succeeded", **status) -> dict:
    return {"metadata": {"name": "wf", "namespace": "ns", "uid": "u-1"},
            "status": {"phase": phase, "finishedAt": "2027-01-15T08:00:00Z", **status}}


FINISHED = 1_800_000_000.0 + 0  # 2027-01-15T08:00:00Z


def pod(name: str, phase: str = "Succeeded", **meta) -> dict:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "labels": {}, **meta}, "status": {"phase": phase}}


def test_after_completion_ttl_wins_and_takes_everything():
    spec = {"ttlStrategy": {"secondsAfterCompletion": 30}, "podGC": {"strategy": "OnPodCompletion"}}
    early = after_completion(completed_wf(), spec, [pod("p")], FINISHED + 10)
    assert early.actions == [DeletePod("p", uid="uid-p")] and early.requeue_at == FINISHED + 30
    due = after_completion(completed_wf(), spec, [pod("p")], FINISHED + 30)
    assert due.actions == [DeleteWorkflow("wf", uid="u-1")] and due.requeue_at is None


def test_after_completion_pods_wait_for_the_delay_and_skip_those_being_deleted():
    spec = {"podGC": {"strategy": "OnPodSuccess", "deleteDelayDuration": "10s"}}
    pods = [pod("ok"), pod("bad", "Failed"), pod("going", deletionTimestamp="2027-01-15T08:00:01Z")]
    assert after_completion(completed_wf(), spec, pods, FINISHED + 5).requeue_at == FINISHED + 10
    late = after_completion(completed_wf(), spec, pods, FINISHED + 10)
    assert late.actions == [DeletePod("ok", uid="uid-ok")] and late.requeue_at is None
    assert after_completion(completed_wf("Running"), spec, pods, FINISHED + 99).actions == []


def test_after_completion_retries_pvcs_left_listed():
    listed = [{"name": "w", "persistentVolumeClaim": {"claimName": "wf-w"}}]
    wf = completed_wf("Failed", persistentVolumeClaims=listed)
    assert after_completion(wf, {}, [], FINISHED).actions == []  # OnWorkflowSuccess keeps a failed one's
    assert after_completion(wf, {"volumeClaimGC": {"strategy": "OnWorkflowCompletion"}}, [], FINISHED).actions == [
        DeletePVC("wf-w")]


SPEC = {"entrypoint": "main", "arguments": {"parameters": [{"name": "size", "value": "2Gi"}]},
        "volumeClaimTemplates": [{"metadata": {"name": "work"},
                                  "spec": {"resources": {"requests": {"storage": "{{workflow.parameters.size}}"}}}}],
        "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"],
                                                     "volumeMounts": [{"name": "work", "mountPath": "/w"}]}}]}


def test_claims_first_then_pods():
    """The first plan asks for the PVC only (globals substituted); once reported made, the entry starts."""
    ex = new_execution(META, SPEC, {}, {})
    first = plan(ex, Observed(), T0)
    creates = [a for a in first.actions if isinstance(a, CreatePVC)]
    assert [a.pvc["metadata"]["name"] for a in creates] == ["wf-work"]
    assert creates[0].pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert (creates[0].claim, creates[0].owner_uid) == ("work", "u-1")
    assert not any(isinstance(a, CreatePod) for a in first.actions)
    again = plan(ex, Observed(), T0 + 1)  # not reported yet: asked again, still nothing starts
    assert [type(a) for a in again.actions] == [CreatePVC]
    assert claims.created(ex, ["work"]) is True
    assert ex.workflow.persistent_volume_claims == [{"name": "work", "persistentVolumeClaim": {"claimName": "wf-work"}}]
    started = plan(ex, Observed(), T0 + 2)
    assert [type(a) for a in started.actions] == [CreatePod]


def test_a_claim_template_without_a_name_errors_the_workflow():
    spec = {**SPEC, "volumeClaimTemplates": [{"spec": {}}]}
    ex = new_execution(META, spec, {}, {})
    plan(ex, Observed(), T0)
    assert (ex.workflow.phase, ex.workflow.message) == (
        "Error", "pvc create error: volumeClaimTemplates[0].metadata.name is required")


def test_waiting_then_made_clears_the_message():
    ex = new_execution(META, SPEC, {}, {})
    plan(ex, Observed(), T0)
    claims.waiting(ex, "exceeded quota")
    assert (ex.workflow.phase, ex.workflow.message) == ("Pending", "Waiting for a PVC to be created. exceeded quota")
    claims.created(ex, ["work"])
    assert (ex.workflow.phase, ex.workflow.message) == ("Running", "")


def test_template_deadline_and_pod_deadline():
    ex = new_execution(META, SPEC, {}, {})
    ex.now = "2027-01-15T08:00:00Z"
    assert template_deadline(ex, "wf", {"timeout": "1m30s"}) == FINISHED + 90
    assert template_deadline(ex, "wf", {"timeout": "45"}) == FINISHED + 45
    assert template_deadline(ex, "wf", {}) is None
    with pytest.raises(TimeoutFormatError, match="invalid timeout format"):
        template_deadline(ex, "wf", {"timeout": "1 minute"})
    ex.deadline_text = "2027-01-15T08:01:00Z"
    assert pod_deadline(ex, FINISHED + 90, on_exit=False) == "2027-01-15T08:01:00Z"
    assert pod_deadline(ex, FINISHED + 30, on_exit=False) == "2027-01-15T08:00:30Z"
    assert pod_deadline(ex, FINISHED + 90, on_exit=True) == "2027-01-15T08:01:30Z"
    assert pod_deadline(ex, None, on_exit=True) is None
