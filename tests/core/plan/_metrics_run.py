"""A workflow driven through the pure planner with chosen pod outcomes, collecting RecordMetric actions."""
from __future__ import annotations

from tiphys.core.plan.actions import CreatePod
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.metrics import RecordMetric
from tiphys.core.plan.observe import NODE_NAME
from tiphys.core.plan.planner import Observed, new_execution, plan

T0 = 1_800_000_000.0
META = WorkflowMeta(name="wf", namespace="ns", uid="u-1")


class Run:
    def __init__(self, spec: dict, *, nodes: dict | None = None, status: dict | None = None, now: float = T0) -> None:
        self.spec = spec
        self.ex = new_execution(META, spec, status or {}, nodes or {})
        self.now = now
        self.pods: dict[str, dict] = {}
        self.records: list[RecordMetric] = []
        self.step()

    def step(self, pods: list[dict] = (), results: list[dict] = ()) -> None:
        result = plan(self.ex, Observed(pods=list(pods), task_results=list(results)), self.now)
        for action in result.actions:
            if isinstance(action, CreatePod):
                self.pods[action.pod["metadata"]["annotations"][NODE_NAME]] = action.pod
            elif isinstance(action, RecordMetric):
                self.records.append(action)
        self.now += 1

    def finish(self, node: str, phase: str = "Succeeded", *, exit_code: int = 0, after: float = 0.0,
               outputs: dict | None = None) -> None:
        """The pod of `node` ends in `phase` `after` seconds from now, reporting `outputs`."""
        self.now += after
        pod = self.pods[node]
        main = {"name": "main", "state": {"terminated": {"exitCode": exit_code, "reason": "Completed"}}}
        observed = {**pod, "status": {"phase": phase, "containerStatuses": [main]}}
        node_id = pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
        result = {"metadata": {"name": node_id, "labels": {"workflows.argoproj.io/report-outputs-completed": "true"}},
                  "outputs": {"exitCode": str(exit_code), **(outputs or {})}}
        self.step([observed], [result])

    def restarted(self) -> "Run":
        wf = self.ex.workflow
        status = {"phase": wf.phase, "startedAt": wf.started_at, "conditions": list(wf.conditions)}
        again = Run.__new__(Run)
        again.spec, again.now, again.pods, again.records = self.spec, self.now, dict(self.pods), []
        again.ex = new_execution(META, self.spec, status, dict(self.ex.nodes))
        again.step()
        return again

    def named(self, name: str) -> list[RecordMetric]:
        return [r for r in self.records if r.name == name]

    @property
    def conditions(self) -> list[dict]:
        return self.ex.workflow.conditions
