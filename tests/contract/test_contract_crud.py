"""Contract: create, get, update, optimistic concurrency, generateName, generation, copies."""
import pytest

from tiphys.controller.api import (CLUSTER_WORKFLOW_TEMPLATES, CONFIG_MAPS, WORKFLOWS, AlreadyExists,
                                   BadRequest, Conflict, Invalid, NotFound)


def wf(name: str, ns: str, **spec) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": ns}, "spec": {"entrypoint": "main", **spec}}


async def test_create_sets_server_fields(api, ns):
    """create fills uid, creationTimestamp, resourceVersion and generation 1."""
    created = await api.create(WORKFLOWS, wf("hello", ns), namespace=ns)
    meta = created["metadata"]
    assert meta["name"] == "hello" and meta["namespace"] == ns
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert await api.get(WORKFLOWS, "hello", namespace=ns) == created


async def test_create_duplicate_is_already_exists_not_conflict(api, ns):
    """A second create of the same name raises AlreadyExists (409), distinct from Conflict."""
    await api.create(WORKFLOWS, wf("dup", ns), namespace=ns)
    with pytest.raises(AlreadyExists) as info:
        await api.create(WORKFLOWS, wf("dup", ns), namespace=ns)
    assert info.value.status == 409 and not isinstance(info.value, Conflict)


@pytest.mark.parametrize("call", ["get", "update", "patch", "delete"])
async def test_missing_object_is_not_found(api, ns, call):
    """Every single-object call on a missing name raises NotFound (404)."""
    with pytest.raises(NotFound) as info:
        if call == "get":
            await api.get(WORKFLOWS, "nope", namespace=ns)
        elif call == "update":
            await api.update(WORKFLOWS, wf("nope", ns), namespace=ns)
        elif call == "patch":
            await api.patch(WORKFLOWS, "nope", {"spec": {"x": 1}}, namespace=ns)
        else:
            await api.delete(WORKFLOWS, "nope", namespace=ns)
    assert info.value.status == 404


async def test_generate_name(api, ns):
    """generateName yields distinct names of prefix + 5 characters."""
    body = {"metadata": {"generateName": "run-"}, "spec": {}}
    names = {(await api.create(WORKFLOWS, body, namespace=ns))["metadata"]["name"] for _ in range(5)}
    assert len(names) == 5
    assert all(n.startswith("run-") and len(n) == len("run-") + 5 for n in names)


async def test_missing_name_is_invalid_with_cause(api, ns):
    """No name and no generateName: Invalid (422) whose cause names metadata.name."""
    with pytest.raises(Invalid) as info:
        await api.create(WORKFLOWS, {"metadata": {}, "spec": {}}, namespace=ns)
    assert info.value.status == 422
    assert [c.field for c in info.value.causes] == ["metadata.name"]


async def test_bad_name_is_invalid(api, ns):
    """A name that is not a DNS subdomain is Invalid."""
    with pytest.raises(Invalid) as info:
        await api.create(WORKFLOWS, wf("Not_Valid", ns), namespace=ns)
    assert info.value.causes[0].field == "metadata.name"


async def test_namespace_mismatch_is_bad_request(api, ns):
    """A body namespace that differs from the request's is rejected."""
    with pytest.raises(BadRequest):
        await api.create(WORKFLOWS, wf("x", "elsewhere"), namespace=ns)


