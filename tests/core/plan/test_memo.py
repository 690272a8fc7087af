"""memoize in the pure planner: lookups through an injected ConfigMap reader, hits without pods,
misses that save on success, maxAge expiry, and bad memoize blocks as node errors naming the field."""
from __future__ import annotations

import json

import pytest

from tiphys.core.plan import memo
from tiphys.core.plan.actions import SaveMemo
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.planner import Observed, new_execution, plan
from tiphys.core.spec import Outputs, Parameter

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
T0_TEXT = "2027-01-15T08:00:00Z"


def _spec(memoize: dict, *, steps: bool = False, retry: bool = False) -> dict:
    leaf = {"name": "leaf", "inputs": {"parameters": [{"name": "m"}]}, "memoize": memoize,
            "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.m}}"]},
            "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]}}
    if retry:
        leaf["retryStrategy"] = {"limit": 2}
    call = {"name": "s", "template": "leaf", "arguments": {"parameters": [{"name": "m", "value": "hello"}]}}
    return {"entrypoint": "main", "templates": [{"name": "main", "steps": [[call]]}, leaf]}


MEMO = {"key": "k-{{inputs.parameters.m}}", "maxAge": "1h", "cache": {"configMap": {"name": "cache"}}}


def _cm(entries: dict, labels: dict | None = None) -> dict:
    return {"metadata": {"name": "cache", "namespace": "ns",
                         "labels": {"workflows.argoproj.io/configmap-type": "Cache"} if labels is None else labels},
            "data": {k: json.dumps(v) for k, v in entries.items()}}


def _entry(created: str, value: str = "cached", node: str = "other-123") -> dict:
    return {"nodeID": node, "outputs": {"parameters": [{"name": "out", "value": value}], "exitCode": "0"},
            "creationTimestamp": created, "lastHitTimestamp": created}


def _execution(spec: dict, configmaps: dict[str, dict], name: str = "wf"):
    ex = new_execution(WorkflowMeta(name=name, namespace="ns", uid=f"uid-{name}",
                                    creation_timestamp=T0_TEXT), spec, {}, {})
    ex.memo_caches = configmaps.get
    return ex


def _kinds(result, kind) -> list:
    return [a for a in result.actions if isinstance(a, kind)]


def _leaf(ex):
    return next(n for n in ex.nodes.values() if n.display_name == "s")


def test_hit_completes_the_node_with_cached_outputs_and_no_pod_and_refreshes_last_hit():
    ex = _execution(_spec(MEMO), {"cache": _cm({"k-hello": _entry("2027-01-15T07:30:00Z")})})
    r = plan(ex, Observed(), T0)
    assert not [a for a in r.actions if type(a).__name__ == "CreatePod"]
    node = _leaf(ex)
    assert (node.type_, node.phase) == ("Pod", "Succeeded")
    assert node.outputs.parameters[0].value == "cached" and node.outputs.exit_code == "0"
    assert (node.memoization_status.hit, node.memoization_status.key, node.memoization_status.cache_name) == \
        (True, "k-hello", "cache")
    assert node.finished_at == node.started_at == T0_TEXT
    assert node.task_result_synced is None and node.progress == "1/1"
    assert ex.workflow.phase == "Succeeded"
    (touch,) = _kinds(r, SaveMemo)
    assert touch.refresh and touch.key == "k-hello" and touch.config_map == "cache"
    assert touch.entry["lastHitTimestamp"] == T0_TEXT and touch.entry["creationTimestamp"] == "2027-01-15T07:30:00Z"
    assert touch.entry["nodeID"] == "other-123"


