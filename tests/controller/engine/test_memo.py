"""memoize through the engine, on the embedded API with the simulated kubelet: the cache is a real
ConfigMap the controller creates and reads back through its informer."""
from __future__ import annotations

import json

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound
from tiphys.controller.simkubelet import SimOutcome

CACHE_LABEL = "workflows.argoproj.io/configmap-type"


class Runs:
    """The simulated pods' behaviour: each run reports `out = run-<n>`; `fail` makes them exit 1."""

    def __init__(self, *, fail: bool = False) -> None:
        self.n = 0
        self.fail = fail

    def __call__(self, pod: dict, template: dict) -> SimOutcome:
        self.n += 1
        if self.fail:
            return SimOutcome(exit_code=1, message="boom")
        return SimOutcome(parameters={"out": f"run-{self.n}"})


def memo_wf(name: str, *, key: str = "k-{{inputs.parameters.m}}", m: str = "hello", max_age: str | None = None,
            extra_steps: list | None = None) -> dict:
    memoize = {"key": key, "cache": {"configMap": {"name": "cache"}}}
    if max_age:
        memoize["maxAge"] = max_age
    steps = [[{"name": "s", "template": "leaf", "arguments": {"parameters": [{"name": "m", "value": m}]}}]]
    templates = [{"name": "main", "steps": steps + (extra_steps or [])},
                 {"name": "leaf", "inputs": {"parameters": [{"name": "m"}]}, "memoize": memoize,
                  "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.m}}"]},
                  "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]}},
                 {"name": "plain", "container": {"image": "busybox", "command": ["true"]}}]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"entrypoint": "main", "templates": templates}}


async def _cache(c: FakeCluster) -> dict | None:
    try:
        return await c.api.get(base.CONFIG_MAPS, "cache", namespace=NS)
    except NotFound:
        return None


async def _pods(c: FakeCluster, wf: str) -> list[dict]:
    return [p for p in await c.objects(base.PODS)
            if p["metadata"]["labels"].get("workflows.argoproj.io/workflow") == wf]


async def _run(c: FakeCluster, wf: dict) -> dict:
    await c.submit(wf)
    await c.until(lambda: c.completed(wf["metadata"]["name"]))
    await c.settle()
    return await c.nodes(wf["metadata"]["name"])


async def test_the_second_workflow_with_the_same_key_runs_no_pod_and_gets_the_firsts_outputs():
    runs = Runs()
    async with FakeCluster(behaviour=runs) as c:
        first = await _run(c, memo_wf("a"))
        s = first["a[0].s"]
        assert s.phase == "Succeeded" and s.memoization_status.hit is False
        assert (s.memoization_status.key, s.memoization_status.cache_name) == ("k-hello", "cache")
        cm = await _cache(c)
        assert cm["metadata"]["labels"] == {CACHE_LABEL: "Cache"}
        entry = json.loads(cm["data"]["k-hello"])
        assert set(entry) == {"nodeID", "outputs", "creationTimestamp", "lastHitTimestamp"}
        assert entry["nodeID"] == s.id_ and entry["creationTimestamp"] == entry["lastHitTimestamp"]
        assert {"name": "out", "value": "run-1"} in [
            {k: p[k] for k in ("name", "value")} for p in entry["outputs"]["parameters"]]

        c.clock.advance(30)
        second = await _run(c, memo_wf("b"))
        hit = second["b[0].s"]
        assert await _pods(c, "b") == [] and runs.n == 1
        assert hit.phase == "Succeeded" and hit.type_ == "Pod"
        assert (hit.memoization_status.hit, hit.memoization_status.key) == (True, "k-hello")
        assert hit.outputs.parameters[0].value == "run-1"
        assert (await c.workflow("b"))["status"]["phase"] == "Succeeded"
        touched = json.loads((await _cache(c))["data"]["k-hello"])
        assert touched["nodeID"] == s.id_ and touched["creationTimestamp"] == entry["creationTimestamp"]
        assert touched["lastHitTimestamp"] > entry["lastHitTimestamp"]


async def test_an_entry_older_than_max_age_runs_again_and_is_replaced():
    runs = Runs()
    async with FakeCluster(behaviour=runs) as c:
        await _run(c, memo_wf("a", max_age="10s"))
        c.clock.advance(5)
        await _run(c, memo_wf("b", max_age="10s"))
        assert runs.n == 1  # 5 s old: a hit
        c.clock.advance(20)
        late = await _run(c, memo_wf("c", max_age="10s"))
        assert runs.n == 2 and len(await _pods(c, "c")) == 1
        assert late["c[0].s"].memoization_status.hit is False
        assert late["c[0].s"].outputs.parameters[0].value == "run-2"
        entry = json.loads((await _cache(c))["data"]["k-hello"])
        assert entry["nodeID"] == late["c[0].s"].id_


