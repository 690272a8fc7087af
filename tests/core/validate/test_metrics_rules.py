"""Lint of `metrics.prometheus[]` (core/validate/metrics.py): each rule, with the field path it names."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tiphys.core.validate import lint_texts

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "argo" / "examples"


def _lint(metric: dict, *, workflow_level: bool = False) -> list[tuple[str, str]]:
    template = {"name": "main", "container": {"image": "alpine"}}
    spec: dict = {"entrypoint": "main", "templates": [template]}
    (spec if workflow_level else template)["metrics"] = {"prometheus": [metric]}
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "m-"}, "spec": spec}
    [report] = lint_texts([("m.yaml", yaml.safe_dump(doc).encode())])
    return [(e.path, e.message) for e in report.errors]


GOOD = {"name": "ok_1", "help": "h", "counter": {"value": "1"}}
T = "spec.templates[0].metrics.prometheus[0]"
W = "spec.metrics.prometheus[0]"


@pytest.mark.parametrize("metric,path,message", [
    pytest.param({**GOOD, "name": "bad-name"}, f"{T}.name", "metric name 'bad-name' is invalid", id="name"),
    pytest.param({k: v for k, v in GOOD.items() if k != "help"}, f"{T}.help", "help is required", id="help"),
    pytest.param({**GOOD, "labels": [{"key": "a.b", "value": "x"}]}, f"{T}.labels[0].key",
                 "metric label 'a.b' is invalid", id="label-key"),
    pytest.param({**GOOD, "labels": [{"key": "9a", "value": "x"}]}, f"{T}.labels[0].key",
                 "may not start with a digit", id="label-digit"),
    pytest.param({"name": "m", "help": "h"}, T, "must be exactly one of gauge, counter or histogram (sets none)",
                 id="no-type"),
    pytest.param({**GOOD, "gauge": {"value": "1", "realtime": False}}, T, "(sets gauge, counter)", id="two-types"),
    pytest.param({"name": "m", "help": "h", "counter": {"value": ""}}, f"{T}.counter.value", "missing counter.value",
                 id="empty-value"),
    pytest.param({"name": "m", "help": "h", "gauge": {"value": "1", "realtime": False, "operation": "Mul"}},
                 f"{T}.gauge.operation", "gauge operation 'Mul' is not one of Set, Add, Sub", id="operation"),
    pytest.param({"name": "m", "help": "h", "histogram": {"value": "1", "buckets": [1, 3, 2]}},
                 f"{T}.histogram.buckets[2]", "histogram buckets must be in increasing order: 2 follows 3",
                 id="buckets-order"),
    pytest.param({"name": "m", "help": "h", "histogram": {"value": "1", "buckets": [1, 1]}},
                 f"{T}.histogram.buckets[1]", "increasing order", id="buckets-equal"),
    pytest.param({"name": "m", "help": "h", "histogram": {"value": "1", "buckets": []}},
                 f"{T}.histogram.buckets", "histogram buckets are required", id="buckets-empty"),
    pytest.param({"name": "m", "help": "h", "gauge": {"value": "{{status}}", "realtime": True}},
                 f"{T}.gauge.value", "a real-time gauge's value must be '{{duration}}' at template level",
                 id="realtime-template"),
    pytest.param({"name": "m", "help": "h", "gauge": {"value": "{{resourcesDuration.cpu}}", "realtime": True}},
                 f"{T}.gauge.value", "'resourcesDuration.*' metrics cannot be used in real-time",
                 id="realtime-resources"),
])
def test_template_metric_rule(metric, path, message):
    errors = _lint(metric)
    assert len(errors) == 1 and errors[0][0] == path and message in errors[0][1], errors


def test_workflow_level_realtime_needs_workflow_duration():
    bad = {"name": "m", "help": "h", "gauge": {"value": "{{duration}}", "realtime": True}}
    [(path, message)] = _lint(bad, workflow_level=True)
    assert path == f"{W}.gauge.value" and "'{{workflow.duration}}' at workflow level" in message
    assert _lint({**bad, "gauge": {"value": "{{workflow.duration}}", "realtime": True}}, workflow_level=True) == []


def test_valid_metrics_pass():
    for metric in (GOOD, {"name": "g", "help": "h", "gauge": {"value": "{{duration}}", "realtime": True}},
                   {"name": "h", "help": "h", "labels": [{"key": "s", "value": "{{status}}"}],
                    "histogram": {"value": "{{duration}}", "buckets": [0.5, 1, 2.01]}}):
        assert _lint(metric) == []


@pytest.mark.parametrize("name", ["custom-metrics.yaml", "dag-custom-metrics.yaml", "variables-showcase.yaml"])
def test_argo_metric_examples_lint_clean(name):
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"Argo's examples are not beside the repository ({path})")
    [report] = lint_texts([(name, path.read_bytes())])
    assert report.errors == []
