"""The cluster commands' pure parts without a cluster: status words, durations, node selectors, retry/resubmit."""
from __future__ import annotations

import click
import pytest

from tiphys.cli._client import CliError
from tiphys.cli._nodes import NodeSelector
from tiphys.cli._output import short_duration, table, workflow_sort_key, workflow_status
from tiphys.cli.list import parse_duration
from tiphys.cli.resubmit import formulate_resubmit
from tiphys.cli.retry import formulate_retry
from tiphys.cli.submit import apply_parameters
from tiphys.core.status import ids


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"),
                                               (86399, "23h"), (86400, "1d"), (-5, "0s")])
def test_short_duration(seconds: float, text: str) -> None:
    assert short_duration(seconds) == text


def test_parse_duration() -> None:
    assert parse_duration("1h30m", flag="--older") == 5400
    assert parse_duration("2d", flag="--older") == 172800
    for bad in ("", "1x", "h", "5m junk"):
        with pytest.raises(click.BadParameter, match="--older|duration"):
            parse_duration(bad, flag="--older")


@pytest.mark.parametrize(("wf", "word"), [
    ({"status": {}}, "Pending"),
    ({"status": {"phase": "Running"}, "spec": {"suspend": True}}, "Running (Suspended)"),
    ({"status": {"phase": "Running", "nodes": {"x": {"id": "x", "type": "Suspend", "phase": "Running"}}}},
     "Running (Suspended)"),
    ({"status": {"phase": "Running", "nodes": {"x": {"id": "x", "type": "Pod", "phase": "Running"}}}}, "Running"),
    ({"status": {"phase": "Failed"}, "spec": {"shutdown": "Stop"}}, "Failed (Terminated)"),
    ({"status": {"phase": "Failed"}}, "Failed"),
])
def test_workflow_status_words(wf: dict, word: str) -> None:
    assert workflow_status(wf) == word


def test_sort_puts_unfinished_first_then_latest_finished() -> None:
    wfs = [{"metadata": {"name": "old", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"finishedAt": "2026-01-01T01:00:00Z"}},
           {"metadata": {"name": "new", "creationTimestamp": "2026-01-02T00:00:00Z"},
            "status": {"finishedAt": "2026-01-02T01:00:00Z"}},
           {"metadata": {"name": "run", "creationTimestamp": "2025-01-01T00:00:00Z"}, "status": {}}]
    assert [w["metadata"]["name"] for w in sorted(wfs, key=workflow_sort_key)] == ["run", "new", "old"]


def test_table_pads_like_tabwriter() -> None:
    assert table(["A", "BB"], [["xxx", "y"]]) == "A     BB\nxxx   y"


def test_node_selector() -> None:
    node = {"displayName": "b", "phase": "Failed", "templateRef": {"name": "lib", "template": "t"},
            "inputs": {"parameters": [{"name": "p", "value": "1"}]}}
    assert NodeSelector("displayName=b,phase!=Succeeded").matches(node)
    assert NodeSelector("templateRef.name==lib,inputs.parameters.p.value=1").matches(node)
    assert not NodeSelector("inputs.parameters.p.value=2").matches(node)
    with pytest.raises(CliError, match="unknown field 'colour'"):
        NodeSelector("colour=blue")
    with pytest.raises(CliError, match="not FIELD=VALUE"):
        NodeSelector("displayName~b")


def _dag(wf: str) -> dict:
    def n(name: str, type_: str, phase: str, children=(), boundary: bool = True) -> dict:
        full = wf if name == wf else f"{wf}.{name}"
        return {"id": ids.node_id(wf, full), "name": full, "displayName": name, "type": type_, "phase": phase,
                "templateName": "t", "children": [ids.node_id(wf, f"{wf}.{c}") for c in children],
                **({"boundaryID": ids.node_id(wf, wf)} if boundary and name != wf else {}),
                "finishedAt": "2026-01-01T00:00:05Z", "message": "m"}
    nodes = [n(wf, "DAG", "Failed", ["A", "S"], boundary=False), n("A", "Pod", "Succeeded", ["B", "C"]),
             n("B", "Pod", "Failed", ["D"]), n("C", "Pod", "Succeeded"), n("D", "Pod", "Omitted"),
             n("S", "Pod", "Skipped")]
    exit_node = n(f"{wf}.onExit", "Pod", "Succeeded", boundary=False)
    exit_node.update(name=f"{wf}.onExit", id=ids.node_id(wf, f"{wf}.onExit"))
    nodes.append(exit_node)
    return {"metadata": {"name": wf, "labels": {"workflows.argoproj.io/completed": "true", "keep": "me"}},
            "spec": {"shutdown": "Stop"},
            "status": {"phase": "Failed", "finishedAt": "x", "message": "m", "nodes": {x["id"]: x for x in nodes}}}


