"""retryStrategy.affinity.nodeAntiAffinity in the planner: each attempt's pod is kept off the hosts
(`hostNodeName`) of the Retry node's earlier attempts; without the field nothing is added."""
from __future__ import annotations

import pytest

from tiphys.core.plan.actions import CreatePod
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.planner import Observed, new_execution, plan

T0 = 1_800_000_000.0
META = WorkflowMeta(name="wf", namespace="ns", uid="u-1")
HOSTNAME = "kubernetes.io/hostname"


def _spec(retry: dict, *, affinity: dict | None = None, workflow_level: bool = False) -> dict:
    leaf = {"name": "main", "container": {"image": "busybox", "command": ["false"]}}
    if affinity is not None:
        leaf["affinity"] = affinity
    spec = {"entrypoint": "main", "templates": [leaf]}
    if workflow_level:
        spec["retryStrategy"] = retry
    else:
        leaf["retryStrategy"] = retry
    return spec


class Attempts:
    """Drives a retried leaf: each attempt's pod fails on the host given."""

    def __init__(self, spec: dict) -> None:
        self.ex = new_execution(META, spec, {}, {})
        self.now = T0
        self.pods: list[dict] = self._creates(plan(self.ex, Observed(), self.now))

    def _creates(self, result) -> list[dict]:
        return [a.pod for a in result.actions if isinstance(a, CreatePod)]

    def fail_last(self, host: str) -> list[dict]:
        pod = self.pods[-1]
        node_id = pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
        main = {"name": "main", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
        seen = {**pod, "spec": {**pod["spec"], "nodeName": host}, "status": {"phase": "Failed",
                                                                             "containerStatuses": [main]}}
        result = {"metadata": {"name": node_id, "labels": {"workflows.argoproj.io/report-outputs-completed": "true"}},
                  "outputs": {"exitCode": "1"}}
        self.now += 1
        made = self._creates(plan(self.ex, Observed(pods=[seen], task_results=[result]), self.now))
        self.pods += made
        return made


def _not_in(pod: dict) -> list[list[str]]:
    """The NotIn hostname values of each node selector term."""
    terms = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    return [[v for e in t.get("matchExpressions") or () if e["key"] == HOSTNAME and e["operator"] == "NotIn"
             for v in e["values"]] for t in terms]


@pytest.mark.parametrize("workflow_level", [False, True], ids=["template", "workflow-level"])
def test_each_attempt_avoids_the_hosts_of_the_earlier_ones(workflow_level):
    run = Attempts(_spec({"limit": 3, "affinity": {"nodeAntiAffinity": {}}}, workflow_level=workflow_level))
    assert len(run.pods) == 1 and "affinity" not in run.pods[0]["spec"]  # no earlier attempt: nothing to avoid
    [second] = run.fail_last("node-a")
    assert _not_in(second) == [["node-a"]]
    [third] = run.fail_last("node-b")
    assert _not_in(third) == [["node-a", "node-b"]]
    [fourth] = run.fail_last("node-a")  # a host is named once
    assert _not_in(fourth) == [["node-a", "node-b"]]


def test_without_node_anti_affinity_nothing_is_added():
    for retry in ({"limit": 2}, {"limit": 2, "affinity": {}}):
        run = Attempts(_spec(retry))
        [second] = run.fail_last("node-a")
        assert "affinity" not in second["spec"]


def test_an_attempt_without_a_host_adds_nothing():
    """A pod that never got a node (hostNodeName empty) names no host."""
    run = Attempts(_spec({"limit": 2, "affinity": {"nodeAntiAffinity": {}}}))
    [second] = run.fail_last("")
    assert "affinity" not in second["spec"]


def test_the_templates_own_node_affinity_terms_each_get_the_requirement():
    own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]}}}
    run = Attempts(_spec({"limit": 2, "affinity": {"nodeAntiAffinity": {}}}, affinity=own))
    [second] = run.fail_last("node-a")
    assert _not_in(second) == [["node-a"], ["node-a"]]
    terms = second["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [t["matchExpressions"][0]["values"] for t in terms["nodeSelectorTerms"]] == [["z1"], ["z2"]]
    assert len(own["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
               ["matchExpressions"]) == 1  # the spec is not edited


def test_a_restarted_controller_still_avoids_the_earlier_hosts():
    """After a restart the attempts (and their hosts) come from the stored nodes."""
    spec = _spec({"limit": 3, "affinity": {"nodeAntiAffinity": {}}})
    run = Attempts(spec)
    run.fail_last("node-a")
    nodes = dict(run.ex.nodes)
    second_id = run.pods[-1]["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
    again = new_execution(META, spec, {"phase": "Running", "startedAt": "2027-01-15T08:00:00Z"}, nodes)
    made = [a.pod for a in plan(again, Observed(), run.now + 1).actions if isinstance(a, CreatePod)]
    assert [p["metadata"]["annotations"]["workflows.argoproj.io/node-id"] for p in made] == [second_id]
    assert _not_in(made[0]) == [["node-a"]]
