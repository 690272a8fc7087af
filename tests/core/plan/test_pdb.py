"""spec.podDisruptionBudget in the pure planner: Argo's PDB asked for on the first start (and
nothing else that plan), deleted at completion and by the completed path until a delete is seen."""
from __future__ import annotations

from tiphys.core.plan import pdb
from tiphys.core.plan.actions import CreatePDB, CreatePod, DeletePDB, DeleteWorkflow
from tiphys.core.plan.completed import after_completion
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.planner import Observed, new_execution, plan

T0 = 1_800_000_000.0
META = WorkflowMeta(name="wf", namespace="ns", uid="u-1")
LABEL = "workflows.argoproj.io/workflow"


def _spec(budget: dict | None = None) -> dict:
    spec = {"entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}]}
    if budget is not None:
        spec["podDisruptionBudget"] = budget
    return spec


def _of(result, kind) -> list:
    return [a for a in result.actions if isinstance(a, kind)]


def _finish(ex, pod: dict, now: float):
    """The pod succeeded and reported its (empty) outputs."""
    node_id = pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
    main = {"name": "main", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    observed = {**pod, "spec": {**pod["spec"], "nodeName": "n1"},
                "status": {"phase": "Succeeded", "containerStatuses": [main]}}
    result = {"metadata": {"name": node_id, "labels": {"workflows.argoproj.io/report-outputs-completed": "true"}},
              "outputs": {"exitCode": "0"}}
    return plan(ex, Observed(pods=[observed], task_results=[result]), now)


def test_first_start_asks_for_argos_pdb_and_nothing_else():
    """The start plan: Running, one CreatePDB with Argo's object, no pod yet, plan again at once."""
    ex = new_execution(META, _spec({"minAvailable": 9999}), {}, {})
    r = plan(ex, Observed(), T0)
    assert _of(r, CreatePDB) == [CreatePDB({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "wf", "namespace": "ns", "labels": {LABEL: "wf"},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf",
                                          "uid": "u-1", "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"minAvailable": 9999, "selector": {"matchLabels": {LABEL: "wf"}}}})]
    assert _of(r, CreatePod) == [] and ex.nodes == {}
    assert ex.workflow.phase == "Running" and r.status_changed and r.requeue_after == 0.0
    again = plan(ex, Observed(), T0 + 1)
    assert _of(again, CreatePDB) == [] and len(_of(again, CreatePod)) == 1


def test_a_given_selector_is_kept_and_the_users_spec_is_not_mutated():
    selector = {"matchLabels": {"app": "x"}}
    spec = _spec({"maxUnavailable": "50%", "selector": selector})
    ex = new_execution(META, spec, {}, {})
    [create] = _of(plan(ex, Observed(), T0), CreatePDB)
    assert create.pdb["spec"] == {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "x"}}}
    create.pdb["spec"]["selector"]["matchLabels"]["app"] = "changed"
    assert selector == {"matchLabels": {"app": "x"}}


def test_an_empty_budget_still_makes_a_pdb():
    """Argo tests `podDisruptionBudget != nil`: `{}` makes a PDB with only the default selector."""
    ex = new_execution(META, _spec({}), {}, {})
    [create] = _of(plan(ex, Observed(), T0), CreatePDB)
    assert create.pdb["spec"] == {"selector": {"matchLabels": {LABEL: "wf"}}}


def test_no_budget_no_pdb_and_the_pod_starts_in_the_first_plan():
    ex = new_execution(META, _spec(), {}, {})
    r = plan(ex, Observed(), T0)
    assert _of(r, CreatePDB) == [] and len(_of(r, CreatePod)) == 1


def test_completion_deletes_the_pdb():
    ex = new_execution(META, _spec({"minAvailable": 1}), {}, {})
    plan(ex, Observed(), T0)
    [create_pod] = _of(plan(ex, Observed(), T0 + 1), CreatePod)
    done = _finish(ex, create_pod.pod, T0 + 2)
    assert ex.workflow.phase == "Succeeded"
    assert _of(done, DeletePDB) == [DeletePDB("wf")]


def test_completion_without_a_budget_deletes_nothing():
    ex = new_execution(META, _spec(), {}, {})
    [create_pod] = _of(plan(ex, Observed(), T0), CreatePod)
    done = _finish(ex, create_pod.pod, T0 + 1)
    assert ex.workflow.phase == "Succeeded" and _of(done, DeletePDB) == []


def test_refused_fails_the_workflow_with_argos_message_and_nothing_runs():
    ex = new_execution(META, _spec({"minAvailable": 1}), {}, {})
    plan(ex, Observed(), T0)
    pdb.refused(ex, 'poddisruptionbudgets.policy is forbidden: User "x" cannot create')
    assert ex.workflow.phase == "Failed"
    assert ex.workflow.message == ('Unable to create PDB resource for workflow, wf error: '
                                   'poddisruptionbudgets.policy is forbidden: User "x" cannot create')
    assert ex.workflow.finished_at and {"type": "Completed", "status": "True"} in ex.workflow.conditions
    r = plan(ex, Observed(), T0 + 1)
    assert r.actions == [] and ex.nodes == {}


def test_restart_before_the_running_status_was_written_asks_again():
    """Crash between the create and the status write: phase "" again, so the create is asked again
    (the applier takes AlreadyExists as made)."""
    ex = new_execution(META, _spec({"minAvailable": 1}), {}, {})
    assert len(_of(plan(ex, Observed(), T0), CreatePDB)) == 1
    again = new_execution(META, _spec({"minAvailable": 1}), {}, {})
    assert len(_of(plan(again, Observed(), T0 + 5), CreatePDB)) == 1


def test_restart_of_a_running_workflow_does_not_create_it_again():
    started = "2027-01-15T08:00:00Z"
    ex = new_execution(META, _spec({"minAvailable": 1}), {"phase": "Running", "startedAt": started}, {})
    r = plan(ex, Observed(), T0 + 5)
    assert _of(r, CreatePDB) == [] and len(_of(r, CreatePod)) == 1


def _completed(phase: str = "Succeeded") -> dict:
    return {"metadata": {"name": "wf", "namespace": "ns", "uid": "u-1"},
            "status": {"phase": phase, "finishedAt": "2027-01-15T08:00:00Z"}}


def test_completed_path_deletes_the_pdb_until_a_delete_was_seen():
    spec = _spec({"minAvailable": 1})
    for phase in ("Succeeded", "Failed", "Error"):
        assert after_completion(_completed(phase), spec, (), T0).actions == [DeletePDB("wf")]
    assert after_completion(_completed(), spec, (), T0, pdb_deleted=True).actions == []
    assert after_completion(_completed(), _spec(), (), T0).actions == []
    assert after_completion(_completed("Running"), spec, (), T0).actions == []


def test_completed_path_with_ttl_due_deletes_the_workflow_and_the_pdb_follows_it():
    """The PDB is owned by the workflow: deleting the workflow takes it along (no second request)."""
    spec = {**_spec({"minAvailable": 1}), "ttlStrategy": {"secondsAfterCompletion": 0}}
    assert after_completion(_completed(), spec, (), T0).actions == [DeleteWorkflow("wf", uid="u-1")]
