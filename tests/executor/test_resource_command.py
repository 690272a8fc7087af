"""`run_resource` against the embedded API (through the node agent's adapter): actions, flags,
waiting on conditions, outputs and the task results, with no pod and no clock."""
from __future__ import annotations

import asyncio
import json

import pytest

from tiphys.controller.api import CONFIG_MAPS, PODS, WORKFLOWS, EmbeddedApi
from tiphys.controller.nodeagent.resourcepod import ApiKubeClient
from tiphys.executor.resource import ResourceError, ResourceSettings, parse_flags, run_resource
from tiphys.executor.resource.actions import LAST_APPLIED

SETTINGS = ResourceSettings(node_id="wf-123", workflow_name="wf", workflow_uid="uid-wf", namespace="ns",
                            poll_interval=1.0)
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n"


class Run:
    def __init__(self) -> None:
        self.api = EmbeddedApi()
        self.results: list[dict] = []
        self.logs: list[str] = []
        self.sleeps = 0
        self.on_sleep = None

    async def sink(self, obj: dict) -> None:
        self.results.append(json.loads(json.dumps(obj)))

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.on_sleep is not None:
            await self.on_sleep(self.sleeps)
        if self.sleeps > 50:
            raise AssertionError("still waiting after 50 polls")

    async def __call__(self, action: str, resource: dict, *, outputs: list | None = None, files: dict | None = None,
                       inputs: dict | None = None):
        template = {"name": "t", "resource": {"action": action, **resource}}
        if outputs:
            template["outputs"] = {"parameters": outputs}
        if inputs:
            template["inputs"] = inputs
        return await run_resource(template, action, ApiKubeClient(self.api), SETTINGS, sink=self.sink,
                                  sleep=self.sleep, log=self.logs.append,
                                  read_file=lambda p: (files or {})[p].encode())


@pytest.fixture
def run() -> Run:
    return Run()


def go(coro):
    return asyncio.run(coro)


