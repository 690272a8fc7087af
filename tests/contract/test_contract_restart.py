"""Contract: a restarted server loses nothing it acknowledged (persistent backends only)."""
import pytest

from tiphys.controller.api import CLUSTER_WORKFLOW_TEMPLATES, PODS, WORKFLOWS, EventType, Gone, NotFound


async def test_restart_keeps_objects_and_resource_versions(api, ns, backend):
    """Objects, their resourceVersions and uids survive a restart; deleted ones stay deleted."""
    if not backend.persistent:
        pytest.skip("backend does not persist")
    kept = await api.create(WORKFLOWS, {"metadata": {"name": "kept", "labels": {"a": "b"}}, "spec": {"x": 1}},
                            namespace=ns)
    kept = await api.update(WORKFLOWS, dict(kept, status={"phase": "Running"}), namespace=ns)
    await api.create(WORKFLOWS, {"metadata": {"name": "dropped"}, "spec": {}}, namespace=ns)
    await api.delete(WORKFLOWS, "dropped", namespace=ns)
    pod = await api.create(PODS, {"metadata": {"name": "p", "ownerReferences": [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "kept", "uid": kept["metadata"]["uid"]}]},
        "spec": {"containers": []}}, namespace=ns)
    cluster = await api.create(CLUSTER_WORKFLOW_TEMPLATES, {"metadata": {"name": "cw-" + ns}, "spec": {}})
    before = (await api.list(WORKFLOWS, namespace=ns)).resource_version

    api = await backend.restart()
    assert await api.get(WORKFLOWS, "kept", namespace=ns) == kept
    assert await api.get(PODS, "p", namespace=ns) == pod
    assert await api.get(CLUSTER_WORKFLOW_TEMPLATES, "cw-" + ns) == cluster
    with pytest.raises(NotFound):
        await api.get(WORKFLOWS, "dropped", namespace=ns)
    after = await api.list(WORKFLOWS, namespace=ns)
    assert after.resource_version == before
    new = await api.create(WORKFLOWS, {"metadata": {"name": "new"}, "spec": {}}, namespace=ns)
    assert int(new["metadata"]["resourceVersion"]) > int(before)
    # The owner index is rebuilt: deleting the owner still cascades to the pod.
    await api.delete(WORKFLOWS, "kept", namespace=ns)
    with pytest.raises(NotFound):
        await api.get(PODS, "p", namespace=ns)


async def test_watch_across_restart(api, ns, backend):
    """History does not survive a restart: watching from an older resourceVersion is Gone,
    while the current one works."""
    if not backend.persistent:
        pytest.skip("backend does not persist")
    first = await api.create(WORKFLOWS, {"metadata": {"name": "w"}, "spec": {}}, namespace=ns)
    await api.patch(WORKFLOWS, "w", {"spec": {"n": 1}}, namespace=ns)
    api = await backend.restart()
    stream = api.watch(WORKFLOWS, namespace=ns, resource_version=first["metadata"]["resourceVersion"])
    with pytest.raises(Gone):
        await stream.__anext__()
    await stream.aclose()
    current = (await api.list(WORKFLOWS, namespace=ns)).resource_version
    async with api.watch(WORKFLOWS, namespace=ns, resource_version=current) as stream:
        await api.patch(WORKFLOWS, "w", {"spec": {"n": 2}}, namespace=ns)
        event = await stream.__anext__()
    assert event.type is EventType.MODIFIED and event.object["spec"] == {"n": 2}
