"""core.plan.artifact_gc: strategies and overrides, the finalizer, groups, tasks, pods, reading
results, the finalizer's removal, and deciding again after a restart at any point."""
from __future__ import annotations

import pytest

from tiphys.core.plan import artifact_gc as gc
from tiphys.core.plan.actions import CreatePod, DeletePod
from tiphys.core.plan.meta import PodSettings

FIN = gc.FINALIZER
SETTINGS = PodSettings(executor_image="exec:1", executor_env={"TIPHYS_ARTIFACT_DIR": "/repo"})


def _spec(wf_gc: dict | None = None, arts: list[dict] | None = None, **extra) -> dict:
    spec = {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "x"},
                                                 "outputs": {"artifacts": arts or []}}], **extra}
    if wf_gc is not None:
        spec["artifactGC"] = wf_gc
    return spec


def _node(node_id: str, *arts: dict, template: str = "main", phase: str = "Succeeded") -> dict:
    return {"id": node_id, "name": node_id, "type": "Pod", "phase": phase, "templateName": template,
            "outputs": {"artifacts": list(arts)}}


def _art(name: str, strategy: str | None = None, **gc_fields) -> dict:
    art = {"name": name, "path": f"/tmp/{name}", "s3": {"key": f"wf/{name}.tgz"}}
    if strategy is not None or gc_fields:
        art["artifactGC"] = {**({"strategy": strategy} if strategy else {}), **gc_fields}
    return art


def _wf(nodes: dict, *, completed: bool = True, deleting: bool = False, finalizers=(FIN,), gc_status=None,
        conditions=None) -> dict:
    meta = {"name": "wf", "namespace": "ns", "uid": "u1", "finalizers": list(finalizers),
            "labels": {"workflows.argoproj.io/completed": "true" if completed else "false"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"phase": "Succeeded", "nodes": nodes,
              "artifactRepositoryRef": {"default": True, "artifactRepository": {"s3": {"bucket": "b", "endpoint": "e"}}}}
    if gc_status is not None:
        status["artifactGCStatus"] = gc_status
    if conditions:
        status["conditions"] = conditions
    return {"metadata": meta, "status": status}


def _pods(decision: gc.Decision) -> list[dict]:
    return [a.pod for a in decision.creates if isinstance(a, CreatePod)]


def _tasks(decision: gc.Decision) -> list[dict]:
    return [a.task for a in decision.creates if isinstance(a, gc.CreateGCTask)]


def _done(task: dict, failures: dict | None = None) -> dict:
    """The task as the GC pod leaves it: a result for every artifact (failures: name -> error)."""
    failures = failures or {}
    results = {node_id: {"artifactResults": {
        name: ({"name": name, "success": False, "error": failures[name]} if name in failures
               else {"name": name, "success": True}) for name in entry["artifacts"]}}
        for node_id, entry in task["spec"]["artifactsByNode"].items()}
    return {**task, "status": {"artifactResultsByNode": results}}


def _pod(pod: dict, phase: str) -> dict:
    return {"metadata": {**pod["metadata"], "uid": "pod-uid"}, "status": {"phase": phase}}


# -- strategies, overrides, the finalizer ------------------------------------------------------

@pytest.mark.parametrize(("wf_gc", "own", "expected"), [
    pytest.param(None, None, gc.NEVER, id="default-never"),
    pytest.param({"strategy": gc.ON_DELETION}, None, gc.ON_DELETION, id="workflow"),
    pytest.param({"strategy": gc.ON_DELETION}, {"strategy": gc.ON_COMPLETION}, gc.ON_COMPLETION, id="override"),
    pytest.param({"strategy": gc.ON_COMPLETION}, {"strategy": gc.NEVER}, gc.NEVER, id="override-never"),
    pytest.param({"strategy": gc.ON_COMPLETION}, {"serviceAccountName": "sa"}, gc.ON_COMPLETION, id="own-no-strategy"),
])
def test_effective_strategy(wf_gc, own, expected):
    """The artifact's own strategy wins, else the workflow's, else Never."""
    art = {"name": "a", **({"artifactGC": own} if own is not None else {})}
    assert gc.strategy_of(_spec(wf_gc), art) == expected


def test_unknown_strategy_names_its_place():
    with pytest.raises(gc.ArtifactGCSpecError) as err:
        gc.strategy_of({}, {"artifactGC": {"strategy": "OnSundays"}}, where="spec.templates[0].outputs.artifacts[1]")
    assert err.value.where == "spec.templates[0].outputs.artifacts[1].artifactGC.strategy"
    with pytest.raises(gc.ArtifactGCSpecError, match="spec.artifactGC.strategy"):
        gc.configured({"artifactGC": {"strategy": "Always"}})


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param(_spec(), False, id="none"),
    pytest.param(_spec({"strategy": gc.NEVER}, [_art("a")]), False, id="never"),
    pytest.param(_spec({"strategy": gc.ON_COMPLETION}), True, id="workflow-level-without-artifacts"),
    pytest.param(_spec(None, [_art("a", gc.ON_DELETION)]), True, id="template-artifact"),
])
def test_configured(spec, expected):
    assert gc.configured(spec) is expected


