"""Lifecycle hooks (`hooks.<name>` with an `expression`, §5.11), level by level through `plan()`.

Each test drives the pure planner with pod states it chooses (Pending, Running, Succeeded,
Failed), so a step can be held Running while its hook fires, and the Execution can be rebuilt
from the written nodes (a controller restart) in the middle of a hook.
"""
from __future__ import annotations

import pytest

from tiphys.core.plan.actions import CreatePod
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.observe import NODE_NAME
from tiphys.core.plan.planner import Observed, new_execution, plan

T0 = 1_800_000_000.0
META = WorkflowMeta(name="wf", namespace="ns", uid="u-1")
ECHO = {"name": "echo", "container": {"image": "alpine", "command": ["true"]}}
HOOK = {"name": "hook", "container": {"image": "alpine", "command": ["true"]}}


class Run:
    """One workflow through the planner; pods are moved by hand."""

    def __init__(self, spec: dict, nodes: dict | None = None, status: dict | None = None, now: float = T0) -> None:
        self.spec = spec
        self.ex = new_execution(META, spec, status or {}, nodes or {})
        self.now = now
        self.pods: dict[str, dict] = {}  # node name -> pod, in creation order
        self.creates: list[str] = []
        self.step()

    def step(self, pods: list[dict] = (), results: list[dict] = ()) -> None:
        result = plan(self.ex, Observed(pods=list(pods), task_results=list(results)), self.now)
        for action in result.actions:
            if isinstance(action, CreatePod):
                name = action.pod["metadata"]["annotations"][NODE_NAME]
                self.pods[name] = action.pod
                self.creates.append(name)
        self.now += 1

    def move(self, node: str, phase: str, exit_code: int = 0) -> None:
        """The pod of `node` reaches `phase`; a finished pod also reports its (empty) outputs."""
        pod = self.pods[node]
        main: dict = {"name": "main", "state": {"running": {"startedAt": "2027-01-15T08:00:00Z"}}}
        if phase in ("Succeeded", "Failed"):
            main = {"name": "main", "state": {"terminated": {"exitCode": exit_code, "reason": "Completed"}}}
        observed = {**pod, "status": {"phase": phase, "containerStatuses": [main]}}
        results = []
        if phase in ("Succeeded", "Failed"):
            node_id = pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
            results = [{"metadata": {"name": node_id, "labels": {
                "workflows.argoproj.io/report-outputs-completed": "true"}}, "outputs": {"exitCode": str(exit_code)}}]
        self.step([observed], results)

    def node(self, name: str):
        return next((n for n in self.ex.nodes.values() if n.name == name), None)

    def phase(self, name: str) -> str | None:
        node = self.node(name)
        return node.phase if node is not None else None

    def children(self, name: str) -> list[str]:
        by_id = {n.id_: n.name for n in self.ex.nodes.values()}
        return [by_id[c] for c in self.node(name).children or ()]

    @property
    def wf_phase(self) -> str:
        return self.ex.workflow.phase

    def restarted(self) -> "Run":
        """A new controller: the Execution rebuilt from the nodes and status written so far."""
        wf = self.ex.workflow
        status = {"phase": wf.phase, "startedAt": wf.started_at}
        again = Run.__new__(Run)
        again.spec, again.now, again.pods, again.creates = self.spec, self.now, dict(self.pods), []
        again.ex = new_execution(META, self.spec, status, dict(self.ex.nodes))
        again.step()
        return again


def steps_spec(hooks: dict, *, wf_hooks: dict | None = None, second: bool = False) -> dict:
    groups = [[{"name": "a", "template": "echo", "hooks": hooks}]]
    if second:
        groups.append([{"name": "b", "template": "echo"}])
    spec = {"entrypoint": "main", "templates": [{"name": "main", "steps": groups}, ECHO, HOOK]}
    if wf_hooks is not None:
        spec["hooks"] = wf_hooks
    return spec


# -- workflow level ---------------------------------------------------------------------------

