"""HTTP nodes through the pure planner: task set actions, the agent pod, outcomes from `status.nodes`.

Each test plays the agent by hand: it reads the `PutTaskSet` actions, writes a task set object
with `status.nodes[nodeID]` and hands it to `plan()` as the task-set informer would.
"""
from __future__ import annotations

from typing import Any

from tiphys.core.plan.actions import (CompleteTaskSet, CreatePod, DeletePod, DeleteTaskResults, PruneTaskSet,
                                      PutTaskSet)
from tiphys.core.plan.agentpod import agent_pod_name
from tiphys.core.plan.http import AGENT_FAILED
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.planner import Observed, new_execution, plan
from tiphys.core.status import ids

T0 = 1_800_000_000.0
META = WorkflowMeta(name="wf", namespace="ns", uid="u-1")
AGENT = agent_pod_name("wf")


def call(url: str = "http://h/x", **more: Any) -> dict:
    return {"name": "call", "inputs": {"parameters": [{"name": "u", "default": url}]},
            "http": {"url": "{{inputs.parameters.u}}", **more}}


class Run:
    def __init__(self, spec: dict, *, settings: PodSettings = PodSettings()) -> None:
        self.ex = new_execution(META, spec, {}, {}, settings=settings)
        self.now = T0
        self.actions: list[Any] = []
        self.tasks: dict[str, dict] = {}
        self.step()

    def step(self, *, task_set: dict | None = None, pods: list[dict] = (), deleted: list[dict] = (),
             at: float | None = None) -> list[Any]:
        if at is not None:
            self.now = at
        result = plan(self.ex, Observed(task_sets=[task_set] if task_set else [], pods=list(pods),
                                        deleted_pods=list(deleted)), self.now)
        self.actions = result.actions
        for a in result.actions:
            if isinstance(a, PutTaskSet):
                self.tasks.update(a.tasks)
            if isinstance(a, PruneTaskSet):
                for node_id in a.node_ids:
                    self.tasks.pop(node_id, None)
        self.now += 1
        return result.actions

    def answer(self, **results: dict) -> list[Any]:
        """The agent writes results, by node name."""
        nodes = {ids.node_id("wf", name): r for name, r in results.items()}
        return self.step(task_set={"metadata": {"name": "wf", "namespace": "ns"}, "status": {"nodes": nodes}})

    def node(self, name: str):
        return self.ex.nodes.get(ids.node_id("wf", name))

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]


def test_http_node_pending_task_put_agent_requested():
    """An http entrypoint: node `wf` of type HTTP, Pending; its substituted template is the task;
    one agent pod with Argo's name, label, command and the workflow's service account."""
    r = Run({"entrypoint": "call", "serviceAccountName": "caller", "templates": [call()]})
    node = r.node("wf")
    assert (node.type_, node.phase, node.progress) == ("HTTP", "Pending", "0/1")
    put = r.of(PutTaskSet)
    assert len(put) == 1 and list(put[0].tasks) == ["wf"]
    assert put[0].tasks["wf"]["http"] == {"url": "http://h/x"}
    assert put[0].tasks["wf"]["inputs"]["parameters"][0]["value"] == "http://h/x"
    [create] = r.of(CreatePod)
    pod = create.pod
    assert create.node_id == "" and pod["metadata"]["name"] == AGENT == f"wf-{ids.fnv1a32('agent')}-agent"
    assert pod["metadata"]["labels"]["workflows.argoproj.io/component"] == "agent"
    assert pod["metadata"]["labels"]["workflows.argoproj.io/workflow"] == "wf"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "caller"
    assert [c["args"][:2] for c in spec["initContainers"] + spec["containers"]] == [["agent", "init"],
                                                                                  ["agent", "main"]]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["ARGO_WORKFLOW_NAME"] == "wf" and env["ARGO_AGENT_PATCH_RATE"] == "1s"
    r.step()
    assert not r.of(CreatePod) and not r.of(PutTaskSet), "asked once, not on every plan"