def test_retry_of_a_dag_deletes_the_failed_task_and_its_dependants() -> None:
    new, dropped = formulate_retry(_dag("w"))
    assert sorted(d["displayName"] for d in dropped) == ["B", "D", "w.onExit"]
    kept = {n["displayName"]: n for n in new["status"]["nodes"].values()}
    assert set(kept) == {"w", "A", "C", "S"}
    assert kept["w"]["phase"] == "Running" and "message" not in kept["w"] and "finishedAt" not in kept["w"]
    assert kept["A"]["phase"] == "Succeeded" and kept["A"]["children"] == [ids.node_id("w", "w.C")]
    assert kept["S"]["phase"] == "Skipped"
    assert new["status"]["phase"] == "" and "finishedAt" not in new["status"]
    assert new["metadata"]["labels"] == {"keep": "me"} and "shutdown" not in new["spec"]


def test_retry_refuses_running_and_plain_succeeded() -> None:
    wf = _dag("w")
    wf["status"]["phase"] = "Running"
    with pytest.raises(CliError, match="must be Failed or Error"):
        formulate_retry(wf)
    wf["status"]["phase"] = "Succeeded"
    with pytest.raises(CliError, match="--restart-successful and --node-field-selector"):
        formulate_retry(wf, restart_successful=True)


def test_resubmit_and_parameters() -> None:
    wf = {"metadata": {"name": "w", "labels": {"workflows.argoproj.io/completed": "true", "team": "a"},
                       "annotations": {"note": "x"}},
          "spec": {"shutdown": "Terminate", "arguments": {"parameters": [
              {"name": "p", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}}}
    new = formulate_resubmit(wf, parameters={"p": "1", "q": "2"}, priority=3)
    assert new["metadata"] == {"generateName": "w-", "annotations": {"note": "x"},
                               "labels": {"team": "a", "workflows.argoproj.io/resubmitted-from-workflow": "w"}}
    assert new["spec"] == {"priority": 3, "arguments": {"parameters": [{"name": "p", "value": "1"},
                                                                         {"name": "q", "value": "2"}]}}
    assert apply_parameters({"x": 1}, {}) == {"x": 1}


def test_parameter_file(tmp_path) -> None:
    from tiphys.cli.submit import load_parameter_file

    f = tmp_path / "p.yaml"
    f.write_text("a: x\nb: 3\nc: [1, 2]\n")
    assert load_parameter_file(str(f)) == {"a": "x", "b": "3", "c": "[1, 2]"}
    f.write_text("- just a list\n")
    with pytest.raises(click.BadParameter, match="expected a mapping"):
        load_parameter_file(str(f))


@pytest.mark.parametrize(("text", "want"), [
    ('message=hello', ("message", "hello")),
    ('message="Hello, world!"', ("message", "Hello, world!")),
    ('m="a \\"quoted\\" word\\n"', ("m", 'a "quoted" word\n')),
    ('m="not \\q valid"', ("m", '"not \\q valid"')),  # not a Go-quoted string: the text itself, as Argo
    ('m=a=b', ("m", "a=b")),
    ('m=', ("m", "")),
])
def test_node_set_output_parameter(text: str, want: tuple[str, str]) -> None:
    from tiphys.cli.node import parse_output_parameter

    assert parse_output_parameter(text) == want


def test_node_set_refusals() -> None:
    from tiphys.cli.node import parse_output_parameter, set_nodes

    for bad in ("novalue", "=x"):
        with pytest.raises(CliError, match="NAME=VALUE"):
            parse_output_parameter(bad)
    gate = {"id": "g", "name": "wf[0].gate", "displayName": "gate", "type": "Suspend", "phase": "Running",
            "outputs": {"parameters": [{"name": "set", "value": "1"}, {"name": "open", "valueFrom": {"supplied": {}}}]}}
    wf = {"metadata": {"name": "wf"}, "spec": {}, "status": {"nodes": {"g": gate}}}
    sel = NodeSelector("displayName=gate")
    with pytest.raises(CliError, match="because it does not use valueFrom.raw or it was already set"):
        set_nodes(wf, sel, outputs={"set": "2"}, phase="", message="")
    with pytest.raises(CliError, match="currently, set only targets suspend nodes"):
        set_nodes(wf, NodeSelector("displayName=other"), outputs={"open": "x"}, phase="", message="")
    done = set_nodes(wf, sel, outputs={"open": "x"}, phase="Succeeded", message="ok")["status"]["nodes"]["g"]
    assert done["outputs"]["parameters"] == [{"name": "set", "value": "1"}, {"name": "open", "value": "x"}]
    assert (done["phase"], done["message"]) == ("Succeeded", "ok") and done["finishedAt"]
    assert gate["phase"] == "Running"  # the read copy is not edited


def test_resources_duration_as_argo_prints_it() -> None:
    from tiphys.cli._output import go_seconds, resources_duration_text

    assert [go_seconds(n) for n in (0, 45, 65, 3600, 3725)] == ["0s", "45s", "1m5s", "1h0m0s", "1h2m5s"]
    assert resources_duration_text({"memory": 65, "cpu": 3, "nvidia.com/gpu": 1}) == \
        "3s*(1 cpu),1m5s*(100Mi memory),1s*(1 nvidia.com/gpu)"
    assert resources_duration_text(None) == ""
