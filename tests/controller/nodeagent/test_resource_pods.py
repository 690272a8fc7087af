"""Resource templates end to end: controller engine, node agent playing `argoexec resource`, embedded API."""
from __future__ import annotations

import asyncio

import pytest

from tiphys.controller.api import CONFIG_MAPS, PODS, WORKFLOWS
from tiphys.controller.local import wait_completed

pytest.importorskip("tiphys.controller.engine", reason="the controller engine is not there yet")
from tiphys.controller.engine import Engine  # noqa: E402


def _wf(name: str, templates: list[dict], entry: str = "main") -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"entrypoint": entry, "templates": templates}}


async def _run(h, wf: dict, *, during=None, timeout: float = 60) -> dict:
    engine = Engine(h.api, clock=h.clock, workers=2)
    await engine.start()
    try:
        await h.api.create(WORKFLOWS, wf, namespace="default")
        side = asyncio.ensure_future(during()) if during else None
        final = await wait_completed(h.api, wf["metadata"]["name"], "default", timeout=timeout)
        if side is not None:
            await side
        return final
    finally:
        await engine.stop()


def _node(wf: dict, template: str) -> dict:
    return next(n for n in wf["status"]["nodes"].values() if n.get("templateName") == template)


CREATE_CM = {"name": "make", "resource": {
    "action": "create", "setOwnerReference": True,
    "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: made-\n  labels: {cleanup: 'true'}\n"
                "data:\n  colour: blue\n"},
    "outputs": {"parameters": [
        {"name": "name", "valueFrom": {"jsonPath": "{.metadata.name}"}},
        {"name": "colour", "valueFrom": {"jqFilter": ".data.colour"}},
        {"name": "missing", "valueFrom": {"jsonPath": "{.data.nope}", "default": "unused"}}]}}


async def test_create_outputs_and_owner_reach_the_next_step(harness):
    """create with generateName: the ConfigMap exists, is owned by the Workflow, and its name and
    colour (jsonPath, jqFilter) arrive as the step's outputs before the next step starts."""
    pytest.importorskip("jq")
    wf = _wf("res-create", [
        {"name": "main", "steps": [[{"name": "make", "template": "make"}],
                                   [{"name": "show", "template": "show", "arguments": {"parameters": [
                                       {"name": "v", "value": "{{steps.make.outputs.parameters.name}}="
                                                              "{{steps.make.outputs.parameters.colour}}"}]}}]]},
        CREATE_CM,
        {"name": "show", "inputs": {"parameters": [{"name": "v"}]},
         "container": {"image": "argoproj/argosay:v2", "args": ["echo", "{{inputs.parameters.v}}"]}}])
    async with harness(resource_poll_interval=0.05) as h:
        final = await _run(h, wf)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        cms = [c for c in (await h.api.list(CONFIG_MAPS, namespace="default")).items
               if c["metadata"]["name"].startswith("made-")]
        assert len(cms) == 1
        cm = cms[0]
        owners = cm["metadata"]["ownerReferences"]
        assert [(o["kind"], o["name"], o["uid"], o.get("controller")) for o in owners] == \
            [("Workflow", "res-create", final["metadata"]["uid"], True)]
        params = {p["name"]: p["value"] for p in _node(final, "make")["outputs"]["parameters"]}
        assert params == {"name": cm["metadata"]["name"], "colour": "blue", "missing": ""}
        assert h.log(await _pod_of(h, _node(final, "show")), "main").strip() == f"{cm['metadata']['name']}=blue"


async def _pod_of(h, node: dict) -> str:
    pods = (await h.api.list(PODS, namespace="default")).items
    return next(p["metadata"]["name"] for p in pods
                if p["metadata"]["annotations"].get("workflows.argoproj.io/node-id") == node["id"])


async def test_patch_of_its_own_pod_json_and_strategic(harness):
    """Argo's k8s-patch examples: a json patch through TYPE NAME flags, and the default strategic
    patch from a Pod manifest (sent as a merge patch to the embedded store), both on the own pod."""
    wf = _wf("res-patch", [
        {"name": "main", "steps": [[{"name": "j", "template": "j"}], [{"name": "s", "template": "s"}]]},
        {"name": "j", "resource": {"action": "patch", "mergeStrategy": "json", "flags": ["pod", "{{pod.name}}"],
                                   "manifest": "- op: add\n  path: /metadata/annotations/foo\n  value: bar\n"}},
        {"name": "s", "resource": {"action": "patch", "manifest":
                                   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: '{{pod.name}}'\n"
                                   "  annotations:\n    baz: qux\n"}}])
    async with harness(resource_poll_interval=0.05) as h:
        final = await _run(h, wf)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        pods = {p["metadata"]["annotations"]["workflows.argoproj.io/node-name"]: p
                for p in (await h.api.list(PODS, namespace="default")).items}
        assert pods["res-patch[0].j"]["metadata"]["annotations"]["foo"] == "bar"
        assert pods["res-patch[1].s"]["metadata"]["annotations"]["baz"] == "qux"
        assert "foo" not in pods["res-patch[1].s"]["metadata"]["annotations"]


