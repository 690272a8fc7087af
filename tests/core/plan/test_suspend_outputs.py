"""Supplied outputs of Suspend nodes (intermediate parameters), through `plan()`.

Argo copies a suspend template's `valueFrom.supplied` declarations onto the node when it is made;
a client resume writes values into status.nodes, and a suspend whose `duration` elapses settles them
with their defaults (or Errors without one). The next step reads `steps.<s>.outputs.parameters.<p>`.
"""
from __future__ import annotations

import msgspec
import pytest

from tiphys.core.plan import suspend
from tiphys.core.plan.planner import apply_client_resume
from tests.core.plan.test_hooks_lifecycle import Run

ECHO = {"name": "echo", "inputs": {"parameters": [{"name": "message"}]},
        "container": {"image": "alpine", "command": ["echo", "{{inputs.parameters.message}}"]}}


def gated(suspend_body: dict, default: str | None = "no answer") -> dict:
    value_from: dict = {"supplied": {}}
    if default is not None:
        value_from["default"] = default
    return {"entrypoint": "main", "arguments": {"parameters": [{"name": "who", "value": "ops"}]}, "templates": [
        {"name": "main", "steps": [
            [{"name": "approve", "template": "approve"}],
            [{"name": "release", "template": "echo",
              "arguments": {"parameters": [{"name": "message",
                                            "value": "{{steps.approve.outputs.parameters.message}}"}]}}]]},
        {"name": "approve", "suspend": suspend_body,
         "outputs": {"parameters": [{"name": "message", "valueFrom": value_from},
                                    {"name": "asked", "valueFrom": {"supplied": {}, "default": "{{workflow.parameters.who}}"}},
                                    {"name": "not-supplied", "value": "x"}]}},
        ECHO]}


def outputs(run: Run, name: str) -> dict | None:
    node = run.node(name)
    return msgspec.to_builtins(node.outputs) if node.outputs is not None else None


def released_with(run: Run) -> str:
    """The message the `release` step's pod was given (its template, as the pod carries it)."""
    pod = run.pods["wf[1].release"]
    env = [e for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []) for e in c.get("env", [])]
    template = msgspec.json.decode(next(e["value"] for e in env if e["name"] == "ARGO_TEMPLATE"))
    return template["container"]["command"][1]


def test_the_node_carries_the_raw_declarations() -> None:
    run = Run(gated({}))
    assert run.phase("wf[0].approve") == "Running"
    assert outputs(run, "wf[0].approve") == {"parameters": [
        {"name": "message", "valueFrom": {"default": "no answer", "supplied": {}}},
        {"name": "asked", "valueFrom": {"default": "ops", "supplied": {}}}]}  # substituted, as processed
    assert "wf[1].release" not in run.pods


def test_a_client_supplied_value_reaches_the_next_step() -> None:
    run = Run(gated({}))
    live = dict(run.ex.nodes)
    node = run.node("wf[0].approve")
    given = {"parameters": [{"name": "message", "value": "ship it"}, {"name": "asked", "value": "ops"}]}
    live[node.id_] = msgspec.structs.replace(node, phase="Succeeded", message="Resumed by: me",
                                             outputs=msgspec.convert(given, type=type(node.outputs)))
    apply_client_resume(run.ex, live)
    run.step()
    assert run.phase("wf[0].approve") == "Succeeded"
    assert released_with(run) == "ship it"


def test_an_elapsed_duration_settles_defaults() -> None:
    run = Run(gated({"duration": "5"}))
    run.now += 10
    run.step()
    assert run.phase("wf[0].approve") == "Succeeded"
    assert outputs(run, "wf[0].approve") == {"parameters": [{"name": "message", "value": "no answer"},
                                                            {"name": "asked", "value": "ops"}]}
    assert released_with(run) == "no answer"


def test_an_elapsed_duration_without_a_default_errors() -> None:
    run = Run(gated({"duration": "5"}, default=None))
    run.now += 10
    run.step()
    node = run.node("wf[0].approve")
    assert node.phase == "Error"
    assert node.message == "raw output parameter 'message' has not been set and does not have a default value"
    assert "wf[1].release" not in run.pods


def test_a_restart_keeps_the_declarations_once() -> None:
    run = Run(gated({}))
    again = run.restarted()
    assert outputs(again, "wf[0].approve") == outputs(run, "wf[0].approve")


@pytest.mark.parametrize(("given", "want"), [
    (None, None),
    ({"parameters": [{"name": "a", "value": "1"}]}, {"parameters": [{"name": "a", "value": "1"}]}),
    ({"parameters": [{"name": "a", "valueFrom": {"supplied": {}, "default": "d"}}]},
     {"parameters": [{"name": "a", "value": "d"}]}),
    ({"parameters": [{"name": "a", "value": "v", "valueFrom": {"supplied": {}, "default": "d"}}]},
     {"parameters": [{"name": "a", "value": "v"}]}),  # given by `node set` but valueFrom left: the value wins
])
def test_with_defaults(given, want) -> None:
    assert suspend.with_defaults(given) == want


def test_with_defaults_names_the_parameter_left() -> None:
    with pytest.raises(suspend.SuppliedError, match="raw output parameter 'b' has not been set"):
        suspend.with_defaults({"parameters": [{"name": "a", "value": "1"}, {"name": "b", "valueFrom": {"supplied": {}}}]})


def test_a_client_resume_s_fulfilment_actions_go_out_with_the_next_plan() -> None:
    """Fulfilling a node a client resumed decides actions (here its template's metric); they are
    made between plans, and the next plan returns them instead of dropping them."""
    from tiphys.core.plan.metrics import RecordMetric
    from tiphys.core.plan.planner import Observed, plan

    spec = gated({})
    approve = next(t for t in spec["templates"] if t["name"] == "approve")
    approve["metrics"] = {"prometheus": [{"name": "approvals", "help": "approvals", "counter": {"value": "1"}}]}
    run = Run(spec)
    live = dict(run.ex.nodes)
    node = run.node("wf[0].approve")
    given = {"parameters": [{"name": "message", "value": "ok"}, {"name": "asked", "value": "ops"}]}
    live[node.id_] = msgspec.structs.replace(node, phase="Succeeded",
                                             outputs=msgspec.convert(given, type=type(node.outputs)))
    apply_client_resume(run.ex, live)
    result = plan(run.ex, Observed(), run.now)
    assert [a.name for a in result.actions if isinstance(a, RecordMetric)] == ["approvals"]
    again = plan(run.ex, Observed(), run.now + 1)
    assert not [a for a in again.actions if isinstance(a, RecordMetric)]  # once
