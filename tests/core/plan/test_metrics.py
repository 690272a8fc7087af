"""Custom metrics decided by the planner (core/plan/metrics.py): which sample, value and labels, and when.

Workflows run through the pure planner with pod outcomes chosen by each test (`_metrics_run.Run`);
the `RecordMetric` actions are what the exporter would receive.
"""
from __future__ import annotations

import pytest

from tiphys.core.plan.metrics import RecordMetric, evaluate

from ._metrics_run import T0, Run

CONTAINER = {"image": "alpine", "command": ["true"]}


def _wf(metrics: list, *, template: dict | None = None, wf_metrics: list | None = None) -> dict:
    main = {"name": "main", "metrics": {"prometheus": metrics}, "container": CONTAINER, **(template or {})}
    spec: dict = {"entrypoint": "main", "templates": [main]}
    if wf_metrics is not None:
        spec["metrics"] = {"prometheus": wf_metrics}
    return spec


def _counter(name="runs", labels=(), **extra) -> dict:
    return {"name": name, "help": "h", "labels": [{"key": k, "value": v} for k, v in labels],
            "counter": {"value": "1"}, **extra}


def _errors(run: Run) -> str:
    return next((c["message"] for c in run.conditions if c["type"] == "MetricsError"), "")


# -- the three types ----------------------------------------------------------------------------

@pytest.mark.parametrize("phase,code", [("Succeeded", 0), ("Failed", 3)])
def test_counter_on_completion_with_status_and_exit_code(phase, code):
    """A counter is emitted once, when the node completes, labelled from the node."""
    run = Run(_wf([_counter(labels=[("status", "{{status}}"), ("code", "{{exitCode}}")])]))
    assert run.named("runs") == []  # nothing while it runs
    run.finish("wf", phase, exit_code=code)
    [rec] = run.named("runs")
    assert (rec.kind, rec.value, rec.labels) == ("counter", 1.0, (("status", phase), ("code", str(code))))
    assert rec.running_since is None and rec.key == "wf/0"
    run.step()
    assert len(run.named("runs")) == 1  # later plans do not emit again


@pytest.mark.parametrize("op", ["Set", "Add", "Sub"])
def test_gauge_value_and_operation(op):
    """A gauge carries its value (here the node's duration, `%f` seconds) and its operation."""
    run = Run(_wf([{"name": "secs", "help": "h", "gauge": {"realtime": False, "value": "{{duration}}",
                                                           "operation": op}}]))
    run.finish("wf", after=9)
    [rec] = run.named("secs")
    assert (rec.kind, rec.operation, rec.value) == ("gauge", op, 10.0)


def test_histogram_value_and_buckets():
    """A histogram observes its value (an output parameter) with its buckets."""
    metric = {"name": "rand", "help": "h", "histogram": {"value": "{{outputs.parameters.n}}", "buckets": [1, 2.5, 10]}}
    run = Run(_wf([metric], template={"outputs": {"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n"}}]}}))
    run.finish("wf", outputs={"parameters": [{"name": "n", "value": "7"}]})
    [rec] = run.named("rand")
    assert (rec.kind, rec.value, rec.buckets) == ("histogram", 7.0, (1.0, 2.5, 10.0))


# -- when ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("phase,emitted", [("Succeeded", True), ("Failed", False)])
def test_when_gates_the_metric(phase, emitted):
    run = Run(_wf([_counter(when="{{status}} == Succeeded")]))
    run.finish("wf", phase, exit_code=0 if phase == "Succeeded" else 1)
    assert bool(run.named("runs")) is emitted
    assert _errors(run) == ""


def test_when_that_is_not_boolean_is_a_metrics_error():
    run = Run(_wf([_counter(when="{{exitCode}} + 1"), _counter(name="other")]))
    run.finish("wf")
    assert run.named("runs") == [] and len(run.named("other")) == 1  # the others still go out
    assert "unable to compute 'when' clause for metric 'runs'" in _errors(run)


# -- every variable of §3.3 -----------------------------------------------------------------------