def test_result_succeeds_node_prunes_task_deletes_agent_completes_task_set():
    r = Run({"entrypoint": "call", "templates": [call()]})
    r.answer(wf={"phase": "Succeeded", "outputs": {"result": "hello"}})
    node = r.node("wf")
    assert (node.phase, node.outputs.result, node.progress) == ("Succeeded", "hello", "1/1")
    assert node.finished_at
    assert r.of(PruneTaskSet) == [PruneTaskSet(("wf",))]
    assert DeletePod(AGENT) in r.actions
    assert r.of(CompleteTaskSet) and r.of(DeleteTaskResults)
    assert r.ex.workflow.phase == "Succeeded"


def test_failed_result_message_and_running_is_taken():
    r = Run({"entrypoint": "call", "templates": [call()]})
    r.answer(wf={"phase": "Running"})
    assert r.node("wf").phase == "Running" and not r.of(PruneTaskSet)
    r.answer(wf={"phase": "Failed", "message": "received non-2XX response code: 500"})
    assert (r.node("wf").phase, r.node("wf").message) == ("Failed", "received non-2XX response code: 500")
    assert r.ex.workflow.phase == "Failed"


def test_a_finished_node_ignores_later_results():
    r = Run({"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "call"}, {"name": "b", "template": "call"}]]},
        call()]})
    assert set(r.tasks) == {ids.node_id("wf", "wf[0].a"), ids.node_id("wf", "wf[0].b")}
    r.answer(**{"wf[0].a": {"phase": "Failed", "message": "no"}})
    assert DeletePod(AGENT) not in r.actions, "b still waits: the agent stays"
    r.answer(**{"wf[0].a": {"phase": "Succeeded"}, "wf[0].b": {"phase": "Succeeded", "outputs": {"result": "1"}}})
    assert r.node("wf[0].a").phase == "Failed"
    assert r.ex.workflow.phase == "Failed"
    assert DeletePod(AGENT) in r.actions


def test_template_timeout_fails_a_pending_http_node():
    r = Run({"entrypoint": "call", "templates": [{**call(), "timeout": "10s"}]})
    r.step(at=T0 + 5)
    assert r.node("wf").phase == "Pending"
    r.step(at=T0 + 11)
    assert (r.node("wf").phase, r.node("wf").message) == ("Failed", "timeout")
    assert r.of(PruneTaskSet) == [PruneTaskSet(("wf",))] and DeletePod(AGENT) in r.actions


def test_retry_attempts_are_separate_tasks():
    r = Run({"entrypoint": "call", "templates": [{**call(), "retryStrategy": {"limit": 2}}]})
    assert list(r.tasks) == [ids.node_id("wf", "wf(0)")]
    r.answer(**{"wf(0)": {"phase": "Failed", "message": "503"}})
    assert list(r.tasks) == [ids.node_id("wf", "wf(1)")], "attempt 0 pruned, attempt 1 put"
    assert not r.of(CreatePod) and DeletePod(AGENT) not in r.actions, "the agent stays between attempts"
    r.answer(**{"wf(1)": {"phase": "Succeeded", "outputs": {"result": "ok"}}})
    assert r.ex.workflow.phase == "Succeeded" and r.node("wf").type_ == "Retry"


