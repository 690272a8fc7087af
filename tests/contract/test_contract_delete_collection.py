"""Contract: delete_collection (DeleteCollection) — selectors, namespaces, finalizers, cascade,
graceful pods, one DELETED event per object, nothing to delete is no error, restarts."""
import pytest

from tiphys.controller.api import (CLUSTER_WORKFLOW_TEMPLATES, PODS, WORKFLOW_TASK_RESULTS, WORKFLOWS, BadRequest,
                                   EventType, NotFound)

from .conftest import eventually

WF_LABEL = "workflows.argoproj.io/workflow"


def result(name: str, ns: str, workflow: str, *, finalizers: list[str] | None = None,
           owner: dict | None = None, **labels: str) -> dict:
    meta: dict = {"name": name, "namespace": ns, "labels": {WF_LABEL: workflow, **labels}}
    if finalizers:
        meta["finalizers"] = finalizers
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    return {"metadata": meta, "phase": "Succeeded"}


async def names_in(api, resource, ns) -> list[str]:
    return [o["metadata"]["name"] for o in (await api.list(resource, namespace=ns)).items]


async def test_delete_collection_deletes_only_label_matches_in_its_namespace(api, ns):
    """Only objects of the namespace whose labels match go; the answer names each of them."""
    made = {}
    for name, wf_name in (("a-1", "a"), ("a-2", "a"), ("a-3", "a"), ("b-1", "b"), ("ab", "ab")):
        made[name] = await api.create(WORKFLOW_TASK_RESULTS, result(name, ns, wf_name), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, result("a-1", ns + "-b", "a"), namespace=ns + "-b")

    gone = await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=a")

    assert sorted(o["metadata"]["name"] for o in gone) == ["a-1", "a-2", "a-3"]
    assert {o["metadata"]["uid"] for o in gone} == {made[n]["metadata"]["uid"] for n in ("a-1", "a-2", "a-3")}
    assert all(o["kind"] == "WorkflowTaskResult" and o["metadata"]["namespace"] == ns for o in gone)
    assert await names_in(api, WORKFLOW_TASK_RESULTS, ns) == ["ab", "b-1"]
    assert await names_in(api, WORKFLOW_TASK_RESULTS, ns + "-b") == ["a-1"]


@pytest.mark.parametrize("labels, fields, expected", [
    pytest.param("tier in (web,db)", None, ["one", "three"], id="set-based"),
    pytest.param("app=x,!tier", None, ["two"], id="and-not-exists"),
    pytest.param(None, "metadata.name=three", ["three"], id="field"),
    pytest.param("app=x", "metadata.name!=one", ["two"], id="label-and-field"),
    pytest.param(None, None, ["four", "one", "three", "two"], id="no-selector-is-everything"),
])
async def test_delete_collection_selectors(api, ns, labels, fields, expected):
    """Set-based and negated label selectors, field selectors, both together; none selects all."""
    for name, extra in (("one", {"app": "x", "tier": "web"}), ("two", {"app": "x"}),
                        ("three", {"app": "y", "tier": "db"}), ("four", {})):
        await api.create(WORKFLOW_TASK_RESULTS, result(name, ns, "w", **extra), namespace=ns)
    gone = await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=labels,
                                       field_selector=fields)
    assert sorted(o["metadata"]["name"] for o in gone) == sorted(expected)
    left = await names_in(api, WORKFLOW_TASK_RESULTS, ns)
    assert sorted(left) == sorted({"one", "two", "three", "four"} - set(expected))


async def test_delete_collection_with_no_match_is_empty_not_not_found(api, ns):
    """Nothing matching (or nothing of the type at all in the namespace) is an empty answer."""
    assert await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=none") == []
    await api.create(WORKFLOW_TASK_RESULTS, result("kept", ns, "other"), namespace=ns)
    assert await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=none") == []
    assert await names_in(api, WORKFLOW_TASK_RESULTS, ns) == ["kept"]


