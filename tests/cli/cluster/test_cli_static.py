"""The cluster commands against workflow objects with hand-written status (no controller in the namespace):
what the CLI itself writes (retry's new status, node-level resume/stop), compressed status, logs through
the apiserver's pod-log proxy (to a fake kubelet, and to a node that does not exist), and errors.

Every `python -m tiphys.cli` call asserts its exit status (0 ok, 1 failure, 2 usage).
"""
from __future__ import annotations

import json
import re

import pytest

from tests.cli.cluster._exit_status import ok
from tiphys.core.spec import NodeStatus
from tiphys.core.status import ids
from tiphys.core.status.codec import NodeCodec

pytestmark = pytest.mark.cluster

WF_API = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"


def node(wf: str, name: str, type_: str, phase: str, *, parent: str | None = None, children=(),
         template: str = "echo", started: str = "2026-01-01T00:00:00Z", finished: str | None = "2026-01-01T00:00:05Z"):
    full = wf if name == wf else f"{wf}.{name}"
    n = {"id": ids.node_id(wf, full), "name": full, "displayName": name, "type": type_, "phase": phase,
         "templateName": template, "startedAt": started, "children": [ids.node_id(wf, f"{wf}.{c}") for c in children]}
    if parent is not None:
        n["boundaryID"] = ids.node_id(wf, wf)
    if finished and phase not in ("Running", "Pending"):
        n["finishedAt"] = finished
    return n


def steps_nodes(wf: str, *, b_phase: str = "Succeeded", root_phase: str = "Succeeded") -> dict:
    """root (Steps) -> [0] -> a (Pod) -> [1] -> b (Pod), as Argo records two sequential steps."""
    nodes = [node(wf, wf, "Steps", root_phase, children=["[0]"], template="main"),
             node(wf, "[0]", "StepGroup", "Succeeded", parent=wf, children=["[0].a"], template="main"),
             node(wf, "[0].a", "Pod", "Succeeded", parent=wf, children=["[1]"]),
             node(wf, "[1]", "StepGroup", b_phase, parent=wf, children=["[1].b"], template="main"),
             node(wf, "[1].b", "Pod", b_phase, parent=wf)]
    for n in nodes:
        n["displayName"] = n["displayName"].rsplit(".", 1)[-1]
    return {n["id"]: n for n in nodes}


def make_wf(cluster, ns: str, name: str, nodes: dict, *, phase: str, compressed: bool = False,
            spec_extra: dict | None = None) -> dict:
    status: dict = {"phase": phase, "startedAt": "2026-01-01T00:00:00Z"}
    if phase not in ("Running", "Pending"):
        status["finishedAt"] = "2026-01-01T00:00:10Z"
    if compressed:
        codec = NodeCodec(NodeStatus)
        status["compressedNodes"] = codec.compress({k: codec_struct(v) for k, v in nodes.items()})
    else:
        status["nodes"] = nodes
    labels = {"workflows.argoproj.io/phase": phase}
    if phase not in ("Running", "Pending"):
        labels["workflows.argoproj.io/completed"] = "true"
    body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "labels": labels},
            "spec": {"entrypoint": "main", **(spec_extra or {}), "templates": [
                {"name": "main", "steps": [[{"name": "a", "template": "echo"}], [{"name": "b", "template": "echo"}]]},
                {"name": "echo", "container": {"image": "busybox", "command": ["echo", "hi"]}}]},
            "status": status}
    return cluster.rest().post(WF_API.format(ns=ns), body)


def codec_struct(n: dict) -> NodeStatus:
    import msgspec

    return msgspec.convert(n, type=NodeStatus)


def get_json(tiphys, name: str, ns: str) -> dict:
    return json.loads(ok(tiphys("get", name, "-o", "json", ns=ns)).stdout)


