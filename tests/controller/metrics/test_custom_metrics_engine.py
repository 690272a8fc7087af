"""Custom metrics end to end: the engine on the embedded API, the simulated kubelet, the exporter's text.

Each test runs a workflow through `LocalSession` with a `ControllerMetrics` bound to its engine,
then scrapes `exposition()` as Prometheus would and reads the `argo_workflows_<name>` samples.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import yaml

from tiphys.controller.local import LocalSession
from tiphys.controller.metrics import ControllerMetrics
from tiphys.controller.simkubelet import SimOutcome

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "argo" / "examples"


def _run(wf: dict, behaviour=None) -> tuple[dict, str, ControllerMetrics]:
    async def go() -> tuple[dict, str, ControllerMetrics]:
        session = LocalSession(behaviour=behaviour)
        metrics = ControllerMetrics()
        metrics.bind(engine=session.engine)
        async with session:
            final = await session.run(wf, timeout=30)
            await asyncio.sleep(0.05)
            return final, metrics.exposition().decode(), metrics
    return asyncio.run(go())


def _samples(text: str, name: str) -> dict[str, float]:
    """`{labels text: value}` of the samples named exactly `name`."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def _exit_by_node(codes: dict[str, int]):
    def behaviour(pod: dict, template: dict) -> SimOutcome:
        node = pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]
        for suffix, code in codes.items():
            if node.endswith(suffix):
                return SimOutcome(exit_code=code)
        return SimOutcome()
    return behaviour


def test_counter_gauge_histogram_and_workflow_metrics():
    """Template counters per status, a histogram of an output, a gauge of the duration, workflow metrics."""
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "cm-"},
          "spec": {"entrypoint": "main",
                   "metrics": {"prometheus": [
                       {"name": "wf_result", "help": "workflow result", "labels": [
                           {"key": "status", "value": "{{workflow.status}}"}], "counter": {"value": "1"}}]},
                   "templates": [
                       {"name": "main", "steps": [[{"name": "ok", "template": "work"}],
                                                  [{"name": "bad", "template": "work",
                                                    "continueOn": {"failed": True}}]]},
                       {"name": "work", "outputs": {"parameters": [{"name": "n", "valueFrom": {
                           "path": "/tmp/n", "default": "3"}}]},
                        "metrics": {"prometheus": [
                            {"name": "work_runs", "help": "runs by status", "labels": [
                                {"key": "status", "value": "{{status}}"}], "counter": {"value": "1"}},
                            {"name": "work_n", "help": "n", "when": "{{status}} == Succeeded",
                             "histogram": {"buckets": [1, 5, 10], "value": "{{outputs.parameters.n}}"}},
                            {"name": "work_seconds", "help": "duration", "gauge": {
                                "realtime": False, "value": "{{duration}}"}}]},
                        "container": {"image": "alpine", "command": ["true"]}}]}}
    final, text, _ = _run(wf, _exit_by_node({"[1].bad": 1}))
    assert final["status"]["phase"] == "Succeeded"
    assert _samples(text, "argo_workflows_work_runs") == {'{status="Succeeded"}': 1.0, '{status="Failed"}': 1.0}
    assert _samples(text, "argo_workflows_work_n_bucket") == {
        '{le="1.0"}': 0.0, '{le="5.0"}': 1.0, '{le="10.0"}': 1.0, '{le="+Inf"}': 1.0}
    assert _samples(text, "argo_workflows_work_n_count") == {"": 1.0}
    assert _samples(text, "argo_workflows_work_n_sum") == {"": 3.0}
    assert list(_samples(text, "argo_workflows_work_seconds").values())[0] >= 0.0
    assert _samples(text, "argo_workflows_wf_result") == {'{status="Succeeded"}': 1.0}
    assert "# TYPE argo_workflows_work_runs counter" in text
    assert "# HELP argo_workflows_work_runs runs by status" in text
    assert "# TYPE argo_workflows_work_n histogram" in text
    assert not [c for c in final["status"].get("conditions") or () if c["type"] == "MetricsError"]