async def test_resource_versions_increase(api, ns):
    """Each write gets a larger resourceVersion (a decimal string)."""
    a = await api.create(CONFIG_MAPS, {"metadata": {"name": "a"}, "data": {"k": "1"}}, namespace=ns)
    b = await api.create(CONFIG_MAPS, {"metadata": {"name": "b"}, "data": {"k": "1"}}, namespace=ns)
    a["data"]["k"] = "2"
    a2 = await api.update(CONFIG_MAPS, a, namespace=ns)
    rvs = [int(x["metadata"]["resourceVersion"]) for x in (a, b, a2)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


async def test_update_with_stale_resource_version_conflicts(api, ns):
    """Optimistic concurrency: an update carrying an old resourceVersion raises Conflict."""
    first = await api.create(WORKFLOWS, wf("occ", ns), namespace=ns)
    fresh = dict(first, spec={"entrypoint": "other"})
    await api.update(WORKFLOWS, fresh, namespace=ns)
    stale = dict(first, spec={"entrypoint": "third"})
    with pytest.raises(Conflict) as info:
        await api.update(WORKFLOWS, stale, namespace=ns)
    assert info.value.status == 409
    assert (await api.get(WORKFLOWS, "occ", namespace=ns))["spec"]["entrypoint"] == "other"


async def test_update_without_resource_version_is_unconditional_for_builtins(api, ns):
    """A ConfigMap update without metadata.resourceVersion overwrites whatever is there."""
    created = await api.create(CONFIG_MAPS, {"metadata": {"name": "uncond"}, "data": {"a": "1"}}, namespace=ns)
    del created["metadata"]["resourceVersion"]
    created["data"]["a"] = "2"
    updated = await api.update(CONFIG_MAPS, created, namespace=ns)
    assert updated["data"] == {"a": "2"}


async def test_custom_resource_update_needs_resource_version(api, ns):
    """Custom resources refuse unconditional updates: Invalid naming metadata.resourceVersion."""
    created = await api.create(WORKFLOWS, wf("cond", ns), namespace=ns)
    del created["metadata"]["resourceVersion"]
    with pytest.raises(Invalid) as info:
        await api.update(WORKFLOWS, created, namespace=ns)
    assert [c.field for c in info.value.causes] == ["metadata.resourceVersion"]


async def test_noop_update_keeps_resource_version(api, ns):
    """Writing an unchanged object does not bump resourceVersion."""
    created = await api.create(WORKFLOWS, wf("noop", ns), namespace=ns)
    again = await api.update(WORKFLOWS, created, namespace=ns)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_generation_tracks_non_metadata_changes(api, ns):
    """Spec changes bump generation, metadata-only changes do not; a Workflow has no status
    subresource, so a status change through update bumps it too (as on a real cluster)."""
    obj = await api.create(WORKFLOWS, wf("gen", ns), namespace=ns)
    obj["metadata"]["labels"] = {"a": "b"}
    obj = await api.update(WORKFLOWS, obj, namespace=ns)
    assert obj["metadata"]["generation"] == 1
    obj["spec"]["entrypoint"] = "x"
    obj = await api.update(WORKFLOWS, obj, namespace=ns)
    assert obj["metadata"]["generation"] == 2
    obj["status"] = {"phase": "Running"}
    obj = await api.update(WORKFLOWS, obj, namespace=ns)
    assert obj["status"] == {"phase": "Running"} and obj["metadata"]["generation"] == 3


async def test_server_fields_are_immutable(api, ns):
    """creationTimestamp from the body is ignored on update; a different uid is a failed
    precondition (Conflict), as on a real apiserver."""
    obj = await api.create(WORKFLOWS, wf("imm", ns), namespace=ns)
    uid, created_at = obj["metadata"]["uid"], obj["metadata"]["creationTimestamp"]
    obj["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    obj["metadata"]["labels"] = {"x": "y"}
    updated = await api.update(WORKFLOWS, obj, namespace=ns)
    assert updated["metadata"]["creationTimestamp"] == created_at and updated["metadata"]["labels"] == {"x": "y"}
    updated["metadata"]["uid"] = "forged"
    updated["metadata"]["labels"] = {"x": "z"}
    with pytest.raises(Conflict):
        await api.update(WORKFLOWS, updated, namespace=ns)
    assert (await api.get(WORKFLOWS, "imm", namespace=ns))["metadata"]["uid"] == uid


async def test_returned_objects_are_copies(api, ns):
    """Mutating what create/get returned does not change the stored object."""
    created = await api.create(WORKFLOWS, wf("copy", ns), namespace=ns)
    created["spec"]["entrypoint"] = "mutated"
    fetched = await api.get(WORKFLOWS, "copy", namespace=ns)
    fetched["spec"]["entrypoint"] = "mutated too"
    assert (await api.get(WORKFLOWS, "copy", namespace=ns))["spec"]["entrypoint"] == "main"


async def test_cluster_scoped_resource(api):
    """Cluster-scoped resources take no namespace and list across the cluster."""
    name = "cwft-" + api.__class__.__name__.lower()[:5]
    created = await api.create(CLUSTER_WORKFLOW_TEMPLATES, {"metadata": {"name": name}, "spec": {}})
    assert "namespace" not in created["metadata"]
    assert (await api.get(CLUSTER_WORKFLOW_TEMPLATES, name))["metadata"]["uid"] == created["metadata"]["uid"]
    listed = await api.list(CLUSTER_WORKFLOW_TEMPLATES)
    assert name in [item["metadata"]["name"] for item in listed.items]
    await api.delete(CLUSTER_WORKFLOW_TEMPLATES, name)