def test_finalizer_is_added_while_running_and_never_during_deletion():
    spec = _spec({"strategy": gc.ON_COMPLETION})
    assert gc.finalizers_to_write({"finalizers": ["other"]}, spec) == ["other", FIN]
    assert gc.finalizers_to_write({"finalizers": [FIN]}, spec) is None
    assert gc.finalizers_to_write({"deletionTimestamp": "2026-01-01T00:00:00Z"}, spec) is None
    assert gc.finalizers_to_write({}, _spec()) is None
    # an unreadable strategy gets it too: the error is reported at completion (below)
    assert gc.finalizers_to_write({}, {"artifactGC": {"strategy": "bogus"}}) == [FIN]


# -- completion: groups, tasks, pods ----------------------------------------------------------

def test_nothing_without_the_finalizer():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    d = gc.decide(_wf(nodes, finalizers=()), _spec(), nodes, [], [])
    assert not d.creates and not d.writes


def test_completion_groups_by_service_account_and_pod_metadata():
    """Two groups (the workflow's SA; an artifact's own SA and podMetadata): one pod each, its
    tasks labelled with the pod's name; OnWorkflowDeletion and Never artifacts, deleted ones and
    ones without a location are not taken."""
    spec = _spec({"strategy": gc.ON_COMPLETION, "serviceAccountName": "gc-sa"}, serviceAccountName="wf-sa")
    nodes = {"n1": _node("n1", _art("a"), _art("later", gc.ON_DELETION), _art("keep", gc.NEVER),
                         {**_art("old"), "deleted": True}, {"name": "nolocation", "path": "/x"}),
             "n2": _node("n2", _art("b", gc.ON_COMPLETION, serviceAccountName="other",
                                    podMetadata={"labels": {"team": "x"}, "annotations": {"k": "v"}}))}
    d = gc.decide(_wf(nodes), spec, nodes, [], [], settings=SETTINGS)
    pods = _pods(d)
    assert len(pods) == 2
    names = [p["metadata"]["name"] for p in pods]
    assert all(n.startswith("wf-artgc-wfcomp-") and n.rsplit("-", 1)[1].isdigit() for n in names)
    by_sa = {p["spec"]["serviceAccountName"]: p for p in pods}
    assert set(by_sa) == {"gc-sa", "other"}
    other = by_sa["other"]
    assert other["metadata"]["labels"] == {"team": "x", "workflows.argoproj.io/workflow": "wf",
                                           "workflows.argoproj.io/component": "artifact-gc"}
    assert other["metadata"]["annotations"]["k"] == "v"
    assert other["metadata"]["ownerReferences"][0]["uid"] == "u1"
    main = other["spec"]["containers"][0]
    assert main["image"] == "exec:1" and main["args"] == ["artifact-gc", "--loglevel", "info"]
    assert {"name": "TIPHYS_ARTIFACT_DIR", "value": "/repo"} in main["env"]
    assert other["spec"]["restartPolicy"] == "Never"
    tasks = _tasks(d)
    assert [t["metadata"]["name"] for t in tasks] == [f"{n}-0" for n in names]
    for task, pod_name in zip(tasks, names):
        assert task["metadata"]["labels"][gc.POD_LABEL] == pod_name
        assert task["metadata"]["ownerReferences"][0]["kind"] == "Workflow"
    task_of = {t["metadata"]["labels"][gc.POD_LABEL]: t for t in tasks}
    gc_sa_task = task_of[by_sa["gc-sa"]["metadata"]["name"]]
    assert gc_sa_task["spec"]["artifactsByNode"] == {"n1": {
        "archiveLocation": {"s3": {"bucket": "b", "endpoint": "e", "key": "{{workflow.name}}/{{pod.name}}"}},
        "artifacts": {"a": {"name": "a", "path": "/tmp/a", "s3": {"key": "wf/a.tgz"}}}}}
    assert list(task_of[other["metadata"]["name"]]["spec"]["artifactsByNode"]) == ["n2"]
    assert d.gc_status == {"strategiesProcessed": {gc.ON_COMPLETION: True},
                           "podsRecouped": {n: False for n in names}}
    assert d.finalizers is None and not d.deletes and not d.conditions
    # creates come tasks first, then the pod of each group
    kinds = [type(a).__name__ for a in d.creates]
    assert kinds == ["CreateGCTask", "CreatePod", "CreateGCTask", "CreatePod"]


