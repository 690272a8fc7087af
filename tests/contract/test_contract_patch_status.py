"""Contract: merge and JSON patches, patch preconditions, the status subresource."""
import pytest

from tiphys.controller.api import (PODS, WORKFLOW_TASK_SETS, WORKFLOWS, BadRequest, Conflict, Invalid,
                                   NotFound, PatchType, UnsupportedMediaType)


def wf(name: str, ns: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": {"a": "1", "b": "2"}},
            "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "p", "value": "1"}]}}}


def pod(name: str, ns: str, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "main", "image": "busybox"}], **spec}}


async def test_merge_patch_merges_and_null_deletes(api, ns):
    """RFC 7386: nested objects merge, null removes a key, lists are replaced whole."""
    await api.create(WORKFLOWS, wf("mp", ns), namespace=ns)
    patched = await api.patch(WORKFLOWS, "mp", {
        "metadata": {"labels": {"a": None, "c": "3"}},
        "spec": {"shutdown": "Stop", "arguments": {"parameters": []}}}, namespace=ns)
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"] == {"entrypoint": "main", "shutdown": "Stop", "arguments": {"parameters": []}}


async def test_json_patch_operations(api, ns):
    """RFC 6902 add, replace, remove, copy, move and a passing test apply in order."""
    await api.create(WORKFLOWS, wf("jp", ns), namespace=ns)
    patched = await api.patch(WORKFLOWS, "jp", [
        {"op": "test", "path": "/spec/entrypoint", "value": "main"},
        {"op": "add", "path": "/spec/arguments/parameters/-", "value": {"name": "q", "value": "2"}},
        {"op": "replace", "path": "/spec/entrypoint", "value": "other"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/c"},
        {"op": "move", "from": "/metadata/labels/b", "path": "/metadata/labels/d"},
    ], namespace=ns, patch_type=PatchType.JSON)
    assert patched["spec"]["entrypoint"] == "other"
    assert [p["name"] for p in patched["spec"]["arguments"]["parameters"]] == ["p", "q"]
    assert patched["metadata"]["labels"] == {"c": "2", "d": "2"}


async def test_failed_json_patch_is_invalid_and_changes_nothing(api, ns):
    """A failing `test` op raises Invalid (422); earlier ops of the same patch are not applied."""
    created = await api.create(WORKFLOWS, wf("jpf", ns), namespace=ns)
    with pytest.raises(Invalid):
        await api.patch(WORKFLOWS, "jpf", [
            {"op": "replace", "path": "/spec/entrypoint", "value": "x"},
            {"op": "test", "path": "/spec/entrypoint", "value": "nope"},
        ], namespace=ns, patch_type=PatchType.JSON)
    assert await api.get(WORKFLOWS, "jpf", namespace=ns) == created


async def test_json_patch_missing_path_is_invalid(api, ns):
    """Removing a path that does not exist is Invalid."""
    await api.create(WORKFLOWS, wf("jpm", ns), namespace=ns)
    with pytest.raises(Invalid):
        await api.patch(WORKFLOWS, "jpm", [{"op": "remove", "path": "/spec/nothing"}],
                        namespace=ns, patch_type=PatchType.JSON)


async def test_malformed_patch_is_bad_request(api, ns):
    """A JSON patch that is not a list of operations is BadRequest (400)."""
    await api.create(WORKFLOWS, wf("bad", ns), namespace=ns)
    with pytest.raises(BadRequest):
        await api.patch(WORKFLOWS, "bad", {"op": "add"}, namespace=ns, patch_type=PatchType.JSON)


async def test_strategic_merge_on_custom_resource_is_unsupported(api, ns):
    """Custom resources reject strategic merge patch with 415."""
    await api.create(WORKFLOWS, wf("smp", ns), namespace=ns)
    with pytest.raises(UnsupportedMediaType) as info:
        await api.patch(WORKFLOWS, "smp", {"spec": {}}, namespace=ns, patch_type=PatchType.STRATEGIC)
    assert info.value.status == 415


async def test_patch_with_stale_resource_version_conflicts(api, ns):
    """A merge patch that sets metadata.resourceVersion is a precondition."""
    created = await api.create(WORKFLOWS, wf("prv", ns), namespace=ns)
    await api.patch(WORKFLOWS, "prv", {"spec": {"entrypoint": "b"}}, namespace=ns)
    with pytest.raises(Conflict):
        await api.patch(WORKFLOWS, "prv", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                                           "spec": {"entrypoint": "c"}}, namespace=ns)
    current = await api.get(WORKFLOWS, "prv", namespace=ns)
    ok = await api.patch(WORKFLOWS, "prv", {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                                            "spec": {"entrypoint": "c"}}, namespace=ns)
    assert ok["spec"]["entrypoint"] == "c"