def test_when_false_skips_without_a_task():
    r = Run({"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "call", "when": "1 == 2"}]]}, call()]})
    assert r.node("wf[0].a").phase == "Skipped"
    assert not r.tasks and not r.of(CreatePod)
    assert r.ex.workflow.phase == "Succeeded"


def test_agent_pod_failure_errors_waiting_nodes_and_deletion_remakes_it():
    r = Run({"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "call"}], [{"name": "b", "template": "call"}]]},
        call()]})
    agent = {"metadata": {"name": AGENT, "labels": {"workflows.argoproj.io/workflow": "wf",
                                                    "workflows.argoproj.io/component": "agent"}}}
    r.step(pods=[{**agent, "status": {"phase": "Running"}}])
    assert r.node("wf[0].a").phase == "Pending"
    # deleted under us while a waits: made again
    r.step(deleted=[agent])
    assert [a.pod["metadata"]["name"] for a in r.of(CreatePod)] == [AGENT]
    # a terminating pod's status says nothing
    r.step(pods=[{**agent, "metadata": {**agent["metadata"], "deletionTimestamp": "x"}, "status": {"phase": "Failed"}}])
    assert r.node("wf[0].a").phase == "Pending"
    r.step(pods=[{**agent, "status": {"phase": "Failed", "message": "OOMKilled"}}])
    a = r.node("wf[0].a")
    assert (a.phase, a.message) == ("Error", AGENT_FAILED.format("OOMKilled"))
    assert a.message == 'agent pod failed with reason:"OOMKilled"'
    assert r.ex.workflow.phase == "Failed"  # the step group fails on an errored child


def test_shutdown_fails_waiting_http_nodes():
    r = Run({"entrypoint": "call", "templates": [call()]})
    r.ex.spec = {**r.ex.spec, "shutdown": "Stop"}
    r.step()
    assert (r.node("wf").phase, r.node("wf").message) == ("Failed", "workflow shutdown with strategy:  Stop")
    assert r.ex.workflow.phase == "Failed"


def test_restart_adopts_the_task_and_takes_a_result_written_meanwhile():
    """A new controller: the unfinished HTTP node's task is put again (the agent runs it at most
    once) and the result the agent wrote while no controller ran is taken."""
    r = Run({"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "call"}]]}, call()]})
    node_id = ids.node_id("wf", "wf[0].a")
    wf = r.ex.workflow
    again = new_execution(META, r.ex.spec, {"phase": wf.phase, "startedAt": wf.started_at}, dict(r.ex.nodes))
    res = plan(again, Observed(task_sets=[{"metadata": {"name": "wf"}, "status": {"nodes": {
        node_id: {"phase": "Succeeded", "outputs": {"result": "meanwhile"}}}}}]), T0 + 30)
    assert again.nodes[node_id].phase == "Succeeded" and again.nodes[node_id].outputs.result == "meanwhile"
    assert again.workflow.phase == "Succeeded"
    assert any(isinstance(a, PruneTaskSet) for a in res.actions)


def test_restart_re_puts_an_unfinished_task_and_asks_for_the_agent():
    r = Run({"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "call"}]]},
        {"name": "call", "http": {"url": "http://h/{{workflow.name}}"}}]})
    wf = r.ex.workflow
    again = new_execution(META, r.ex.spec, {"phase": wf.phase, "startedAt": wf.started_at}, dict(r.ex.nodes))
    res = plan(again, Observed(), T0 + 30)
    assert again.nodes[ids.node_id("wf", "wf[0].a")].phase == "Pending"
    puts = [a for a in res.actions if isinstance(a, PutTaskSet)]
    assert [t["http"]["url"] for p in puts for t in p.tasks.values()] == ["http://h/wf"]
    assert [a.pod["metadata"]["name"] for a in res.actions if isinstance(a, CreatePod)] == [AGENT]


def test_bad_outputs_in_a_result_error_the_node():
    r = Run({"entrypoint": "call", "templates": [call()]})
    r.answer(wf={"phase": "Succeeded", "outputs": {"parameters": "not a list"}})
    node = r.node("wf")
    assert node.phase == "Error" and "unreadable outputs" in node.message


def test_disable_agent_pod_creation_leaves_the_agent_to_someone_else():
    """ConfigMap `disableAgentPodCreation`: the task is put, no agent pod is made or deleted."""
    r = Run({"entrypoint": "call", "templates": [call()]}, settings=PodSettings(agent_pod_creation=False))
    assert r.of(PutTaskSet) and not r.of(CreatePod)
    r.answer(wf={"phase": "Succeeded"})
    assert r.ex.workflow.phase == "Succeeded" and not [a for a in r.actions if isinstance(a, DeletePod)]