def test_same_group_same_names_whatever_the_order():
    """The pod name is a hash of (strategy, SA, podMetadata): deterministic across decisions."""
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION, podMetadata={"labels": {"a": "1", "b": "2"}}))}
    nodes2 = {"n1": _node("n1", _art("a", gc.ON_COMPLETION, podMetadata={"labels": {"b": "2", "a": "1"}}))}
    one = _pods(gc.decide(_wf(nodes), _spec(), nodes, [], []))[0]["metadata"]["name"]
    two = _pods(gc.decide(_wf(nodes2), _spec(), nodes2, [], []))[0]["metadata"]["name"]
    assert one == two


def test_template_artifact_gc_applies_when_the_node_lost_it():
    """An executor that reports only the location: the template's output artifact says the strategy."""
    spec = _spec(None, [_art("a", gc.ON_COMPLETION)])
    nodes = {"n1": _node("n1", {"name": "a", "s3": {"key": "wf/a.tgz"}})}
    assert len(_pods(gc.decide(_wf(nodes), spec, nodes, [], []))) == 1


def test_tasks_split_at_the_limit(monkeypatch):
    monkeypatch.setattr(gc, "MAX_ARTIFACTS_PER_TASK", 2)
    nodes = {f"n{i}": _node(f"n{i}", _art(f"a{i}", gc.ON_COMPLETION)) for i in range(5)}
    d = gc.decide(_wf(nodes), _spec(), nodes, [], [])
    tasks = _tasks(d)
    assert [len(t["spec"]["artifactsByNode"]) for t in tasks] == [2, 2, 1]
    assert [t["metadata"]["name"].rsplit("-", 1)[1] for t in tasks] == ["0", "1", "2"]
    assert len(_pods(d)) == 1


def test_pod_spec_patch_and_secrets():
    """spec.artifactGC.podSpecPatch is merged into the pod; the locations' secrets are mounted under
    /argo/secret/<name>; a patch that is not YAML becomes an ArtifactGCError and no pod is made."""
    spec = _spec({"strategy": gc.ON_COMPLETION,
                  "podSpecPatch": '{"containers": [{"name": "main", "env": [{"name": "X", "value": "1"}]}]}'})
    art = {**_art("a"), "s3": {"key": "k", "bucket": "b", "accessKeySecret": {"name": "creds", "key": "ak"},
                                "secretKeySecret": {"name": "creds", "key": "sk"}}}
    nodes = {"n1": _node("n1", art)}
    pod = _pods(gc.decide(_wf(nodes), spec, nodes, [], []))[0]
    main = pod["spec"]["containers"][0]
    assert {"name": "X", "value": "1"} in main["env"]
    # one volume per Secret, named after it, with the keys referenced (as the workflow pods' volumes)
    assert pod["spec"]["volumes"] == [{"name": "creds", "secret": {"secretName": "creds", "items": [
        {"key": "ak", "path": "ak"}, {"key": "sk", "path": "sk"}]}}]
    assert main["volumeMounts"] == [{"name": "creds", "mountPath": "/argo/secret/creds", "readOnly": True}]
    bad = _spec({"strategy": gc.ON_COMPLETION, "podSpecPatch": "{not: [yaml"})
    d = gc.decide(_wf(nodes), bad, nodes, [], [])
    assert not d.creates and d.conditions[0]["type"] == gc.CONDITION
    assert "spec.artifactGC.podSpecPatch" in d.conditions[0]["message"]