def test_miss_runs_the_node_and_saves_argos_entry_when_it_succeeds():
    ex = _execution(_spec(MEMO), {})
    r = plan(ex, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    assert not _kinds(r, SaveMemo)
    node = ex.nodes[create.node_id]
    assert node.memoization_status.hit is False and node.memoization_status.key == "k-hello"
    outputs = Outputs(parameters=[Parameter(name="out", value="fresh")], exit_code="0")
    ex.update(node.id_, phase="Succeeded")  # the pod ended; its task result has not come yet
    assert not _kinds(r, SaveMemo) and not [a for a in ex.actions if isinstance(a, SaveMemo)]
    ex.update(node.id_, outputs=outputs, task_result_synced=True)
    (save,) = [a for a in ex.actions if isinstance(a, SaveMemo)]
    assert not save.refresh and (save.config_map, save.key) == ("cache", "k-hello")
    assert save.entry == {"nodeID": node.id_, "outputs": {"parameters": [{"name": "out", "value": "fresh"}],
                                                          "exitCode": "0"},
                          "creationTimestamp": T0_TEXT, "lastHitTimestamp": T0_TEXT}


def test_a_failed_node_saves_nothing():
    ex = _execution(_spec(MEMO), {})
    r = plan(ex, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    ex.update(create.node_id, phase="Failed", task_result_synced=True)
    assert not [a for a in ex.actions if isinstance(a, SaveMemo)]


@pytest.mark.parametrize("age, hit", [pytest.param(3599, True, id="younger"), pytest.param(3600, True, id="equal"),
                                      pytest.param(3601, False, id="older")])
def test_max_age_counts_from_the_entrys_creation(age, hit):
    created = memo._rfc3339(T0 - age)
    ex = _execution(_spec(MEMO), {"cache": _cm({"k-hello": _entry(created)})})
    r = plan(ex, Observed(), T0)
    assert bool([a for a in r.actions if type(a).__name__ == "CreatePod"]) is not hit
    assert _leaf(ex).memoization_status.hit is hit


def test_without_max_age_an_old_entry_hits():
    spec = _spec({k: v for k, v in MEMO.items() if k != "maxAge"})
    ex = _execution(spec, {"cache": _cm({"k-hello": _entry("2001-01-01T00:00:00Z")})})
    plan(ex, Observed(), T0)
    assert _leaf(ex).phase == "Succeeded" and _leaf(ex).memoization_status.hit


def test_a_later_step_with_the_same_key_hits_what_an_earlier_one_saved_before_the_informer_shows_it():
    spec = _spec(MEMO)
    call = spec["templates"][0]["steps"][0][0]
    spec["templates"][0]["steps"].append([{**call, "name": "again"}])
    ex = _execution(spec, {})
    r = plan(ex, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    ex.update(create.node_id, phase="Succeeded", task_result_synced=True,
              outputs=Outputs(parameters=[Parameter(name="out", value="v1")]))
    r = plan(ex, Observed(), T0 + 5)
    assert not [a for a in r.actions if type(a).__name__ == "CreatePod"]
    again = next(n for n in ex.nodes.values() if n.display_name == "again")
    assert again.memoization_status.hit and again.outputs.parameters[0].value == "v1"


def test_a_hit_after_a_restart_is_found_in_status_and_never_looked_up_again():
    cms = {"cache": _cm({"k-hello": _entry("2027-01-15T07:30:00Z")})}
    ex = _execution(_spec(MEMO), cms)
    plan(ex, Observed(), T0)
    nodes = dict(ex.nodes)
    again = new_execution(ex.meta, ex.spec, {"phase": "Running"}, nodes)
    again.memo_caches = {}.get  # the cache is gone: a second lookup would miss and run a pod
    r = plan(again, Observed(), T0 + 1)
    assert not r.actions or not [a for a in r.actions if type(a).__name__ in ("CreatePod", "SaveMemo")]
    assert _leaf(again).memoization_status.hit and again.workflow.phase == "Succeeded"


def test_a_save_lost_in_a_crash_is_issued_again_and_one_on_record_is_not():
    ex = _execution(_spec(MEMO), {})
    r = plan(ex, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    ex.update(create.node_id, phase="Succeeded", task_result_synced=True,
              outputs=Outputs(parameters=[Parameter(name="out", value="v")]))
    nodes = dict(ex.nodes)
    lost = new_execution(ex.meta, ex.spec, {"phase": "Running"}, nodes)
    lost.memo_caches = {}.get  # the cache never got the entry
    (again,) = memo.reissue_lost(lost)
    assert again.entry["nodeID"] == create.node_id and again.entry["outputs"]["parameters"][0]["value"] == "v"
    assert again.entry["creationTimestamp"] == nodes[create.node_id].finished_at
    assert memo.take_retries(lost) == [again] and memo.take_retries(lost) == []
    kept = new_execution(ex.meta, ex.spec, {"phase": "Running"}, nodes)
    kept.memo_caches = {"cache": _cm({"k-hello": again.entry})}.get
    assert memo.reissue_lost(kept) == []
    newer = new_execution(ex.meta, ex.spec, {"phase": "Running"}, nodes)
    newer.memo_caches = {"cache": _cm({"k-hello": _entry("2027-01-15T09:00:00Z")})}.get  # another node's, later
    assert memo.reissue_lost(newer) == []


def test_memoized_retry_template_saves_the_last_attempts_outputs_from_the_retry_node():
    ex = _execution(_spec(MEMO, retry=True), {})
    r = plan(ex, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    retry = next(n for n in ex.nodes.values() if n.type_ == "Retry")
    assert retry.memoization_status.hit is False
    ex.update(create.node_id, phase="Succeeded", task_result_synced=True,
              outputs=Outputs(parameters=[Parameter(name="out", value="r")]))
    plan(ex, Observed(), T0 + 1)
    saves = [a for a in ex.actions if isinstance(a, SaveMemo)]
    assert [s.entry["nodeID"] for s in saves] == [retry.id_]
    assert saves[0].entry["outputs"]["parameters"][0]["value"] == "r"


BAD = [
    pytest.param({**MEMO, "key": "has space {{inputs.parameters.m}}"}, "invalid cache key: 'has space hello' "
                 "(templates.leaf.memoize.key must match", id="key-chars"),
    pytest.param({**MEMO, "key": ""}, "templates.leaf.memoize.key is required", id="key-empty"),
    pytest.param({**MEMO, "maxAge": "10"}, "invalid maxAge: invalid duration '10' (templates.leaf.memoize.maxAge)",
                 id="maxage-no-unit"),
    pytest.param({**MEMO, "maxAge": "1x"}, "templates.leaf.memoize.maxAge", id="maxage-unit"),
    pytest.param({**MEMO, "cache": {"configMap": {"name": "Bad_Name"}}},
                 "templates.leaf.memoize.cache.configMap.name 'Bad_Name' is not a valid ConfigMap name", id="cm-name"),
    pytest.param({**MEMO, "cache": {}}, "templates.leaf.memoize.cache.configMap.name is required", id="cm-missing"),
    pytest.param({**MEMO, "key": "{{inputs.parameters.nope}}"}, "templates.leaf.memoize", id="key-unresolved"),
]


@pytest.mark.parametrize("block, text", BAD)
def test_a_bad_memoize_block_is_a_node_error_naming_the_field(block, text):
    ex = _execution(_spec(block), {})
    r = plan(ex, Observed(), T0)
    assert not [a for a in r.actions if type(a).__name__ == "CreatePod"]
    node = _leaf(ex)
    assert node.phase == "Error" and text in node.message, node.message
    assert ex.workflow.phase == "Failed"


def test_a_configmap_for_another_use_or_a_garbled_entry_is_an_error_not_a_miss():
    ex = _execution(_spec(MEMO), {"cache": _cm({}, labels={"workflows.argoproj.io/configmap-type": "Parameter"})})
    plan(ex, Observed(), T0)
    assert _leaf(ex).phase == "Error" and "labelled workflows.argoproj.io/configmap-type: Parameter" in \
        _leaf(ex).message and "memoize.cache.configMap.name" in _leaf(ex).message
    cm = _cm({})
    cm["data"]["k-hello"] = "{not json"
    ex = _execution(_spec(MEMO), {"cache": cm})
    plan(ex, Observed(), T0)
    assert _leaf(ex).phase == "Error" and _leaf(ex).message.startswith("malformed cache entry 'k-hello'")


@pytest.mark.parametrize("text, seconds", [("10s", 10.0), ("1h30m", 5400.0), ("1.5m", 90.0), ("-2s", -2.0),
                                           ("0", 0.0), ("300ms", 0.3), ("2h0m0s", 7200.0)])
def test_go_duration(text, seconds):
    assert memo.go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1d", "1h 2m", "--1s"])
def test_go_duration_refuses(text):
    with pytest.raises(memo.MemoError):
        memo.go_duration(text)


def _steps_spec() -> dict:
    inner = {"name": "inner", "memoize": {"key": "steps-key", "cache": {"configMap": {"name": "cache"}}},
             "steps": [[{"name": "leaf", "template": "plain"}]],
             "outputs": {"parameters": [{"name": "p", "globalName": "g",
                                         "valueFrom": {"parameter": "{{steps.leaf.outputs.result}}"}}]}}
    plain = {"name": "plain", "container": {"image": "busybox", "command": ["true"]}}
    main = {"name": "main", "steps": [[{"name": "memo", "template": "inner"}],
                                      [{"name": "use", "template": "plain", "when": "{{steps.memo.outputs.parameters.p}} == x"}]]}
    return {"entrypoint": "main", "templates": [main, inner, plain]}


def test_a_memoized_steps_template_saves_its_outputs_and_a_hit_makes_a_childless_steps_node():
    ex = _execution(_steps_spec(), {})
    r = plan(ex, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    ex.update(create.node_id, phase="Succeeded", task_result_synced=True, outputs=Outputs(result="x"))
    plan(ex, Observed(), T0 + 1)
    (save,) = [a for a in ex.actions if isinstance(a, SaveMemo)]
    steps = next(n for n in ex.nodes.values() if n.display_name == "memo")
    assert steps.type_ == "Steps" and steps.memoization_status.hit is False
    assert save.entry["nodeID"] == steps.id_
    assert {k: save.entry["outputs"]["parameters"][0][k] for k in ("name", "value")} == {"name": "p", "value": "x"}

    again = _execution(_steps_spec(), {"cache": _cm({"steps-key": save.entry})}, name="wf2")
    r = plan(again, Observed(), T0 + 2)
    hit = next(n for n in again.nodes.values() if n.display_name == "memo")
    assert (hit.type_, hit.phase, hit.memoization_status.hit) == ("Steps", "Succeeded", True)
    assert not [n for n in again.nodes.values() if n.boundary_id == hit.id_]  # nothing ran inside it
    # its only child is the next step group, linked to the previous group's outbound nodes as in Argo
    assert [again.nodes[c].type_ for c in hit.children] == ["StepGroup"]
    assert again.outbound(hit.id_) == [hit.id_]  # a memoised hit is its own outbound node (§4.6)
    assert again.global_outputs == {"g": "x"}
    # the next step read the cached output: its `when` held, so it runs
    assert [a for a in r.actions if type(a).__name__ == "CreatePod"]
    assert next(n for n in again.nodes.values() if n.display_name == "use").phase == "Pending"


def test_a_node_that_waited_for_its_lock_looks_the_cache_up_when_it_gets_the_lock():
    from tiphys.core.plan import sync

    locks = sync.LocalLocks()
    spec = _spec(MEMO)
    spec["templates"][1]["synchronization"] = {"mutexes": [{"name": "m"}]}
    first = new_execution(WorkflowMeta(name="a", namespace="ns", uid="ua", creation_timestamp=T0_TEXT), spec, {}, {},
                          locks=locks)
    first.memo_caches = {}.get
    r = plan(first, Observed(), T0)
    (create,) = [a for a in r.actions if type(a).__name__ == "CreatePod"]
    cms: dict = {}
    second = _execution(spec, cms, name="b")
    second.locks = locks
    plan(second, Observed(), T0)
    waiting = _leaf(second)
    assert waiting.phase == "Pending" and waiting.synchronization_status.waiting == "ns/Mutex/m"
    assert waiting.memoization_status is None
    first.update(create.node_id, phase="Succeeded", task_result_synced=True,
                 outputs=Outputs(parameters=[Parameter(name="out", value="from-a")]))
    (save,) = [a for a in first.actions if isinstance(a, SaveMemo)]
    cms["cache"] = _cm({"k-hello": save.entry})  # the informer now shows a's entry
    r = plan(second, Observed(), T0 + 1)
    node = _leaf(second)
    assert not [a for a in r.actions if type(a).__name__ == "CreatePod"]
    assert (node.phase, node.memoization_status.hit, node.synchronization_status) == ("Succeeded", True, None)
    assert node.outputs.parameters[0].value == "from-a" and locks.holders_of("ns/b") == []