def test_workflow_hook_fires_once_and_keeps_running_after_its_expression_turns_false():
    run = Run(steps_spec({}, wf_hooks={"running": {"expression": 'workflow.status == "Running"',
                                                   "template": "hook"}}))
    assert run.phase("wf.hooks.running") == "Pending"
    hook = run.node("wf.hooks.running")
    assert hook.node_flag.hooked and hook.boundary_id is None and hook.display_name == "wf.hooks.running"
    assert run.children("wf") == ["wf[0]", "wf.hooks.running"]
    run.move("wf[0].a", "Running")
    run.move("wf[0].a", "Succeeded")
    # the root is Succeeded, so `workflow.status` is no longer Running: the hook still runs, once
    assert run.phase("wf") == "Succeeded" and run.phase("wf.hooks.running") == "Pending"
    assert run.wf_phase == "Running"  # the workflow waits for the hook
    run.move("wf.hooks.running", "Running")
    assert run.wf_phase == "Running"
    run.move("wf.hooks.running", "Succeeded")
    assert run.wf_phase == "Succeeded"
    assert run.creates.count("wf.hooks.running") == 1


def test_workflow_hook_on_success_runs_before_the_exit_handler():
    run = Run(steps_spec({}, wf_hooks={"done": {"expression": 'workflow.status == "Succeeded"', "template": "hook"},
                                       "exit": {"template": "hook"}}))
    assert run.node("wf.hooks.done") is None
    run.move("wf[0].a", "Succeeded")
    assert run.phase("wf.hooks.done") == "Pending" and run.node("wf.onExit") is None
    run.move("wf.hooks.done", "Succeeded")
    assert run.phase("wf.onExit") == "Pending"
    run.move("wf.onExit", "Succeeded")
    assert run.wf_phase == "Succeeded"


def test_a_failing_workflow_hook_does_not_fail_the_workflow():
    run = Run(steps_spec({}, wf_hooks={"h": {"expression": "true", "template": "hook"}}))
    run.move("wf.hooks.h", "Failed", exit_code=1)
    run.move("wf[0].a", "Succeeded")
    assert run.phase("wf.hooks.h") == "Failed" and run.wf_phase == "Succeeded"


def test_workflow_hook_expression_error_ends_the_workflow_in_error():
    run = Run(steps_spec({}, wf_hooks={"h": {"expression": 'workflow.status == ', "template": "hook"}}))
    assert run.node("wf.hooks.h") is None
    run.move("wf[0].a", "Succeeded")
    assert run.wf_phase == "Error"
    assert run.ex.workflow.message.startswith("unable to evaluate expression 'workflow.status == '")


def test_workflow_hook_arguments_and_globals():
    spec = steps_spec({}, wf_hooks={"h": {"expression": 'workflow.parameters.go == "yes"', "template": "hook-in",
                                          "arguments": {"parameters": [{"name": "x", "value": "v"}]}}})
    spec["arguments"] = {"parameters": [{"name": "go", "value": "yes"}]}
    spec["templates"].append({"name": "hook-in", "inputs": {"parameters": [{"name": "x"}]},
                              "container": {"image": "alpine", "command": ["echo"],
                                            "args": ["{{inputs.parameters.x}}"]}})
    run = Run(spec)
    hook = run.node("wf.hooks.h")
    assert hook.phase == "Pending" and hook.inputs.parameters[0].value == "v"
    assert "wf.hooks.h" in run.pods


# -- step level -------------------------------------------------------------------------------

def test_step_hook_fires_while_the_step_is_running_and_the_group_waits_for_it():
    run = Run(steps_spec({"running": {"expression": 'steps.a.status == "Running"', "template": "hook"}}, second=True))
    assert run.node("wf[0].a.hooks.running") is None  # Pending: not yet
    run.move("wf[0].a", "Running")
    hook = run.node("wf[0].a.hooks.running")
    assert hook is not None and hook.display_name == "a.hooks.running" and hook.node_flag.hooked
    assert run.children("wf[0].a") == ["wf[0].a.hooks.running"]
    run.move("wf[0].a", "Succeeded")  # the expression is false now; the hook goes on
    assert run.phase("wf[0]") == "Running" and run.node("wf[1]") is None
    run.move("wf[0].a.hooks.running", "Succeeded")
    assert run.phase("wf[0]") == "Succeeded" and run.phase("wf[1].b") == "Pending"
    assert run.children("wf[0].a") == ["wf[0].a.hooks.running", "wf[1]"]
    run.move("wf[1].b", "Succeeded")
    assert run.wf_phase == "Succeeded" and run.creates.count("wf[0].a.hooks.running") == 1