def test_every_metric_variable():
    """status, duration, exitCode, retries, inputs/outputs parameters, outputs.result, resourcesDuration, globals."""
    labels = [("status", "{{status}}"), ("duration", "{{duration}}"), ("code", "{{exitCode}}"),
              ("retries", "{{retries}}"), ("inp", "{{inputs.parameters.x}}"), ("out", "{{outputs.parameters.o}}"),
              ("result", "{{outputs.result}}"), ("wf", "{{workflow.name}}"), ("param", "{{workflow.parameters.p}}"),
              ("cpu", "{{resourcesDuration.cpu}}"), ("mem", "{{resourcesDuration.memory}}")]
    spec = _wf([_counter(labels=labels)], template={
        "inputs": {"parameters": [{"name": "x", "value": "in-value"}]},
        "outputs": {"parameters": [{"name": "o", "valueFrom": {"path": "/tmp/o"}}]}})
    spec["arguments"] = {"parameters": [{"name": "p", "value": "global-value"}]}
    run = Run(spec)

    pod = run.pods["wf"]
    main = {"name": "main", "state": {"terminated": {"exitCode": 0, "startedAt": "2027-01-15T08:00:00Z",
                                                     "finishedAt": "2027-01-15T08:00:20Z"}}}
    node_id = pod["metadata"]["annotations"]["workflows.argoproj.io/node-id"]
    run.step([{**pod, "status": {"phase": "Succeeded", "containerStatuses": [main]}}],
             [{"metadata": {"name": node_id, "labels": {"workflows.argoproj.io/report-outputs-completed": "true"}},
               "outputs": {"exitCode": "0", "result": "hello", "parameters": [{"name": "o", "value": "out-value"}]}}])
    [rec] = run.named("runs")
    assert dict(rec.labels) == {
        "status": "Succeeded", "duration": "20.000000", "code": "0", "retries": "0", "inp": "in-value",
        "out": "out-value", "result": "hello", "wf": "wf", "param": "global-value", "cpu": "2", "mem": "20"}


def test_retries_counts_the_attempts_of_the_retry_node():
    """A retried template emits once, for its Retry node, with retries = attempts - 1."""
    spec = _wf([_counter(labels=[("retries", "{{retries}}"), ("status", "{{status}}")])],
               template={"retryStrategy": {"limit": 2}})
    run = Run(spec)
    run.finish("wf(0)", "Failed", exit_code=1)
    assert run.named("runs") == []  # an attempt is not the template's completion
    run.step()
    run.finish("wf(1)")
    [rec] = run.named("runs")
    assert dict(rec.labels) == {"retries": "1", "status": "Succeeded"} and rec.key == "wf/0"


def test_steps_template_metrics_on_its_completion():
    """A steps template's metrics go out when the steps node completes (after its children)."""
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "metrics": {"prometheus": [_counter(labels=[("status", "{{status}}")])]},
         "steps": [[{"name": "a", "template": "leaf"}]]},
        {"name": "leaf", "container": CONTAINER}]}
    run = Run(spec)
    assert run.named("runs") == []
    run.finish("wf[0].a")
    [rec] = run.named("runs")
    assert rec.labels == (("status", "Succeeded"),) and rec.key == "wf/0"


# -- real time -----------------------------------------------------------------------------------

def test_realtime_gauge_while_running_then_final():
    """A real-time gauge is emitted at creation as a clock from the node's start, then fixed at completion."""
    run = Run(_wf([{"name": "clock", "help": "h", "gauge": {"realtime": True, "value": "{{duration}}"}}]))
    [live] = run.named("clock")
    assert live.running_since == T0 and live.kind == "gauge"
    run.finish("wf", after=11)
    final = run.named("clock")[-1]
    assert final.running_since is None and final.value == 12.0 and final.key == live.key


def test_workflow_level_metrics():
    """Workflow real-time gauges from its start; all workflow metrics at its completion, with its final status."""
    wf_metrics = [{"name": "wf_clock", "help": "h", "gauge": {"realtime": True, "value": "{{workflow.duration}}"}},
                  _counter(name="wf_runs", labels=[("status", "{{workflow.status}}")]),
                  {"name": "wf_secs", "help": "h", "gauge": {"realtime": False, "value": "{{workflow.duration}}"}}]
    run = Run({"entrypoint": "main", "templates": [{"name": "main", "container": CONTAINER}],
               "metrics": {"prometheus": wf_metrics}})
    assert [(r.name, r.running_since) for r in run.records] == [("wf_clock", T0)]
    run.finish("wf", "Failed", exit_code=1, after=6)
    got = {r.name: r for r in run.records[1:]}
    assert got["wf_runs"].labels == (("status", "Failed"),) and got["wf_runs"].key == "/1"
    assert got["wf_secs"].value == 7.0 and got["wf_clock"].value == 7.0 and got["wf_clock"].running_since is None