async def test_delete_collection_scope_and_bad_selectors(api, ns):
    """A namespaced type needs a namespace, a cluster-scoped one refuses it; an unsupported field or a
    malformed label selector is BadRequest — and none of these deletes anything."""
    await api.create(WORKFLOW_TASK_RESULTS, result("kept", ns, "w"), namespace=ns)
    with pytest.raises(BadRequest):
        await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=None)
    with pytest.raises(BadRequest):
        await api.delete_collection(CLUSTER_WORKFLOW_TEMPLATES, namespace=ns)
    with pytest.raises(BadRequest):
        await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, field_selector="spec.nodeName=x")
    with pytest.raises(BadRequest):
        await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector="a in (")
    assert await names_in(api, WORKFLOW_TASK_RESULTS, ns) == ["kept"]


async def test_delete_collection_cluster_scoped(api, ns):
    """A cluster-scoped type: namespace None, the selector decides."""
    await api.create(CLUSTER_WORKFLOW_TEMPLATES, {"metadata": {"name": f"{ns}-x", "labels": {"test": ns}}, "spec": {}})
    await api.create(CLUSTER_WORKFLOW_TEMPLATES, {"metadata": {"name": f"{ns}-y", "labels": {"test": ns}}, "spec": {}})
    await api.create(CLUSTER_WORKFLOW_TEMPLATES, {"metadata": {"name": f"{ns}-z", "labels": {"test": "no"}},
                                                  "spec": {}})
    try:
        gone = await api.delete_collection(CLUSTER_WORKFLOW_TEMPLATES, namespace=None, label_selector=f"test={ns}")
        assert sorted(o["metadata"]["name"] for o in gone) == [f"{ns}-x", f"{ns}-y"]
        left = (await api.list(CLUSTER_WORKFLOW_TEMPLATES, label_selector=f"test in ({ns},no)")).items
        assert [o["metadata"]["name"] for o in left] == [f"{ns}-z"]
    finally:
        await api.delete_collection(CLUSTER_WORKFLOW_TEMPLATES, namespace=None, label_selector=f"test in ({ns},no)")


async def test_delete_collection_one_deleted_event_each(api, ns):
    """Each deleted object is one DELETED event with its last state, at increasing resourceVersions
    above the store's; objects that do not match send nothing."""
    for name in ("e-1", "e-2", "e-3"):
        await api.create(WORKFLOW_TASK_RESULTS, result(name, ns, "e", step=name), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, result("other", ns, "f"), namespace=ns)
    start = (await api.list(WORKFLOW_TASK_RESULTS, namespace=ns)).resource_version
    async with api.watch(WORKFLOW_TASK_RESULTS, namespace=ns, resource_version=start) as stream:
        await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=e")
        await api.create(WORKFLOW_TASK_RESULTS, result("marker", ns, "f"), namespace=ns)
        events = []
        async for event in stream:
            events.append(event)
            if event.object["metadata"]["name"] == "marker":
                break
    deleted = events[:-1]
    assert [e.type for e in deleted] == [EventType.DELETED] * 3
    assert sorted(e.object["metadata"]["name"] for e in deleted) == ["e-1", "e-2", "e-3"]
    assert all(e.object["metadata"]["labels"]["step"] == e.object["metadata"]["name"] for e in deleted)
    rvs = [int(e.resource_version) for e in events]
    assert int(start) < rvs[0] and rvs == sorted(rvs) and len(set(rvs)) == len(rvs)


