"""Contract: delete preconditions, finalizers, ownerReference cascade, pod graceful deletion."""
import pytest

from tiphys.controller.api import (PODS, WORKFLOW_TASK_RESULTS, WORKFLOWS, Conflict, EventType, Invalid,
                                   NotFound, Preconditions, Propagation)

from .conftest import eventually


def wf(name: str, ns: str, finalizers: list[str] | None = None) -> dict:
    meta = {"name": name, "namespace": ns}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta, "spec": {}}


def owned(name: str, ns: str, *owners: dict, finalizers: list[str] | None = None, block: bool = False) -> dict:
    refs = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"], **({"blockOwnerDeletion": True} if block else {})} for o in owners]
    meta = {"name": name, "namespace": ns, "ownerReferences": refs,
            "labels": {"workflows.argoproj.io/workflow": owners[0]["metadata"]["name"]}}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta, "phase": "Succeeded"}


async def exists(api, resource, name, ns) -> bool:
    try:
        await api.get(resource, name, namespace=ns)
    except NotFound:
        return False
    return True


async def test_delete_returns_last_state_and_removes(api, ns):
    """delete returns the object and a later get raises NotFound."""
    created = await api.create(WORKFLOWS, wf("d", ns), namespace=ns)
    last = await api.delete(WORKFLOWS, "d", namespace=ns)
    assert last["metadata"]["uid"] == created["metadata"]["uid"]
    assert not await exists(api, WORKFLOWS, "d", ns)


async def test_delete_preconditions(api, ns):
    """A uid or resourceVersion precondition that does not match raises Conflict and keeps the object."""
    created = await api.create(WORKFLOWS, wf("pre", ns), namespace=ns)
    with pytest.raises(Conflict):
        await api.delete(WORKFLOWS, "pre", namespace=ns, preconditions=Preconditions(uid="other"))
    await api.patch(WORKFLOWS, "pre", {"spec": {"x": 1}}, namespace=ns)
    with pytest.raises(Conflict):
        await api.delete(WORKFLOWS, "pre", namespace=ns, preconditions=Preconditions(
            resource_version=created["metadata"]["resourceVersion"]))
    assert await exists(api, WORKFLOWS, "pre", ns)
    await api.delete(WORKFLOWS, "pre", namespace=ns, preconditions=Preconditions(uid=created["metadata"]["uid"]))
    assert not await exists(api, WORKFLOWS, "pre", ns)