def test_a_bad_strategy_is_a_condition_not_a_crash():
    """An artifact's or the workflow's unknown strategy: ArtifactGCError naming it, nothing
    deleted, and the finalizer goes (nothing ever could be deleted)."""
    nodes = {"n1": _node("n1", _art("a", "Sometimes"))}
    d = gc.decide(_wf(nodes), _spec(), nodes, [], [])
    assert not d.creates and d.conditions[0]["type"] == gc.CONDITION and "Sometimes" in d.conditions[0]["message"]
    assert d.finalizers == []
    d2 = gc.decide(_wf({}), _spec({"strategy": "Weekly"}), {}, [], [])
    assert "spec.artifactGC.strategy" in d2.conditions[0]["message"] and d2.finalizers == []


# -- deletion ---------------------------------------------------------------------------------

def test_deletion_runs_both_strategies_when_completion_has_not():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION), _art("b", gc.ON_DELETION))}
    d = gc.decide(_wf(nodes, completed=False, deleting=True), _spec(), nodes, [], [])
    names = sorted(p["metadata"]["name"].split("-")[2] for p in _pods(d))
    assert names == ["wfcomp", "wfdel"]
    assert d.gc_status["strategiesProcessed"] == {gc.ON_COMPLETION: True, gc.ON_DELETION: True}


def test_deletion_after_completion_runs_only_deletion():
    nodes = {"n1": _node("n1", {**_art("a", gc.ON_COMPLETION), "deleted": True}, _art("b", gc.ON_DELETION))}
    status = {"strategiesProcessed": {gc.ON_COMPLETION: True}, "podsRecouped": {"wf-artgc-wfcomp-1": True}}
    d = gc.decide(_wf(nodes, deleting=True, gc_status=status), _spec(), nodes, [], [])
    tasks = _tasks(d)
    assert len(tasks) == 1 and list(tasks[0]["spec"]["artifactsByNode"]["n1"]["artifacts"]) == ["b"]
    assert _pods(d)[0]["metadata"]["name"].startswith("wf-artgc-wfdel-")


def test_not_completed_and_not_deleting_is_not_due():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    d = gc.decide(_wf(nodes, completed=False), _spec(), nodes, [], [])
    assert not d.creates


# -- results, recouping, the finalizer --------------------------------------------------------

def _started(nodes: dict, spec: dict, **wf_kw):
    first = gc.decide(_wf(nodes, **wf_kw), spec, nodes, [], [])
    return first, _wf(nodes, gc_status=first.gc_status, **wf_kw)


def test_a_succeeded_pod_is_recouped_and_the_finalizer_removed():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION), _art("b", gc.ON_COMPLETION))}
    spec = _spec()
    first, wf = _started(nodes, spec)
    task, pod = _tasks(first)[0], _pods(first)[0]
    d = gc.decide(wf, spec, nodes, [_done(task)], [_pod(pod, "Succeeded")])
    assert d.deleted == {"n1": ["a", "b"]}
    assert d.gc_status["podsRecouped"] == {pod["metadata"]["name"]: True}
    assert d.finalizers == [] and not d.conditions and not d.creates
    assert DeletePod(pod["metadata"]["name"], uid="pod-uid") in d.deletes
    assert gc.DeleteGCTask(task["metadata"]["name"]) in d.deletes


def test_results_not_yet_in_the_cache_wait():
    """A Succeeded pod whose task shows no results yet is not recouped: the task's event comes."""
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    first, wf = _started(nodes, _spec())
    d = gc.decide(wf, _spec(), nodes, _tasks(first), [_pod(_pods(first)[0], "Succeeded")])
    assert not d.writes and not d.deletes


def test_running_pod_is_left_alone():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    first, wf = _started(nodes, _spec())
    d = gc.decide(wf, _spec(), nodes, [_done(_tasks(first)[0])], [_pod(_pods(first)[0], "Running")])
    assert not d.writes and not d.deletes