def test_get_reads_compressed_status(cluster, static_ns, tiphys) -> None:
    make_wf(cluster, static_ns, "packed", steps_nodes("packed"), phase="Succeeded", compressed=True)
    view = ok(tiphys("get", "packed", ns=static_ns)).stdout
    assert re.search(r"^ ✔ packed +main$", view, re.M)
    assert re.search(r"^ ├───✔ a +echo +packed-echo-\d+ +5s$", view, re.M), view
    assert re.search(r"^ └───✔ b +echo +packed-echo-\d+ +5s$", view, re.M), view
    assert re.search(r"^packed +Succeeded +\S+ +10s +0 +2/0/0|^packed +Succeeded .* 0/0/2",
                     ok(tiphys("list", "-o", "wide", ns=static_ns)).stdout, re.M)


def test_retry_restart_successful_formulates_the_new_status(cluster, static_ns, tiphys) -> None:
    make_wf(cluster, static_ns, "done", steps_nodes("done"), phase="Succeeded")
    r = ok(tiphys("retry", "done", ns=static_ns), 1)
    assert "retry needs --restart-successful and --node-field-selector" in r.stderr
    ok(tiphys("retry", "done", "--restart-successful", "--node-field-selector", "colour=blue", ns=static_ns), 1)
    ok(tiphys("retry", "done", "--restart-successful", "--node-field-selector", "displayName=b", "-p", "x=1",
              ns=static_ns))
    wf = get_json(tiphys, "done", static_ns)
    nodes = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    assert set(nodes) == {"done", "[0]", "a", "[1]"}  # b deleted
    assert nodes["a"]["phase"] == "Succeeded" and nodes["[0]"]["phase"] == "Succeeded"
    assert nodes["[1]"]["phase"] == "Running" and nodes["[1]"]["children"] == []
    assert nodes["done"]["phase"] == "Running" and "finishedAt" not in nodes["done"]
    assert wf["status"]["phase"] == "" and "finishedAt" not in wf["status"]
    assert "workflows.argoproj.io/completed" not in wf["metadata"].get("labels", {})
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "x", "value": "1"}]


