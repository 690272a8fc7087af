"""Custom metrics on the completion path: the decision for one node, and a fan-out completed at once.

`evaluate` runs once per completed node whose template has metrics (core/plan/metrics.py); nodes
without metrics pay one dict lookup. The fan-out figure compares the same 2,000-pod completion with
and without two template metrics (a labelled counter and a real-time gauge), interleaved, in CPU
time. Figures only: there is no second implementation to gate against.
"""
from __future__ import annotations

from tiphys.core.plan.actions import CreatePod
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.metrics import evaluate
from tiphys.core.plan.observe import NODE_NAME
from tiphys.core.plan.planner import Observed, new_execution, plan

METRICS = [{"name": "runs", "help": "h", "labels": [{"key": "status", "value": "{{status}}"},
                                                    {"key": "i", "value": "{{inputs.parameters.i}}"}],
            "counter": {"value": "1"}},
           {"name": "clock", "help": "h", "gauge": {"realtime": True, "value": "{{duration}}"}}]
N = 2000
T0 = 1_800_000_000.0


def test_evaluate_two_metrics(benchmark):
    scope = {"status": "Succeeded", "inputs.parameters.i": "3", "duration": "1.000000", "workflow.name": "wf"}
    records, errors = benchmark(lambda: evaluate(METRICS, scope, owner="n", workflow_level=False,
                                                 realtime_only=False, running_since=None))
    assert len(records) == 2 and errors == []


def _spec(metrics: bool) -> dict:
    leaf = {"name": "leaf", "inputs": {"parameters": [{"name": "i"}]}, "container": {"image": "a", "command": ["x"]}}
    if metrics:
        leaf["metrics"] = {"prometheus": METRICS}
    return {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "s", "template": "leaf", "withSequence": {"count": str(N)},
                                     "arguments": {"parameters": [{"name": "i", "value": "{{item}}"}]}}]]}, leaf]}


def _started(metrics: bool):
    ex = new_execution(WorkflowMeta(name="wf", namespace="ns", uid="u"), _spec(metrics), {}, {})
    result = plan(ex, Observed(), T0)
    pods, results = [], []
    for action in result.actions:
        if isinstance(action, CreatePod):
            pod = action.pod
            pods.append({**pod, "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "main", "state": {"terminated": {"exitCode": 0}}}]}})
            results.append({"metadata": {"name": pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"],
                                         "labels": {"workflows.argoproj.io/report-outputs-completed": "true"}},
                            "outputs": {"exitCode": "0"}})
    assert len(pods) == N and all(NODE_NAME in p["metadata"]["annotations"] for p in pods)
    return ex, Observed(pods=pods, task_results=results)


def _complete(state) -> None:
    ex, observed = state
    plan(ex, observed, T0 + 5)
    assert ex.workflow.phase == "Succeeded"


def test_fan_out_completion_with_and_without_metrics(measure, record):
    plain, with_metrics = measure(_complete, _complete, setups=(lambda: _started(False), lambda: _started(True)),
                                  repeat=3)
    record("fan-out completion, per node, no metrics", f"{1e6 * plain / N:.1f} µs")
    record("fan-out completion, per node, 2 template metrics", f"{1e6 * with_metrics / N:.1f} µs")
