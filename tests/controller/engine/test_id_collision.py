"""Two node names with the same 32-bit hash (about one chance in four at 50,000 nodes).

Argo fails such a workflow ("node ... already initialized"); tiphys gives the later name a salted
hash (core/status/ids.py) in its ID and pod name, and finds it again after a restart."""
from __future__ import annotations

import asyncio

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.controller.local import LocalSession, wait_completed
from tiphys.controller.simkubelet import SimKubelet
from tiphys.controller.status_writer import StatusWriter
from tiphys.core.status import ids

# Found by search: fnv1a32 of these two loop children's names is the same (1162344842).
FIRST, SECOND = "coll[0].fan(0:146459)", "coll[0].fan(1:45720)"
WF = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "coll", "namespace": "default"},
      "spec": {"entrypoint": "main", "templates": [
          {"name": "main", "steps": [
              [{"name": "fan", "template": "echo", "withItems": ["146459", "45720"],
                "arguments": {"parameters": [{"name": "m", "value": "{{item}}"}]}}],
              [{"name": "join", "template": "echo", "arguments": {"parameters": [
                  {"name": "m", "value": "{{steps.fan.outputs.parameters}}"}]}}]]},
          {"name": "echo", "inputs": {"parameters": [{"name": "m"}]},
           "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.m}}"]},
           "outputs": {"parameters": [{"name": "out", "value": "{{inputs.parameters.m}}"}]}}]}}


def _check(final: dict, pods: list[dict]) -> None:
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    nodes = StatusWriter().read_nodes(final["status"])
    by_name = {n.name: n for n in nodes.values()}
    assert by_name[FIRST].id_ == ids.node_id("coll", FIRST)  # the first keeps Argo's ID
    salted = ids.node_id("coll", SECOND, salt=1)
    assert by_name[SECOND].id_ == salted != by_name[FIRST].id_
    assert by_name[SECOND].inputs.parameters[0].value == "45720"
    assert by_name[FIRST].phase == by_name[SECOND].phase == "Succeeded"
    names = sorted(p["metadata"]["name"] for p in pods)
    assert len(names) == len(set(names)) == 3  # fan x2 + join, none shared
    salted_pod = ids.pod_name("coll", SECOND, "echo", salt=1)
    assert salted_pod in names and ids.pod_name("coll", FIRST, "echo") in names
    join = by_name["coll[1].join"]
    assert join.inputs.parameters[0].value == '[{"out":"146459"},{"out":"45720"}]'


def test_names_with_one_hash_get_two_nodes_and_two_pods():
    assert ids.fnv1a32(FIRST) == ids.fnv1a32(SECOND)

    async def go():
        async with LocalSession() as session:
            final = await session.run(WF, timeout=60)
            pods = (await session.api.list(base.PODS, namespace="default")).items
            return final, pods

    _check(*asyncio.run(go()))


def test_a_restart_finds_the_salted_node_again(tmp_path):
    """The controller stops after the first reconcile (both fan pods exist, none ran); a new one
    on the persisted store adopts both nodes and creates no third pod."""
    path = tmp_path / "state.db"

    async def life(run_kubelet: bool) -> tuple[dict, list[dict]] | None:
        clock = RealClock()
        store = EmbeddedApi(path=path, clock=clock)
        engine = Engine(store, clock=clock, workers=2, status_interval=0.0)
        kubelet = SimKubelet(store, clock=clock) if run_kubelet else None
        await engine.start()
        try:
            if not run_kubelet:
                await store.create(base.WORKFLOWS, WF, namespace="default")
                for _ in range(200):  # until both fan pods are created and the status written
                    pods = (await store.list(base.PODS, namespace="default")).items
                    wf = await store.get(base.WORKFLOWS, "coll", namespace="default")
                    if len(pods) == 2 and len(StatusWriter().read_nodes(wf.get("status") or {})) >= 4:
                        return None
                    await asyncio.sleep(0.05)
                raise AssertionError("the fan pods were not created")
            await kubelet.start()
            final = await wait_completed(store, "coll", "default", timeout=60)
            return final, (await store.list(base.PODS, namespace="default")).items
        finally:
            await engine.stop()
            if kubelet is not None:
                await kubelet.stop()
            await store.close()

    asyncio.run(life(False))
    _check(*asyncio.run(life(True)))