def test_create_with_generate_name_reports_outputs_in_two_task_results(run):
    """completed=false first, then the outputs with completed=true, as Argo's executor."""
    async def body():
        out = await run("create", {"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: g-\n"},
                        outputs=[{"name": "n", "valueFrom": {"jsonPath": "{.metadata.name}"}},
                                 {"name": "ns", "valueFrom": {"jsonPath": "{.metadata.namespace}"}}])
        assert out.exit_code == 0, out.message
        items = (await run.api.list(CONFIG_MAPS, namespace="ns")).items
        assert len(items) == 1 and items[0]["metadata"]["name"].startswith("g-")
        assert out.resource == f"configmap/{items[0]['metadata']['name']}"
        labels = [r["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] for r in run.results]
        assert labels == ["false", "true"]
        assert [r["metadata"]["name"] for r in run.results] == ["wf-123", "wf-123"]
        params = run.results[-1]["outputs"]["parameters"]
        assert [(p["name"], p["value"]) for p in params] == [("n", items[0]["metadata"]["name"]), ("ns", "ns")]
    go(body())


def test_create_existing_fails_with_kubectl_message(run):
    async def body():
        await run.api.create(CONFIG_MAPS, {"metadata": {"name": "a"}}, namespace="ns")
        out = await run("create", {"manifest": CM.format(name="a", value="v")})
        assert out.exit_code == 64
        assert out.message.startswith("no more retries Error from server (AlreadyExists): ")
        assert run.results[-1]["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    go(body())


def test_get_missing_fails_unless_ignore_not_found_then_defaults(run):
    async def body():
        out = await run("get", {"manifest": CM.format(name="nope", value="v")})
        assert out.exit_code == 64 and "(NotFound)" in out.message
        out = await run("get", {"flags": ["configmap", "nope", "--ignore-not-found"]},
                        outputs=[{"name": "p", "valueFrom": {"jsonPath": "{.data.k}", "default": "dflt"}}])
        assert out.exit_code == 0, out.message
        assert run.results[-1]["outputs"]["parameters"][0]["value"] == "dflt"
    go(body())


def test_apply_creates_then_three_way_merges(run):
    """A second apply changes a value and drops the key the manifest no longer has, but keeps a
    key someone else added; the last applied manifest is recorded."""
    async def body():
        first = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: one\n  gone: x\n"
        assert (await run("apply", {"manifest": first})).exit_code == 0
        live = await run.api.get(CONFIG_MAPS, "a", namespace="ns")
        live["data"]["theirs"] = "kept"
        await run.api.update(CONFIG_MAPS, live, namespace="ns")
        out = await run("apply", {"manifest": CM.format(name="a", value="two")})
        assert out.exit_code == 0, out.message
        live = await run.api.get(CONFIG_MAPS, "a", namespace="ns")
        assert live["data"] == {"k": "two", "theirs": "kept"}
        assert json.loads(live["metadata"]["annotations"][LAST_APPLIED])["data"] == {"k": "two"}
    go(body())


def test_replace_uses_the_live_resource_version_also_for_custom_resources(run):
    async def body():
        await run.api.create(WORKFLOWS, {"metadata": {"name": "w"}, "spec": {"entrypoint": "a"}}, namespace="ns")
        out = await run("replace", {"manifest": "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
                                                "metadata:\n  name: w\nspec:\n  entrypoint: b\n"})
        assert out.exit_code == 0, out.message
        assert (await run.api.get(WORKFLOWS, "w", namespace="ns"))["spec"]["entrypoint"] == "b"
    go(body())


@pytest.mark.parametrize("strategy, flags, manifest, expect", [
    ("merge", ["configmap", "a"], "data:\n  k: merged\n", {"k": "merged"}),
    ("json", ["configmap/a"], "- op: replace\n  path: /data/k\n  value: json\n", {"k": "json"}),
    ("", [], CM.format(name="a", value="strategic"), {"k": "strategic"}),
])
def test_patch_strategies(run, strategy, flags, manifest, expect):
    async def body():
        await run.api.create(CONFIG_MAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}}, namespace="ns")
        res = {"manifest": manifest, "flags": flags}
        if strategy:
            res["mergeStrategy"] = strategy
        out = await run("patch", res)
        assert out.exit_code == 0, out.message
        assert (await run.api.get(CONFIG_MAPS, "a", namespace="ns"))["data"] == expect
    go(body())


def test_strategic_patch_of_a_custom_resource_is_refused_as_by_the_apiserver(run):
    async def body():
        await run.api.create(WORKFLOWS, {"metadata": {"name": "w"}, "spec": {}}, namespace="ns")
        out = await run("patch", {"flags": ["wf", "w"], "manifest": "spec:\n  entrypoint: x\n"})
        assert out.exit_code == 64 and "(UnsupportedMediaType)" in out.message
    go(body())


def test_delete_by_name_and_missing_is_fine(run):
    async def body():
        await run.api.create(CONFIG_MAPS, {"metadata": {"name": "a"}}, namespace="ns")
        out = await run("delete", {"manifest": CM.format(name="a", value="v")},
                        outputs=[{"name": "p", "valueFrom": {"jsonPath": "{.metadata.name}"}}])
        assert out.exit_code == 0, out.message
        assert (await run.api.list(CONFIG_MAPS, namespace="ns")).items == []
        assert run.results[-1]["outputs"]["parameters"][0]["value"] == ""  # Argo: no object, no value
        assert (await run("delete", {"flags": ["cm", "a", "b"]})).exit_code == 0
    go(body())


def test_wait_polls_until_success_and_fails_when_the_object_vanishes(run):
    async def body():
        await run.api.create(CONFIG_MAPS, {"metadata": {"name": "a"}, "data": {"k": "0"}}, namespace="ns")

        async def bump(n: int) -> None:
            cm = await run.api.get(CONFIG_MAPS, "a", namespace="ns")
            cm["data"]["k"] = str(n)
            await run.api.update(CONFIG_MAPS, cm, namespace="ns")
        run.on_sleep = bump
        out = await run("get", {"manifest": CM.format(name="a", value="v"), "successCondition": "data.k > 2"})
        assert out.exit_code == 0 and run.sleeps == 3

        async def vanish(n: int) -> None:
            await run.api.delete(CONFIG_MAPS, "a", namespace="ns")
        run.on_sleep = vanish
        out = await run("get", {"manifest": CM.format(name="a", value="v"), "successCondition": "data.k > 99"})
        assert out.exit_code == 64
        assert out.message.startswith("The resource has been deleted while its status was still being checked")
    go(body())


def test_manifest_from_artifact_gets_the_workflow_as_owner(run):
    async def body():
        inputs = {"artifacts": [{"name": "m", "path": "/tmp/m.yaml"}]}
        out = await run("create", {"manifestFrom": {"artifact": {"name": "m"}}, "setOwnerReference": True},
                        inputs=inputs, files={"/tmp/m.yaml": CM.format(name="fromart", value="v")})
        assert out.exit_code == 0, out.message
        cm = await run.api.get(CONFIG_MAPS, "fromart", namespace="ns")
        assert [(o["name"], o["uid"], o["controller"]) for o in cm["metadata"]["ownerReferences"]] == \
            [("wf", "uid-wf", True)]
        out = await run("create", {"manifestFrom": {"artifact": {"name": "other"}}}, inputs=inputs)
        assert out.exit_code == 64 and "$.resource.manifestFrom.artifact.name" in out.message
    go(body())


def test_namespace_flag_must_agree_with_the_manifest(run):
    async def body():
        manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: other\n"
        out = await run("create", {"manifest": manifest, "flags": ["-n", "third"]})
        assert out.exit_code == 64 and "does not match the namespace" in out.message
        out = await run("create", {"manifest": manifest, "flags": ["--namespace=other", "--validate=false"]})
        assert out.exit_code == 0, out.message
        assert (await run.api.get(CONFIG_MAPS, "a", namespace="other"))["metadata"]["name"] == "a"
    go(body())


def test_pods_are_patched_through_the_known_pods_resource(run):
    async def body():
        await run.api.create(PODS, {"metadata": {"name": "p"}, "spec": {"containers": []}}, namespace="ns")
        out = await run("patch", {"flags": ["po", "p"], "mergeStrategy": "merge",
                                  "manifest": "metadata:\n  annotations:\n    foo: bar\n"})
        assert out.exit_code == 0, out.message
        assert (await run.api.get(PODS, "p", namespace="ns"))["metadata"]["annotations"] == {"foo": "bar"}
    go(body())


@pytest.mark.parametrize("flags, action, where", [
    (["--dry-run=client"], "create", "$.resource.flags[0]"),
    (["-o", "yaml"], "get", "$.resource.flags[0]"),
    (["pod", "--wait=maybe"], "delete", "$.resource.flags[1]"),
    (["--selector"], "delete", "$.resource.flags[0]"),
    (["--wait"], "create", "$.resource.flags[0]"),
    (["--grace-period", "soon"], "delete", "$.resource.flags[0]"),
])
def test_unsupported_or_bad_flags_are_refused_by_name(flags, action, where):
    with pytest.raises(ResourceError) as err:
        parse_flags(flags, action)
    assert err.value.where == where


def test_flags_parse():
    f = parse_flags(["configmap", "--selector", "cleanup=true", "--cascade=foreground", "--wait=false", "--now"],
                    "delete")
    assert (f.args, f.selector, f.propagation, f.wait, f.grace_period) == \
        (("configmap",), "cleanup=true", "Foreground", False, 1)


def test_jq_filter(run):
    jq = pytest.importorskip("jq")
    assert jq

    async def body():
        await run.api.create(CONFIG_MAPS, {"metadata": {"name": "a"}, "data": {"k": "v", "n": "1"}}, namespace="ns")
        out = await run("get", {"manifest": CM.format(name="a", value="v")},
                        outputs=[{"name": "raw", "valueFrom": {"jqFilter": ".data.k"}},
                                 {"name": "obj", "valueFrom": {"jqFilter": ".data"}},
                                 {"name": "bad", "valueFrom": {"jqFilter": ".[[["}}])
        assert out.exit_code == 64 and "$.outputs.parameters[2].valueFrom.jqFilter" in out.message
        out = await run("get", {"manifest": CM.format(name="a", value="v")},
                        outputs=[{"name": "raw", "valueFrom": {"jqFilter": ".data.k"}},
                                 {"name": "obj", "valueFrom": {"jqFilter": ".data"}}])
        values = [p["value"] for p in run.results[-1]["outputs"]["parameters"]]
        assert values == ["v", '{"k":"v","n":"1"}']
    go(body())


def test_custom_kinds_are_known_once_their_crd_exists(run):
    """The adapter reads CustomResourceDefinitions for kinds outside the built-in table: a Route is
    `no matches for kind` until its CRD is created, then create, `get routes NAME` and delete work."""
    from tiphys.controller.nodeagent.resourcepod import CUSTOM_RESOURCE_DEFINITIONS
    route = "apiVersion: route.openshift.io/v1\nkind: Route\nmetadata:\n  name: r\nspec:\n  host: h\n"

    async def body():
        out = await run("create", {"manifest": route})
        assert out.exit_code == 64
        assert 'no matches for kind "Route" in version "route.openshift.io/v1"' in out.message
        assert "$.resource.manifest.kind" in out.message
        await run.api.create(CUSTOM_RESOURCE_DEFINITIONS, {
            "metadata": {"name": "routes.route.openshift.io"},
            "spec": {"group": "route.openshift.io", "scope": "Namespaced",
                     "names": {"kind": "Route", "plural": "routes", "singular": "route", "shortNames": ["rt"]},
                     "versions": [{"name": "v1", "served": True, "storage": True}]}})
        out = await run("create", {"manifest": route})
        assert (out.exit_code, out.resource) == (0, "route.route.openshift.io/r")
        out = await run("get", {"flags": ["rt", "r"]}, outputs=[{"name": "h", "valueFrom": {"jsonPath": "{.spec.host}"}}])
        assert out.exit_code == 0 and run.results[-1]["outputs"]["parameters"][0]["value"] == "h"
        assert (await run("delete", {"flags": ["routes.route.openshift.io/r"]})).exit_code == 0
        out = await run("get", {"flags": ["route", "r"]})
        assert out.exit_code == 64 and "(NotFound)" in out.message
    go(body())
