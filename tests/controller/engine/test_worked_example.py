"""The worked example of argo-semantics §4.2, node by node: names, types, IDs and pod names."""
from __future__ import annotations

from tests.controller.engine.conftest import node_name_of
from tiphys.controller.simkubelet import SimOutcome

WF = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
    "metadata": {"name": "demo-x7k2p"},
    "spec": {
        "entrypoint": "main", "onExit": "notify",
        "templates": [
            {"name": "main", "steps": [
                [{"name": "prep", "template": "echo"}],
                [{"name": "fan", "template": "echo", "withItems": ["a", "b"]},
                 {"name": "check", "template": "flaky"}]]},
            {"name": "echo", "container": {"image": "busybox", "command": ["echo"]}},
            {"name": "flaky", "retryStrategy": {"limit": 2}, "container": {"image": "busybox", "command": ["sh"]}},
            {"name": "notify", "container": {"image": "busybox", "command": ["echo"]}},
        ]},
}

# Argo's table (§4.2): node name -> (type, node ID, pod name)
EXPECTED = {
    "demo-x7k2p": ("Steps", "demo-x7k2p", None),
    "demo-x7k2p[0]": ("StepGroup", "demo-x7k2p-3203355795", None),
    "demo-x7k2p[0].prep": ("Pod", "demo-x7k2p-4245076944", "demo-x7k2p-echo-4245076944"),
    "demo-x7k2p[1]": ("StepGroup", "demo-x7k2p-49413686", None),
    "demo-x7k2p[1].fan(0:a)": ("Pod", "demo-x7k2p-3679170335", "demo-x7k2p-echo-3679170335"),
    "demo-x7k2p[1].fan(1:b)": ("Pod", "demo-x7k2p-2915327789", "demo-x7k2p-echo-2915327789"),
    "demo-x7k2p[1].check": ("Retry", "demo-x7k2p-1599977072", None),
    "demo-x7k2p[1].check(0)": ("Pod", "demo-x7k2p-2474289683", "demo-x7k2p-flaky-2474289683"),
    "demo-x7k2p[1].check(1)": ("Pod", "demo-x7k2p-3078431062", "demo-x7k2p-flaky-3078431062"),
    "demo-x7k2p.onExit": ("Pod", "demo-x7k2p-1468038654", "demo-x7k2p-notify-1468038654"),
}


def flaky_once(pod: dict, template: dict) -> SimOutcome:
    """check(0) fails with exit 1; everything else succeeds."""
    return SimOutcome(exit_code=1) if node_name_of(pod).endswith("check(0)") else SimOutcome()


def test_worked_example_node_for_node(run):
    """Every node of Argo's worked example exists with Argo's type and ID, and no other node does."""
    final, nodes = run(WF, behaviour=flaky_once)
    assert final["status"]["phase"] == "Succeeded"
    assert set(nodes) == set(EXPECTED)
    for name, (node_type, node_id, _) in EXPECTED.items():
        assert (nodes[name].type_, nodes[name].id_) == (node_type, node_id), name


def test_worked_example_pod_names(run):
    """Pods get Argo's v2 names: <wf>-<template>-<fnv32a(node name)>."""
    created = []

    def record(pod: dict, template: dict) -> SimOutcome:
        created.append((node_name_of(pod), pod["metadata"]["name"]))
        return flaky_once(pod, template)

    run(WF, behaviour=record)
    expected = {name: pod for name, (_, _, pod) in EXPECTED.items() if pod}
    assert dict(created) == expected


def test_worked_example_tree(run):
    """Phases, boundaries, display names and children follow §4.5."""
    _, nodes = run(WF, behaviour=flaky_once)
    ids = {n: nodes[n].id_ for n in nodes}
    root = nodes["demo-x7k2p"]
    assert root.children == [ids["demo-x7k2p[0]"]]
    assert nodes["demo-x7k2p[0]"].children == [ids["demo-x7k2p[0].prep"]]
    assert nodes["demo-x7k2p[0].prep"].children == [ids["demo-x7k2p[1]"]]
    assert nodes["demo-x7k2p[1]"].children == [ids["demo-x7k2p[1].fan(0:a)"], ids["demo-x7k2p[1].fan(1:b)"],
                                               ids["demo-x7k2p[1].check"]]
    assert nodes["demo-x7k2p[1].check"].children == [ids["demo-x7k2p[1].check(0)"], ids["demo-x7k2p[1].check(1)"]]
    assert nodes["demo-x7k2p[1].check(0)"].phase == "Failed"
    assert nodes["demo-x7k2p[1].check"].phase == "Succeeded"
    assert root.outbound_nodes == [ids["demo-x7k2p[1].fan(0:a)"], ids["demo-x7k2p[1].fan(1:b)"],
                                   ids["demo-x7k2p[1].check(1)"]]
    for name in ("demo-x7k2p[0]", "demo-x7k2p[0].prep", "demo-x7k2p[1].check", "demo-x7k2p[1].check(1)"):
        assert nodes[name].boundary_id == "demo-x7k2p", name
    assert nodes["demo-x7k2p.onExit"].boundary_id is None
    assert nodes["demo-x7k2p.onExit"].node_flag.hooked is True
    assert nodes["demo-x7k2p[1].check(1)"].node_flag.retried is True
    display = {n: nodes[n].display_name for n in nodes}
    assert display["demo-x7k2p[0]"] == "[0]"
    assert display["demo-x7k2p[1].fan(0:a)"] == "fan(0:a)"
    assert display["demo-x7k2p[1].check(0)"] == "check(0)"
    assert display["demo-x7k2p.onExit"] == "demo-x7k2p.onExit"