def test_on_deletion_artifacts_keep_the_finalizer_after_completion():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION), _art("b", gc.ON_DELETION))}
    first, wf = _started(nodes, _spec())
    d = gc.decide(wf, _spec(), nodes, [_done(_tasks(first)[0])], [_pod(_pods(first)[0], "Succeeded")])
    assert d.deleted == {"n1": ["a"]} and d.finalizers is None


def test_failed_delete_is_an_error_condition_and_keeps_the_finalizer():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION), _art("b", gc.ON_COMPLETION))}
    first, wf = _started(nodes, _spec())
    task = _done(_tasks(first)[0], {"b": "AccessDenied: no"})
    d = gc.decide(wf, _spec(), nodes, [task], [_pod(_pods(first)[0], "Succeeded")])
    assert d.deleted == {"n1": ["a"]} and d.finalizers is None
    assert d.conditions == [{"type": gc.CONDITION, "status": "True", "message":
                             f"artifact b of node n1 was not deleted: AccessDenied: no (artifactGC task "
                             f"{task['metadata']['name']})"}]
    # the same condition is not added twice
    again = gc.decide({**wf, "status": {**wf["status"], "conditions": d.conditions}}, _spec(), nodes, [task],
                      [_pod(_pods(first)[0], "Succeeded")])
    assert again.conditions == []


def test_force_finalizer_removal():
    """With forceFinalizerRemoval the finalizer goes once every pod is recouped, failures or not;
    never while a strategy with artifacts left has not run."""
    spec = _spec({"forceFinalizerRemoval": True})
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    first, wf = _started(nodes, spec)
    d = gc.decide(wf, spec, nodes, [_done(_tasks(first)[0], {"a": "boom"})], [_pod(_pods(first)[0], "Succeeded")])
    assert d.conditions and d.finalizers == []
    nodes2 = {"n1": _node("n1", _art("a", gc.ON_COMPLETION), _art("b", gc.ON_DELETION))}
    first2, wf2 = _started(nodes2, spec)
    d2 = gc.decide(wf2, spec, nodes2, [_done(_tasks(first2)[0], {"a": "boom"})],
                   [_pod(_pods(first2)[0], "Succeeded")])
    assert d2.finalizers is None  # OnWorkflowDeletion has not run yet


def test_failed_pod_is_an_error_and_is_kept_for_its_log():
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    first, wf = _started(nodes, _spec())
    pod = _pods(first)[0]
    d = gc.decide(wf, _spec(), nodes, _tasks(first), [_pod(pod, "Failed")])
    assert d.conditions[0]["message"] == (
        f"Artifact Garbage Collection failed for strategy OnWorkflowCompletion, pod {pod['metadata']['name']} "
        "exited with non-zero exit code: check pod logs for more information")
    assert not any(isinstance(a, DeletePod) for a in d.deletes)
    assert d.gc_status["podsRecouped"][pod["metadata"]["name"]] is True and d.finalizers is None


# -- restarts ---------------------------------------------------------------------------------

def test_restart_before_the_status_write_makes_the_same_objects():
    """Creates made, then a crash before the write: the same tasks and pods are asked for again
    (AlreadyExists for the applier), nothing new."""
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION)), "n2": _node("n2", _art("b", gc.ON_COMPLETION,
                                                                                    serviceAccountName="x"))}
    one = gc.decide(_wf(nodes), _spec(), nodes, [], [])
    two = gc.decide(_wf(nodes), _spec(), nodes, _tasks(one), [])
    assert one.creates == two.creates and one.gc_status == two.gc_status


def test_restart_after_the_write_deletes_what_is_left():
    """The recouping write made it, the deletes did not: the recouped pod and its tasks are
    deleted again, nothing is re-read or re-written."""
    nodes = {"n1": _node("n1", {**_art("a", gc.ON_COMPLETION), "deleted": True})}
    first, _ = _started({"n1": _node("n1", _art("a", gc.ON_COMPLETION))}, _spec())
    pod, task = _pods(first)[0], _done(_tasks(first)[0])
    name = pod["metadata"]["name"]
    wf = _wf(nodes, finalizers=(), gc_status={"strategiesProcessed": {gc.ON_COMPLETION: True},
                                              "podsRecouped": {name: True}})
    wf["metadata"]["finalizers"] = [FIN]  # say the finalizer write was lost too: it is removed now
    d = gc.decide(wf, _spec(), nodes, [task], [_pod(pod, "Succeeded")])
    assert d.deleted == {} and not d.conditions and d.gc_status is None
    assert d.finalizers == []
    assert set(d.deletes) == {DeletePod(name, uid="pod-uid"), gc.DeleteGCTask(task["metadata"]["name"])}