def test_runtime_error_becomes_a_metrics_error_condition():
    """A value that is not a number: no sample, and Argo's MetricsError condition on the workflow."""
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "cm-"},
          "spec": {"entrypoint": "main", "templates": [
              {"name": "main", "metrics": {"prometheus": [
                  {"name": "bad_value", "help": "h", "gauge": {"realtime": False, "value": "{{status}}"}}]},
               "container": {"image": "alpine", "command": ["true"]}}]}}
    final, text, _ = _run(wf)
    assert final["status"]["phase"] == "Succeeded"
    conds = {c["type"]: c for c in final["status"].get("conditions") or ()}
    assert conds["MetricsError"]["status"] == "True"
    assert "could not compute metric 'bad_value'" in conds["MetricsError"]["message"]
    assert "argo_workflows_bad_value" not in text


def test_custom_metrics_example_runs():
    """Argo's examples/custom-metrics.yaml: histogram, counter by status and the real-time gauges."""
    path = EXAMPLES / "custom-metrics.yaml"
    if not path.exists():
        pytest.skip(f"Argo's examples are not beside the repository ({path})")
    wf = yaml.safe_load(path.read_text())

    def behaviour(pod: dict, template: dict) -> SimOutcome:
        node = pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]
        if node.endswith(".random-int"):
            return SimOutcome(parameters={"rand-int-value": "7"})
        return SimOutcome(exit_code=1 if node.endswith(".flakey") else 0)

    final, text, _ = _run(wf, behaviour)
    assert final["status"]["phase"] == "Failed"
    assert _samples(text, "argo_workflows_random_int_step_histogram_bucket") == {
        '{le="2.01"}': 0.0, '{le="4.01"}': 0.0, '{le="6.01"}': 0.0, '{le="8.01"}': 1.0, '{le="10.01"}': 1.0,
        '{le="+Inf"}': 1.0}
    assert _samples(text, "argo_workflows_result_counter") == {'{name="flakey",status="Failed"}': 1.0}
    gauges = _samples(text, "argo_workflows_duration_gauge")
    assert set(gauges) == {'{name="workflow"}', '{name="steps"}', '{name="random-int"}'}
    assert all(v >= 0 for v in gauges.values())
    assert not [c for c in final["status"].get("conditions") or () if c["type"] == "MetricsError"]


def test_invalid_metric_fails_the_workflow_at_first_reconcile():
    """A spec that lint would refuse fails as Argo fails it: `invalid spec: ...` naming the field."""
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "cm-"},
          "spec": {"entrypoint": "main", "templates": [
              {"name": "main", "metrics": {"prometheus": [
                  {"name": "runs", "help": "h", "histogram": {"value": "1", "buckets": [5, 1]}}]},
               "container": {"image": "alpine", "command": ["true"]}}]}}
    final, _, _ = _run(wf)
    assert final["status"]["phase"] == "Failed"
    assert final["status"]["message"] == (
        "invalid spec: spec.templates[0].metrics.prometheus[0].histogram.buckets[1]: metric 'runs': "
        "histogram buckets must be in increasing order: 1 follows 5")


def test_dag_custom_metrics_example_runs():
    """Argo's examples/dag-custom-metrics.yaml: per-task labels from inputs, workflow metrics with its status."""
    path = EXAMPLES / "dag-custom-metrics.yaml"
    if not path.exists():
        pytest.skip(f"Argo's examples are not beside the repository ({path})")
    final, text, _ = _run(yaml.safe_load(path.read_text()))
    assert final["status"]["phase"] == "Succeeded"
    tags = ("TEST-ONE-A", "TEST-ONE-B", "TEST-TWO-A", "TEST-TWO-B")
    assert _samples(text, "argo_workflows_playground_workflow_result_task_counter") == {
        f'{{playground_task_name_counter="{t}",status="Succeeded"}}': 1.0 for t in tags}
    assert set(_samples(text, "argo_workflows_playground_workflow_duration_task_seconds")) == {
        f'{{playground_task_name="{t}",status="Succeeded"}}' for t in tags}
    assert _samples(text, "argo_workflows_playground_workflow_result_counter") == {
        '{playground_id_workflow_counter="test",status="Succeeded"}': 1.0}
    [duration] = _samples(text, "argo_workflows_playground_workflow_duration").values()
    assert duration >= 0.0