async def test_pod_starts_pending_and_main_endpoint_ignores_status(api, ns):
    """Pods have a status subresource: create and update through the main endpoint ignore status."""
    created = await api.create(PODS, dict(pod("p", ns), status={"phase": "Running"}), namespace=ns)
    assert created["status"]["phase"] == "Pending"
    created["status"] = {"phase": "Succeeded"}
    created["metadata"]["labels"] = {"x": "1"}
    updated = await api.update(PODS, created, namespace=ns)
    assert updated["status"]["phase"] == "Pending" and updated["metadata"]["labels"] == {"x": "1"}


async def test_status_update_writes_only_status(api, ns):
    """update(subresource="status") writes status and ignores spec changes; the server-defaulted
    qosClass stays. (Pods take labels through /status too; custom resources do not, below.)"""
    created = await api.create(PODS, pod("s", ns), namespace=ns)
    assert created["status"]["qosClass"] == "BestEffort"
    body = dict(created, status={"phase": "Running"}, spec=dict(created["spec"], nodeName="n1"))
    updated = await api.update(PODS, body, namespace=ns, subresource="status")
    assert updated["status"] == {"phase": "Running", "qosClass": "BestEffort"}
    assert "nodeName" not in updated["spec"]
    assert updated["metadata"].get("generation") == created["metadata"].get("generation")


async def test_status_patch_changes_only_status(api, ns):
    """patch(subresource="status") changes status only; spec in the patch is ignored."""
    await api.create(PODS, pod("sp", ns), namespace=ns)
    patched = await api.patch(PODS, "sp", {"status": {"phase": "Failed", "message": "boom"},
                                           "spec": {"nodeName": "n1"}}, namespace=ns, subresource="status")
    assert (patched["status"]["phase"], patched["status"]["message"]) == ("Failed", "boom")
    assert "nodeName" not in patched["spec"]


async def test_pod_qos_class(api, ns):
    """Pods get their QoS class at creation: Guaranteed, Burstable or BestEffort."""
    def resources(**res) -> dict:
        return {"containers": [{"name": "main", "image": "busybox", "resources": res}]}
    cases = {"guaranteed": resources(limits={"cpu": "1", "memory": "1Gi"}),
             "burstable": resources(requests={"cpu": "100m"}),
             "besteffort": resources()}
    got = {name: (await api.create(PODS, {"metadata": {"name": name}, "spec": spec}, namespace=ns))["status"]["qosClass"]
           for name, spec in cases.items()}
    assert got == {"guaranteed": "Guaranteed", "burstable": "Burstable", "besteffort": "BestEffort"}


async def test_status_update_with_stale_resource_version_conflicts(api, ns):
    """The status subresource honours optimistic concurrency too."""
    created = await api.create(PODS, pod("sc", ns), namespace=ns)
    await api.patch(PODS, "sc", {"status": {"phase": "Running"}}, namespace=ns, subresource="status")
    with pytest.raises(Conflict):
        await api.update(PODS, dict(created, status={"phase": "Failed"}), namespace=ns, subresource="status")


async def test_custom_resource_with_status_subresource(api, ns):
    """WorkflowTaskSet declares the status subresource: main-endpoint status writes are dropped."""
    created = await api.create(WORKFLOW_TASK_SETS, {"metadata": {"name": "ts"}, "spec": {"tasks": {}},
                                                    "status": {"nodes": {"a": {}}}}, namespace=ns)
    assert "status" not in created
    done = await api.patch(WORKFLOW_TASK_SETS, "ts", {"status": {"nodes": {"n": {"phase": "Succeeded"}}}},
                           namespace=ns, subresource="status")
    assert done["status"] == {"nodes": {"n": {"phase": "Succeeded"}}}
    assert done["metadata"]["generation"] == 1
    body = dict(done, status={"nodes": {}}, spec={"tasks": {"t": {}}})
    body["metadata"] = dict(done["metadata"], labels={"ignored": "yes"})
    again = await api.update(WORKFLOW_TASK_SETS, body, namespace=ns, subresource="status")
    assert again["status"] == {"nodes": {}} and again["spec"] == {"tasks": {}}
    assert "labels" not in again["metadata"]


async def test_workflow_has_no_status_subresource(api, ns):
    """Argo's Workflow CRD has `subresources: {}`: /status does not exist, update writes status."""
    created = await api.create(WORKFLOWS, wf("nostatus", ns), namespace=ns)
    with pytest.raises(NotFound):
        await api.update(WORKFLOWS, dict(created, status={"phase": "Running"}), namespace=ns, subresource="status")
    updated = await api.update(WORKFLOWS, dict(created, status={"phase": "Running"}), namespace=ns)
    assert updated["status"] == {"phase": "Running"}