def test_step_hook_on_success_sees_the_final_status_and_bracket_names():
    run = Run({"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "step-1", "template": "echo", "hooks": {
            "ok": {"expression": 'steps["step-1"].status == "Succeeded"', "template": "hook"},
            "bad": {"expression": 'steps["step-1"].status == "Failed"', "template": "hook"}}}]]}, ECHO, HOOK]})
    run.move("wf[0].step-1", "Running")
    run.move("wf[0].step-1", "Succeeded")
    assert run.phase("wf[0].step-1.hooks.ok") == "Pending" and run.node("wf[0].step-1.hooks.bad") is None
    assert run.wf_phase == "Running"
    run.move("wf[0].step-1.hooks.ok", "Succeeded")
    assert run.wf_phase == "Succeeded"


def test_a_failed_step_hook_does_not_fail_the_step_or_group():
    run = Run(steps_spec({"h": {"expression": 'steps.a.status == "Running"', "template": "hook"}}))
    run.move("wf[0].a", "Running")
    run.move("wf[0].a.hooks.h", "Failed", exit_code=1)
    run.move("wf[0].a", "Succeeded")
    assert run.phase("wf[0].a") == "Succeeded" and run.phase("wf[0]") == "Succeeded"
    assert run.wf_phase == "Succeeded"


def test_step_hook_expression_error_fails_the_group_with_argos_message():
    run = Run(steps_spec({"h": {"expression": "steps.a.status ==", "template": "hook"}}, second=True))
    run.move("wf[0].a", "Succeeded")
    assert run.phase("wf[0]") == "Error"
    assert run.node("wf[0]").message.startswith("unable to evaluate expression 'steps.a.status =='")
    assert run.phase("wf") == "Failed" and run.node("wf").message == run.node("wf[0]").message
    assert run.node("wf[0].a.hooks.h") is None and run.node("wf[1]") is None
    assert run.wf_phase == "Failed"


def test_restart_mid_hook_finds_the_hook_node_again():
    spec = steps_spec({"running": {"expression": 'steps.a.status == "Running"', "template": "hook"}})
    run = Run(spec)
    run.move("wf[0].a", "Running")
    run.move("wf[0].a", "Succeeded")  # the expression is false from here on
    hook_id = run.node("wf[0].a.hooks.running").id_
    again = run.restarted()
    # not judged again (it would be false) and not made twice: the same node, the same pod
    assert again.node("wf[0].a.hooks.running").id_ == hook_id
    assert again.creates in ([], ["wf[0].a.hooks.running"])  # a lost create may be issued again, same name
    assert again.wf_phase == "Running"
    again.move("wf[0].a.hooks.running", "Succeeded")
    assert again.wf_phase == "Succeeded"
    assert sum(1 for n in again.ex.nodes.values() if ".hooks." in (n.name or "")) == 1


def test_restart_mid_workflow_hook():
    run = Run(steps_spec({}, wf_hooks={"running": {"expression": 'workflow.status == "Running"',
                                                   "template": "hook"}}))
    run.move("wf[0].a", "Succeeded")
    again = run.restarted()
    assert again.wf_phase == "Running"
    again.move("wf.hooks.running", "Succeeded")
    assert again.wf_phase == "Succeeded"
    assert again.children("wf") == ["wf[0]", "wf.hooks.running"]


# -- DAG level --------------------------------------------------------------------------------

def dag_spec(hooks: dict) -> dict:
    return {"entrypoint": "main", "templates": [
        {"name": "main", "dag": {"tasks": [{"name": "a", "template": "echo", "hooks": hooks},
                                           {"name": "b", "template": "echo", "depends": "a"}]}}, ECHO, HOOK]}