# -- errors ---------------------------------------------------------------------------------------

def test_unresolved_variable_is_a_metrics_error_as_in_argo():
    """Argo substitutes the whole metric strictly: a missing output fails it even under a false `when`."""
    metric = {"name": "n", "help": "h", "when": "{{status}} == Succeeded",
              "histogram": {"value": "{{outputs.parameters.n}}", "buckets": [1]}}
    run = Run(_wf([metric]))
    run.finish("wf", "Failed", exit_code=1)
    assert run.named("n") == []
    assert "unable to substitute parameters for metric 'n'" in _errors(run)
    assert "outputs.parameters.n" in _errors(run)


def test_invalid_metric_at_run_time_and_messages_joined():
    """An invalid metric (never linted) is reported, the valid ones still emitted; messages are joined."""
    run = Run(_wf([_counter(name="bad-name"), {"name": "nan", "help": "h", "gauge": {"realtime": False,
                                                                                      "value": "{{status}}"}},
                   _counter(name="good")]))
    run.finish("wf")
    assert [r.name for r in run.records] == ["good"]
    message = _errors(run)
    assert message.startswith("metric name 'bad-name' is invalid")
    assert ", could not compute metric 'nan': strconv.ParseFloat: parsing 'Succeeded': invalid syntax" in message


def test_templated_name_is_refused():
    """Argo validates the name as written: a tag in it is not a valid metric name."""
    result, errors = evaluate([_counter(name="{{x}}")], {"x": "ab"}, owner="n", workflow_level=False,
                              realtime_only=False, running_since=None)
    assert result == [] and errors == ["metric name '{{x}}' is invalid: names may only contain alphanumeric "
                                       "characters or '_'"]


def test_help_and_label_values_are_substituted():
    metric = {"name": "m", "help": "runs of {{workflow.name}}", "labels": [{"key": "k", "value": "{{x}}"}],
              "counter": {"value": "{{n}}"}}
    result, errors = evaluate([metric], {"workflow.name": "w", "x": "v", "n": "2.5"}, owner="n",
                              workflow_level=False, realtime_only=False, running_since=None)
    assert errors == [] and result == [RecordMetric(name="m", help="runs of w", kind="counter", labels=(("k", "v"),),
                                                    value=2.5, key="n/0")]


def test_realtime_only_skips_other_metrics():
    metrics = [_counter(), {"name": "c", "help": "h", "gauge": {"realtime": True, "value": "{{duration}}"}}]
    result, errors = evaluate(metrics, {"duration": "3.000000"}, owner="n", workflow_level=False,
                              realtime_only=True, running_since=5.0)
    assert errors == [] and result == [RecordMetric(name="c", help="h", kind="gauge", running_since=5.0, key="n/1")]


# -- restart ----------------------------------------------------------------------------------------

def test_restart_does_not_count_a_completed_node_twice():
    """Nodes fulfilled before a restart are never emitted again; one still running is, when it completes."""
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "leaf"}], [{"name": "b", "template": "leaf"}]]},
        {"name": "leaf", "metrics": {"prometheus": [
            _counter(labels=[("node", "{{inputs.parameters.n}}")]),
            {"name": "clock", "help": "h", "gauge": {"realtime": True, "value": "{{duration}}"}}]},
         "inputs": {"parameters": [{"name": "n", "default": "x"}]}, "container": CONTAINER}]}
    run = Run(spec)
    run.finish("wf[0].a")
    assert len(run.named("runs")) == 1
    again = run.restarted()
    assert again.named("runs") == []
    clocks = again.named("clock")  # the running node's real-time gauge is re-emitted for the new process
    assert len(clocks) == 1 and clocks[0].running_since is not None
    again.finish("wf[1].b")
    assert len(again.named("runs")) == 1
    again.step()
    assert len(again.named("runs")) == 1