async def test_finalizers_hold_deletion_until_removed(api, ns):
    """With finalizers, delete only sets deletionTimestamp; removing the last finalizer deletes."""
    created = await api.create(WORKFLOWS, wf("fin", ns, ["example.com/a", "example.com/b"]), namespace=ns)
    rv = created["metadata"]["resourceVersion"]
    marked = await api.delete(WORKFLOWS, "fin", namespace=ns)
    assert marked["metadata"]["deletionTimestamp"]
    live = await api.get(WORKFLOWS, "fin", namespace=ns)
    assert live["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    again = await api.delete(WORKFLOWS, "fin", namespace=ns)
    assert again["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    await api.patch(WORKFLOWS, "fin", {"metadata": {"finalizers": ["example.com/b"]}}, namespace=ns)
    assert await exists(api, WORKFLOWS, "fin", ns)
    await api.patch(WORKFLOWS, "fin", {"metadata": {"finalizers": None}}, namespace=ns)
    assert not await exists(api, WORKFLOWS, "fin", ns)
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=rv) as stream:
        events = []
        async for event in stream:
            events.append(event.type)
            if event.type is EventType.DELETED:
                break
    assert events == [EventType.MODIFIED, EventType.MODIFIED, EventType.DELETED]


async def test_no_new_finalizers_while_deleting(api, ns):
    """Adding a finalizer to an object being deleted is Invalid."""
    await api.create(WORKFLOWS, wf("nf", ns, ["example.com/a"]), namespace=ns)
    await api.delete(WORKFLOWS, "nf", namespace=ns)
    with pytest.raises(Invalid) as info:
        await api.patch(WORKFLOWS, "nf", {"metadata": {"finalizers": ["example.com/a", "example.com/new"]}},
                        namespace=ns)
    assert info.value.causes[0].field == "metadata.finalizers"


async def test_background_cascade_deletes_dependents(api, ns, backend):
    """Deleting an owner (background propagation) deletes objects owned only by it."""
    if not backend.garbage_collector:
        pytest.skip("no garbage collector in this backend")
    owner = await api.create(WORKFLOWS, wf("owner", ns), namespace=ns)
    other = await api.create(WORKFLOWS, wf("other-owner", ns), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("r1", ns, owner), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("r2", ns, owner), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("shared", ns, owner, other), namespace=ns)
    await api.delete(WORKFLOWS, "owner", namespace=ns)

    async def collected() -> bool:
        return not await exists(api, WORKFLOW_TASK_RESULTS, "r1", ns) and \
            not await exists(api, WORKFLOW_TASK_RESULTS, "r2", ns)
    await eventually(collected)

    async def unlinked() -> bool:
        # the real garbage collector drops the dead owner's reference in its own time
        shared = await api.get(WORKFLOW_TASK_RESULTS, "shared", namespace=ns)
        return [r["uid"] for r in shared["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]
    await eventually(unlinked)


async def test_cascade_is_transitive(api, ns, backend):
    """Dependents of dependents go too."""
    if not backend.garbage_collector:
        pytest.skip("no garbage collector in this backend")
    root = await api.create(WORKFLOWS, wf("root", ns), namespace=ns)
    child_body = wf("child", ns)
    child_body["metadata"]["ownerReferences"] = [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "root", "uid": root["metadata"]["uid"]}]
    child = await api.create(WORKFLOWS, child_body, namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("grandchild", ns, child), namespace=ns)
    await api.delete(WORKFLOWS, "root", namespace=ns)

    async def collected() -> bool:
        return not await exists(api, WORKFLOW_TASK_RESULTS, "grandchild", ns)
    await eventually(collected)
    assert not await exists(api, WORKFLOWS, "child", ns)


async def test_orphan_propagation_keeps_dependents(api, ns, backend):
    """Orphan propagation deletes the owner and strips its ownerReference from dependents."""
    if not backend.garbage_collector:
        pytest.skip("no garbage collector in this backend")
    owner = await api.create(WORKFLOWS, wf("orph", ns), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("kept", ns, owner), namespace=ns)
    await api.delete(WORKFLOWS, "orph", namespace=ns, propagation=Propagation.ORPHAN)

    async def orphaned() -> bool:
        kept = await api.get(WORKFLOW_TASK_RESULTS, "kept", namespace=ns)
        return not kept["metadata"].get("ownerReferences") and not await exists(api, WORKFLOWS, "orph", ns)
    await eventually(orphaned)


async def test_foreground_waits_for_dependents(api, ns, backend):
    """Foreground: the owner stays (deletionTimestamp, foregroundDeletion) while a dependent with
    blockOwnerDeletion is held by a finalizer, and goes once that dependent is gone."""
    if not backend.garbage_collector:
        pytest.skip("no garbage collector in this backend")
    owner = await api.create(WORKFLOWS, wf("fg", ns), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("free", ns, owner), namespace=ns)
    await api.create(WORKFLOW_TASK_RESULTS, owned("held", ns, owner, finalizers=["example.com/hold"], block=True),
                     namespace=ns)
    await api.delete(WORKFLOWS, "fg", namespace=ns, propagation=Propagation.FOREGROUND)

    async def waiting() -> bool:
        if await exists(api, WORKFLOW_TASK_RESULTS, "free", ns):
            return False
        held = await api.get(WORKFLOW_TASK_RESULTS, "held", namespace=ns)
        return "deletionTimestamp" in held["metadata"]
    await eventually(waiting)
    live = await api.get(WORKFLOWS, "fg", namespace=ns)
    assert "foregroundDeletion" in live["metadata"]["finalizers"] and live["metadata"]["deletionTimestamp"]
    await api.patch(WORKFLOW_TASK_RESULTS, "held", {"metadata": {"finalizers": None}}, namespace=ns)

    async def owner_gone() -> bool:
        return not await exists(api, WORKFLOWS, "fg", ns)
    await eventually(owner_gone)


async def test_bound_running_pod_deletes_gracefully(api, ns):
    """A pod bound to a node is only marked (deletionTimestamp + grace period) until a delete with
    grace 0 (the kubelet's); an unbound pod is deleted at once."""
    spec = {"containers": [{"name": "main", "image": "busybox"}], "nodeName": "n1",
            "terminationGracePeriodSeconds": 10}
    await api.create(PODS, {"metadata": {"name": "bound"}, "spec": spec}, namespace=ns)
    marked = await api.delete(PODS, "bound", namespace=ns)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 10 and marked["metadata"]["deletionTimestamp"]
    assert await exists(api, PODS, "bound", ns)
    await api.delete(PODS, "bound", namespace=ns, grace_period_seconds=0)
    assert not await exists(api, PODS, "bound", ns)
    await api.create(PODS, {"metadata": {"name": "unbound"}, "spec": {"containers": spec["containers"]}},
                     namespace=ns)
    await api.delete(PODS, "unbound", namespace=ns)
    assert not await exists(api, PODS, "unbound", ns)


async def test_finished_pod_deletes_at_once(api, ns):
    """A bound pod that already Succeeded needs no grace period."""
    spec = {"containers": [{"name": "main", "image": "busybox"}], "nodeName": "n1"}
    await api.create(PODS, {"metadata": {"name": "done"}, "spec": spec}, namespace=ns)
    await api.patch(PODS, "done", {"status": {"phase": "Succeeded"}}, namespace=ns, subresource="status")
    await api.delete(PODS, "done", namespace=ns)
    assert not await exists(api, PODS, "done", ns)