def test_task_hook_dependants_wait_for_it():
    run = Run(dag_spec({"running": {"expression": 'tasks.a.status == "Running"', "template": "hook"}}))
    run.move("wf.a", "Running")
    assert run.phase("wf.a.hooks.running") == "Pending"
    assert run.node("wf.a.hooks.running").display_name == "a.hooks.running"
    run.move("wf.a", "Succeeded")
    assert run.node("wf.b") is None  # waits for the hook
    run.move("wf.a.hooks.running", "Succeeded")
    assert run.phase("wf.b") == "Pending"
    assert run.children("wf.a") == ["wf.a.hooks.running", "wf.b"]
    run.move("wf.b", "Succeeded")
    assert run.wf_phase == "Succeeded"


def test_task_lifecycle_hook_runs_before_its_exit_hook():
    run = Run(dag_spec({"done": {"expression": 'tasks.a.status == "Succeeded"', "template": "hook"},
                        "exit": {"template": "hook"}}))
    run.move("wf.a", "Succeeded")
    assert run.phase("wf.a.hooks.done") == "Pending" and run.node("wf.a.onExit") is None
    run.move("wf.a.hooks.done", "Succeeded")
    assert run.phase("wf.a.onExit") == "Pending" and run.node("wf.b") is None
    run.move("wf.a.onExit", "Succeeded")
    run.move("wf.b", "Succeeded")
    assert run.wf_phase == "Succeeded"


def test_task_hook_expression_error_ends_the_dag_in_error():
    run = Run(dag_spec({"h": {"expression": "tasks.a.status ==", "template": "hook"}}))
    run.move("wf.a", "Succeeded")
    run.move("wf.b", "Succeeded")
    assert run.phase("wf") == "Error" and run.wf_phase == "Error"
    assert run.node("wf").message.startswith("unable to evaluate expression")


def test_the_hooked_node_is_watched_only_until_it_is_fulfilled():
    run = Run(dag_spec({"never": {"expression": "false", "template": "hook"}}))
    assert len(run.ex.phase_watch) == 1
    run.move("wf.a", "Succeeded")
    assert run.ex.phase_watch == {}
    run.move("wf.b", "Succeeded")
    assert run.wf_phase == "Succeeded" and not any(".hooks." in (n.name or "") for n in run.ex.nodes.values())


@pytest.mark.parametrize("expression", ['tasks.a.status == "Running"', "1 + 1"])
def test_non_boolean_or_false_expressions_make_no_hook_until_true(expression):
    run = Run(dag_spec({"h": {"expression": expression, "template": "hook"}}))
    hook = run.node("wf.a.hooks.h")
    assert hook is None
    if expression == "1 + 1":
        run.move("wf.a", "Succeeded")
        run.move("wf.b", "Succeeded")
        assert run.wf_phase == "Error" and "expected a boolean" in run.node("wf").message


def test_restart_mid_task_hook_finds_it_again_and_b_still_waits():
    run = Run(dag_spec({"running": {"expression": 'tasks.a.status == "Running"', "template": "hook"}}))
    run.move("wf.a", "Running")
    run.move("wf.a", "Succeeded")
    again = run.restarted()
    assert again.node("wf.b") is None and again.phase("wf.a.hooks.running") == "Pending"
    again.move("wf.a.hooks.running", "Succeeded")
    assert again.phase("wf.b") == "Pending"
    again.move("wf.b", "Succeeded")
    assert again.wf_phase == "Succeeded"
    assert again.children("wf.a") == ["wf.a.hooks.running", "wf.b"]


def test_stop_spares_a_running_lifecycle_hook_as_argo_spares_on_exit_pods():
    run = Run(steps_spec({"running": {"expression": 'steps.a.status == "Running"', "template": "hook"}}))
    run.move("wf[0].a", "Running")
    run.move("wf[0].a.hooks.running", "Running")
    run.ex.spec = {**run.ex.spec, "shutdown": "Stop"}
    run.step()
    assert run.phase("wf[0].a") == "Failed"
    assert run.phase("wf[0].a.hooks.running") == "Running"  # Argo's Stop keeps on-exit pods; hooks are such
    assert run.wf_phase == "Running"
    run.move("wf[0].a.hooks.running", "Succeeded")
    assert run.wf_phase == "Failed" and run.ex.workflow.message == "Stopped with strategy 'Stop'"