def test_retry_of_a_failed_workflow_deletes_failed_pods_and_downstream(cluster, static_ns, tiphys) -> None:
    nodes = steps_nodes("broken", b_phase="Failed", root_phase="Failed")
    make_wf(cluster, static_ns, "broken", nodes, phase="Failed", spec_extra={"shutdown": "Stop"})
    b = next(n for n in nodes.values() if n["displayName"] == "b")
    pod = ids.pod_name("broken", b["name"], "echo")
    rest = cluster.rest()
    rest.post(f"/api/v1/namespaces/{static_ns}/pods", {"metadata": {
        "name": pod, "labels": {"workflows.argoproj.io/workflow": "broken"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
    ok(tiphys("retry", "broken", ns=static_ns))
    wf = get_json(tiphys, "broken", static_ns)
    assert {n["displayName"] for n in wf["status"]["nodes"].values()} == {"broken", "[0]", "a", "[1]"}
    assert "shutdown" not in wf["spec"]
    from tests.cluster._rest import HttpStatusError

    with pytest.raises(HttpStatusError) as exc:
        rest.get(f"/api/v1/namespaces/{static_ns}/pods/{pod}")
    assert exc.value.status == 404
    ok(tiphys("retry", "broken", ns=static_ns), 1)  # now phase "": not retryable


def test_node_level_resume_and_stop(cluster, static_ns, tiphys) -> None:
    def gated(name: str) -> None:
        nodes = [node(name, name, "Steps", "Running", children=["[0]"], template="main"),
                 node(name, "[0]", "StepGroup", "Running", parent=name, children=["[0].gate"], template="main"),
                 node(name, "[0].gate", "Suspend", "Running", parent=name, template="gate")]
        nodes[2]["displayName"] = "gate"
        nodes[2]["outputs"] = {"parameters": [{"name": "answer", "valueFrom": {"supplied": {}, "default": "42"}}]}
        make_wf(cluster, static_ns, name, {n["id"]: n for n in nodes}, phase="Running")

    gated("asked")
    assert re.search(r"^asked +Running \(Suspended\)", ok(tiphys("list", ns=static_ns)).stdout, re.M)
    r = ok(tiphys("resume", "asked", "--node-field-selector", "displayName=other", ns=static_ns), 1)
    assert "no active suspend node matches" in r.stderr
    ok(tiphys("resume", "asked", "--node-field-selector", "displayName=gate", ns=static_ns))
    gate = next(n for n in get_json(tiphys, "asked", static_ns)["status"]["nodes"].values()
                if n["displayName"] == "gate")
    assert gate["phase"] == "Succeeded" and gate["message"].startswith("Resumed by: ") and gate["finishedAt"]
    assert gate["outputs"]["parameters"][0] == {"name": "answer", "value": "42"}  # valueFrom settled, as Argo

    gated("refused")
    ok(tiphys("stop", "refused", "--node-field-selector", "templateName=gate", "--message", "not today",
              ns=static_ns))
    wf = get_json(tiphys, "refused", static_ns)
    gate = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "gate")
    assert (gate["phase"], gate["message"]) == ("Failed", "not today")
    assert wf["spec"]["shutdown"] == "Stop"
    ok(tiphys("stop", "refused", "--node-field-selector", "phase~Running", ns=static_ns), 1)


def test_delete_selections(cluster, static_ns, tiphys) -> None:
    for name, phase in (("old-a", "Succeeded"), ("old-b", "Failed"), ("live-c", "Running")):
        make_wf(cluster, static_ns, name, steps_nodes(name), phase=phase)
    r = ok(tiphys("delete", "old-a", "ghost", ns=static_ns), 1)
    assert "Workflow 'old-a' deleted" in r.stdout and "Workflow 'ghost' not found" in r.stderr
    assert "Workflow 'old-b' deleted" in ok(tiphys("delete", "--older", "1h", ns=static_ns)).stdout
    assert ok(tiphys("list", "-o", "name", ns=static_ns)).stdout.split() == ["live-c"]
    assert ok(tiphys("delete", "--completed", ns=static_ns)).stdout == ""
    assert "Workflow 'live-c' deleted" in ok(tiphys("delete", "--all", ns=static_ns)).stdout
    assert ok(tiphys("list", ns=static_ns)).stdout.strip() == "No workflows found"
    assert json.loads(ok(tiphys("list", "-o", "json", ns=static_ns)).stdout) == []
    ok(tiphys("delete", ns=static_ns), 2)
    ok(tiphys("delete", "x", "--all", ns=static_ns), 2)


def test_errors_and_usage(cluster, static_ns, tiphys, tmp_path) -> None:
    r = ok(tiphys("get", "nope", ns=static_ns), 1)
    assert r.stderr.strip() == f"error: workflow 'nope' not found in namespace {static_ns}"
    r = ok(tiphys("get", "@latest", ns=static_ns), 1)
    assert "@latest: no workflows found" in r.stderr
    r = ok(tiphys("list", kubeconfig=str(tmp_path / "missing.kubeconfig"), ns=static_ns), 1)
    assert "cannot load kubeconfig" in r.stderr and "missing.kubeconfig" in r.stderr
    ok(tiphys("list", "--status", "Bogus", ns=static_ns), 2)
    ok(tiphys("list", "--running", "--completed", ns=static_ns), 2)
    ok(tiphys("submit", ns=static_ns), 2)
    ok(tiphys("submit", "wf.yaml", "--from", "workflowtemplate/x", ns=static_ns), 2)
    ok(tiphys("submit", "-p", "novalue", "--from", "workflowtemplate/x", ns=static_ns), 2)
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    r = ok(tiphys("submit", str(cm), ns=static_ns), 1)
    assert "document 1 is a ConfigMap, not a Workflow" in r.stderr
    dry = tmp_path / "dry.yaml"
    dry.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: d-}\n"
                   "spec: {entrypoint: main, templates: [{name: main, container: {image: busybox}}]}\n")
    params = tmp_path / "params.yaml"
    params.write_text("who: file\nn: 2\n")
    r = ok(tiphys("submit", str(dry), "--dry-run", "-l", "team=x", "--serviceaccount", "robot", "-f", str(params),
                  "-p", "n=3", "-o", "json", ns=static_ns))
    sent = json.loads(r.stdout)
    assert sent["metadata"]["labels"] == {"team": "x"} and sent["spec"]["serviceAccountName"] == "robot"
    assert sent["spec"]["arguments"]["parameters"] == [{"name": "who", "value": "file"}, {"name": "n", "value": "3"}]
    assert ok(tiphys("list", ns=static_ns)).stdout.strip() == "No workflows found"
    ok(tiphys("suspend", "nope", ns=static_ns), 1)
    ok(tiphys("logs", "nope", ns=static_ns), 1)
    ok(tiphys("logs", "x", "--grep", "(", ns=static_ns), 2)


def _pod_on(cluster, ns: str, wf: str, pod: str, node_name: str) -> None:
    rest = cluster.rest()
    rest.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {
        "name": pod, "labels": {"workflows.argoproj.io/workflow": wf}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}, {"name": "wait", "image": "busybox"}]}})
    rest.post(f"/api/v1/namespaces/{ns}/pods/{pod}/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}})


def test_logs_through_the_apiserver_proxy(cluster, static_ns, tiphys, fake_kubelet_node, kubelet_logs) -> None:
    nodes = steps_nodes("talky")
    make_wf(cluster, static_ns, "talky", nodes, phase="Succeeded")
    pods = {n["displayName"]: ids.pod_name("talky", n["name"], "echo") for n in nodes.values() if n["type"] == "Pod"}
    for step, pod in pods.items():
        _pod_on(cluster, static_ns, "talky", pod, fake_kubelet_node)
        kubelet_logs[(pod, "main")] = f"{step} starts\n{step} says hello\n{step} ends\n"
        kubelet_logs[(pod, "wait")] = f"{step} outputs saved\n"
    out = ok(tiphys("logs", "talky", ns=static_ns)).stdout.splitlines()
    assert sorted(out) == sorted(f"{pods[s]}: {s} {w}" for s in ("a", "b") for w in ("starts", "says hello", "ends"))
    grep = ok(tiphys("logs", "talky", "--grep", "hel+o", ns=static_ns)).stdout.splitlines()
    assert sorted(grep) == sorted(f"{pods[s]}: {s} says hello" for s in ("a", "b"))
    assert ok(tiphys("logs", "talky", "b", "--tail", "1", ns=static_ns)).stdout == f"{pods['b']}: b ends\n"
    assert ok(tiphys("logs", "talky", pods["a"], "-c", "wait", ns=static_ns)).stdout == \
        f"{pods['a']}: a outputs saved\n"
    followed = ok(tiphys("logs", "@latest", "-f", ns=static_ns)).stdout.splitlines()
    assert sorted(followed) == sorted(out)


def test_logs_that_cannot_be_fetched_fail_clearly(cluster, static_ns, tiphys) -> None:
    nodes = steps_nodes("mute")
    make_wf(cluster, static_ns, "mute", nodes, phase="Succeeded")
    pod = ids.pod_name("mute", next(n["name"] for n in nodes.values() if n["displayName"] == "a"), "echo")
    _pod_on(cluster, static_ns, "mute", pod, f"{static_ns}-no-such-node")
    r = ok(tiphys("logs", "mute", ns=static_ns), 1)
    assert r.stderr.startswith(f"error: {pod}: cannot fetch the log of container main: "), r.stderr
    assert r.stdout == ""