def test_a_pod_ahead_of_the_task_informer_waits():
    """A Succeeded pod whose group still has artifacts but none of whose tasks is in the cache yet is
    not recouped (it would be, with nothing deleted, and hold the finalizer for ever)."""
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    first, wf = _started(nodes, _spec())
    d = gc.decide(wf, _spec(), nodes, [], [_pod(_pods(first)[0], "Succeeded")])
    assert not d.writes and not d.deletes
    # a pod of no pending group (its artifacts were deleted) with no tasks is simply recouped
    done_nodes = {"n1": _node("n1", {**_art("a", gc.ON_COMPLETION), "deleted": True})}
    d2 = gc.decide(wf, _spec(), done_nodes, [], [_pod(_pods(first)[0], "Succeeded")])
    assert d2.gc_status["podsRecouped"] == {_pods(first)[0]["metadata"]["name"]: True} and d2.finalizers == []


def test_pod_gc_leaves_artifact_gc_pods_to_artifact_gc():
    """podGC of a completed workflow never deletes a GC pod: artifact GC reads it first."""
    from tiphys.core.plan.completed import after_completion

    wf = {"metadata": {"name": "wf", "uid": "u"}, "status": {"phase": "Succeeded",
                                                             "finishedAt": "2026-01-01T00:00:00Z"}}
    gc_pod = {"metadata": {"name": "wf-artgc-wfcomp-1", "uid": "g",
                           "labels": {"workflows.argoproj.io/component": "artifact-gc"}},
              "status": {"phase": "Succeeded"}}
    step = {"metadata": {"name": "wf-1", "uid": "s", "labels": {}}, "status": {"phase": "Succeeded"}}
    cleanup = after_completion(wf, {"podGC": {"strategy": "OnPodCompletion"}}, [gc_pod, step], 1_900_000_000.0)
    assert cleanup.actions == [DeletePod("wf-1", uid="s")]


def test_a_gc_pod_lost_before_it_was_read_is_made_again():
    """A GC pod that disappeared unread (deleted, evicted) while its group still has artifacts is
    asked for again with its tasks (AlreadyExists for what is still there); one whose group has
    nothing left is counted as recouped."""
    nodes = {"n1": _node("n1", _art("a", gc.ON_COMPLETION))}
    first, wf = _started(nodes, _spec())
    again = gc.decide(wf, _spec(), nodes, _tasks(first), [])
    assert again.creates == first.creates and not again.writes
    done_nodes = {"n1": _node("n1", {**_art("a", gc.ON_COMPLETION), "deleted": True})}
    gone = gc.decide(wf, _spec(), done_nodes, [], [])
    assert not gone.creates and gone.gc_status["podsRecouped"] == {_pods(first)[0]["metadata"]["name"]: True}
    assert gone.finalizers == []


def test_completion_gc_settled() -> None:
    from tiphys.core.plan.artifact_gc import FINALIZER, completion_gc_settled

    def wf(gc=None, finalizers=(FINALIZER,)):
        return {"metadata": {"name": "w", "finalizers": list(finalizers)}, "status": {"artifactGCStatus": gc or {}}}

    assert completion_gc_settled(wf(finalizers=()))  # no GC of ours
    assert not completion_gc_settled(wf())  # completion not processed yet
    started = {"strategiesProcessed": {"OnWorkflowCompletion": True}, "podsRecouped": {"w-artgc-wfcomp-1": False}}
    assert not completion_gc_settled(wf(started))  # its pod not read yet
    read = {"strategiesProcessed": {"OnWorkflowCompletion": True},
            "podsRecouped": {"w-artgc-wfcomp-1": True, "w-artgc-wfdel-2": False}}
    assert completion_gc_settled(wf(read))  # the deletion strategy's pod is not waited for
    assert completion_gc_settled(wf({"strategiesProcessed": {"OnWorkflowCompletion": True}}))  # nothing to delete