async def test_two_keys_are_two_entries_in_one_configmap():
    runs = Runs()
    async with FakeCluster(behaviour=runs) as c:
        await _run(c, memo_wf("a", m="one"))
        await _run(c, memo_wf("b", m="two"))
        data = (await _cache(c))["data"]
        assert set(data) == {"k-one", "k-two"} and runs.n == 2
        assert json.loads(data["k-one"])["outputs"]["parameters"][0]["value"] == "run-1"
        assert json.loads(data["k-two"])["outputs"]["parameters"][0]["value"] == "run-2"


async def test_a_failed_node_saves_nothing():
    async with FakeCluster(behaviour=Runs(fail=True)) as c:
        nodes = await _run(c, memo_wf("a"))
        assert nodes["a[0].s"].phase == "Failed" and nodes["a[0].s"].memoization_status.hit is False
        assert await _cache(c) is None


async def test_an_existing_unlabelled_configmap_is_labelled_and_keeps_its_other_keys():
    async with FakeCluster(behaviour=Runs()) as c:
        await c.api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": {"name": "cache", "namespace": NS},
                                              "data": {"other": "x"}}, namespace=NS)
        await _run(c, memo_wf("a"))
        cm = await _cache(c)
        assert cm["metadata"]["labels"] == {CACHE_LABEL: "Cache"}
        assert set(cm["data"]) == {"other", "k-hello"}


async def test_a_bad_key_is_a_node_error_naming_the_field_and_runs_no_pod():
    async with FakeCluster(behaviour=Runs()) as c:
        nodes = await _run(c, memo_wf("a", key="bad key"))
        s = nodes["a[0].s"]
        assert s.phase == "Error" and "templates.leaf.memoize.key" in s.message
        assert await _pods(c, "a") == [] and await _cache(c) is None
        assert (await c.workflow("a"))["status"]["phase"] == "Failed"


async def test_a_save_lost_before_a_restart_is_issued_again_from_status():
    held = {"on": True}
    async with FakeCluster(behaviour=Runs(), hold=lambda pod: held["on"] and "plain" in pod["metadata"]["name"]) as c:
        wf = memo_wf("a", extra_steps=[[{"name": "wait", "template": "plain"}]])
        await c.submit(wf)

        async def saved() -> bool:  # the entry is made and the status records the node's success
            node = (await c.nodes("a")).get("a[0].s")
            return await _cache(c) is not None and len(await _pods(c, "a")) == 2 and node is not None \
                and node.phase == "Succeeded" and node.task_result_synced is not False

        await c.until(saved)
        await c.stop_controller()
        await c.api.delete(base.CONFIG_MAPS, "cache", namespace=NS)  # as if the save never happened
        await c.start_controller()
        await c.until(lambda: _has_entry(c))
        node = (await c.nodes("a"))["a[0].s"]
        assert json.loads((await _cache(c))["data"]["k-hello"])["nodeID"] == node.id_
        held["on"] = False
        pod = next(p for p in await _pods(c, "a") if "plain" in p["metadata"]["name"])
        await c.kubelet._run(pod)
        await c.until(lambda: c.completed("a"))


async def _has_entry(c: FakeCluster) -> bool:
    cm = await _cache(c)
    return cm is not None and "k-hello" in (cm.get("data") or {})


async def test_argos_memoize_simple_example_runs_its_pod_once_then_hits_within_max_age():
    import pytest

    from tests.conftest import SHARED_ARGO
    from tiphys.core.spec import load_text

    path = SHARED_ARGO / "examples" / "memoize-simple.yaml"
    if not path.exists():
        pytest.skip(f"Argo's examples are not at {path.parent} (../shared/argo beside the repo)")
    (doc,) = [d for d in load_text(path.read_bytes(), source=str(path)) if d.kind == "Workflow"]
    runs = Runs()
    async with FakeCluster(behaviour=runs) as c:
        for name in ("memoized-1", "memoized-2"):
            wf = {**doc.body, "metadata": {"name": name}}
            nodes = await _run(c, wf)
            assert (await c.workflow(name))["status"]["phase"] == "Succeeded"
            c.clock.advance(2)  # well within its maxAge of 10s
        assert runs.n == 1
        assert nodes["memoized-2"].memoization_status.hit is True
        assert nodes["memoized-2"].outputs.parameters[0].value == "run-1"
        entry = json.loads((await _cache_named(c, "cache-config"))["data"]["cache-key"])
        assert entry["nodeID"] == "memoized-1"


async def _cache_named(c: FakeCluster, name: str) -> dict:
    return await c.api.get(base.CONFIG_MAPS, name, namespace=NS)