async def test_delete_collection_marks_objects_with_finalizers(api, ns):
    """A match with finalizers is only marked (deletionTimestamp); the answer holds it as it was read
    before; a second call leaves it as it is; removing the finalizer deletes it."""
    made = await api.create(WORKFLOW_TASK_RESULTS, result("held", ns, "w", finalizers=["example.com/hold"]),
                            namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, result("free", ns, "w"), namespace=ns)
    gone = {o["metadata"]["name"]: o for o in
            await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=w")}
    assert sorted(gone) == ["free", "held"]
    assert gone["held"]["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    assert "deletionTimestamp" not in gone["held"]["metadata"]
    live = await api.get(WORKFLOW_TASK_RESULTS, "held", namespace=ns)
    assert live["metadata"]["deletionTimestamp"] and live["metadata"]["finalizers"] == ["example.com/hold"]
    with pytest.raises(NotFound):
        await api.get(WORKFLOW_TASK_RESULTS, "free", namespace=ns)
    again = await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=w")
    assert [o["metadata"]["name"] for o in again] == ["held"]
    assert (await api.get(WORKFLOW_TASK_RESULTS, "held", namespace=ns))["metadata"]["resourceVersion"] == \
        live["metadata"]["resourceVersion"]
    await api.patch(WORKFLOW_TASK_RESULTS, "held", {"metadata": {"finalizers": None}}, namespace=ns)
    assert await names_in(api, WORKFLOW_TASK_RESULTS, ns) == []


async def test_delete_collection_cascades_to_dependents(api, ns, backend):
    """Owners deleted by a collection delete take their dependents along, as a single delete does."""
    if not backend.garbage_collector:
        pytest.skip("no garbage collector in this backend")
    owner = await api.create(WORKFLOWS, {"metadata": {"name": "own", "namespace": ns, "labels": {"batch": "1"}},
                                         "spec": {}}, namespace=ns)
    await api.create(WORKFLOWS, {"metadata": {"name": "keep", "namespace": ns}, "spec": {}}, namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, result("child", ns, "own", owner=owner), namespace=ns)
    await api.delete_collection(WORKFLOWS, namespace=ns, label_selector="batch=1")

    async def collected() -> bool:
        return await names_in(api, WORKFLOW_TASK_RESULTS, ns) == []
    await eventually(collected)
    assert await names_in(api, WORKFLOWS, ns) == ["keep"]


async def test_delete_collection_pods_graceful_as_delete(api, ns):
    """A bound, running pod is only marked with its grace period; an unbound one goes at once; a
    grace period of 0 removes both."""
    containers = [{"name": "main", "image": "busybox"}]
    await api.create(PODS, {"metadata": {"name": "bound", "labels": {"g": "1"}},
                            "spec": {"containers": containers, "nodeName": "n1",
                                     "terminationGracePeriodSeconds": 10}}, namespace=ns)
    await api.create(PODS, {"metadata": {"name": "unbound", "labels": {"g": "1"}},
                            "spec": {"containers": containers}}, namespace=ns)
    gone = await api.delete_collection(PODS, namespace=ns, label_selector="g=1")
    assert sorted(o["metadata"]["name"] for o in gone) == ["bound", "unbound"]
    assert await names_in(api, PODS, ns) == ["bound"]
    marked = await api.get(PODS, "bound", namespace=ns)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 10 and marked["metadata"]["deletionTimestamp"]
    await api.delete_collection(PODS, namespace=ns, label_selector="g=1", grace_period_seconds=0)
    assert await names_in(api, PODS, ns) == []


async def test_delete_collection_survives_restart(api, ns, backend):
    """What a collection delete removed stays removed after a restart, and resourceVersions go on
    from past its last deletion (persistent backends only)."""
    if not backend.persistent:
        pytest.skip("backend does not persist")
    for name in ("r-1", "r-2"):
        await api.create(WORKFLOW_TASK_RESULTS, result(name, ns, "r"), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, result("s-1", ns, "s"), namespace=ns)
    await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=ns, label_selector=f"{WF_LABEL}=r")
    before = (await api.list(WORKFLOW_TASK_RESULTS, namespace=ns)).resource_version
    api = await backend.restart()
    after = await api.list(WORKFLOW_TASK_RESULTS, namespace=ns)
    assert [o["metadata"]["name"] for o in after.items] == ["s-1"] and after.resource_version == before
    made = await api.create(WORKFLOW_TASK_RESULTS, result("r-1", ns, "r"), namespace=ns)
    assert int(made["metadata"]["resourceVersion"]) > int(before)