def _get_with(success: str, failure: str) -> dict:
    return {"name": "watch", "resource": {
        "action": "get", "successCondition": success, "failureCondition": failure,
        "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: state\n"}}


async def _set_state_later(h, value: str) -> None:
    await asyncio.sleep(0.5)
    cm = await h.api.get(CONFIG_MAPS, "state", namespace="default")
    cm["data"] = {"state": value, "count": "3"}
    await h.api.update(CONFIG_MAPS, cm, namespace="default")


@pytest.mark.parametrize("value, phase", [("done", "Succeeded"), ("bad", "Failed")])
async def test_get_waits_for_a_condition(harness, value, phase):
    """The node stays Running until the object changes; then success or failure decides it."""
    wf = _wf("res-wait", [_get_with("data.state == done,data.count > 2", "data.state in (bad, worse)")], "watch")
    async with harness(resource_poll_interval=0.05) as h:
        await h.api.create(CONFIG_MAPS, {"metadata": {"name": "state"}, "data": {"state": "running"}},
                           namespace="default")
        final = await _run(h, wf, during=lambda: _set_state_later(h, value))
        node = _node(final, "watch")
        assert node["phase"] == phase
        if phase == "Failed":
            assert node["message"] == ("main: Error (exit code 64): "
                                       "failure condition 'data.state in (bad,worse)' evaluated true")


@pytest.mark.parametrize("manifest, message", [
    ("apiVersion: route.openshift.io/v1\nkind: Route\nmetadata:\n  name: r\n",
     'no matches for kind "Route" in version "route.openshift.io/v1"'),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "(set metadata.name or metadata.generateName) - at '$.resource.manifest.metadata.name'"),
    ("- just\n- a list\n", "the manifest must be an object (mapping), got list - at '$.resource.manifest'"),
    ("a: [unclosed\n", "the manifest is not YAML"),
], ids=["unknown-kind", "no-name", "not-object", "not-yaml"])
async def test_bad_manifest_fails_the_node_naming_the_field(harness, manifest, message):
    wf = _wf("res-bad", [{"name": "bad", "resource": {"action": "create", "manifest": manifest}}], "bad")
    async with harness(resource_poll_interval=0.05) as h:
        final = await _run(h, wf)
        node = _node(final, "bad")
        assert node["phase"] == "Failed"
        assert node["message"].startswith("main: Error (exit code 64): ")
        assert message in node["message"]


async def test_delete_by_selector_waits_until_gone(harness):
    """resource-delete-with-flags.yaml: `delete configmap --selector cleanup=true` removes only the
    labelled ConfigMaps; a later get of one of them fails with kubectl's NotFound message."""
    wf = _wf("res-del", [
        {"name": "main", "steps": [[{"name": "del", "template": "del"}]]},
        {"name": "del", "resource": {"action": "delete", "flags": ["configmap", "--selector", "cleanup=true"]}}])
    async with harness(resource_poll_interval=0.05) as h:
        for name, labels in (("a", {"cleanup": "true"}), ("b", {"cleanup": "true"}), ("keep", {})):
            await h.api.create(CONFIG_MAPS, {"metadata": {"name": name, "labels": labels}}, namespace="default")
        final = await _run(h, wf)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        left = sorted(c["metadata"]["name"] for c in (await h.api.list(CONFIG_MAPS, namespace="default")).items)
        assert "a" not in left and "b" not in left and "keep" in left


async def test_archived_logs_of_a_resource_pod(harness, tmp_path):
    """With `archiveLogs` a resource pod has a `wait` container: it sees main's exit code (written
    by the agent for the in-process main) and archives main's log as `main-logs`."""
    from tiphys.controller.nodeagent import ImageMap
    store = tmp_path / "agent" / "artifacts"  # under the agent's root: visible from private mount namespaces
    wf = _wf("res-logs", [{"name": "make", "archiveLocation": {"archiveLogs": True}, "resource": {
        "action": "create", "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: logged\n"}}], "make")
    async with harness(resource_poll_interval=0.05, images=ImageMap(executor_env={"TIPHYS_ARTIFACT_DIR": str(store)})) as h:
        final = await _run(h, wf)
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        arts = _node(final, "make")["outputs"]["artifacts"]
        assert [a["name"] for a in arts] == ["main-logs"]
        logs = list(store.rglob("main.log"))
        assert len(logs) == 1 and "configmap/logged created" in logs[0].read_text()
