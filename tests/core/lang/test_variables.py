"""Scope builders for Argo's variable table (§3.3)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from tiphys.core.lang import (build_env, creation_timestamp_vars, failures_value, inputs_vars,
                              local_vars, node_vars, retry_vars, substitute, workflow_vars)

TS = dt.datetime(2024, 3, 5, 14, 7, 9, tzinfo=dt.timezone.utc)

CREATION = [
    ("", "2024-03-05T14:07:09Z"), (".RFC3339", "2024-03-05T14:07:09Z"), (".s", "1709647629"),
    (".B", "March"), (".b", "Mar"), (".m", "03"), (".A", "Tuesday"), (".a", "Tue"), (".d", "05"),
    (".H", "14"), (".I", "02"), (".M", "07"), (".S", "09"), (".Y", "2024"), (".y", "24"),
    (".p", "PM"), (".Z", "UTC"), (".z", "+0000"), (".L", ".000"),
]


@pytest.mark.parametrize(("suffix", "value"), [pytest.param(s, v, id=s or "bare") for s, v in CREATION])
def test_creation_timestamp_forms(suffix: str, value: str) -> None:
    """`workflow.creationTimestamp.<c>` follows the strftime → Go layout table."""
    assert creation_timestamp_vars(TS)[f"workflow.creationTimestamp{suffix}"] == value


def test_creation_timestamp_other_zone() -> None:
    """A non-UTC controller zone renders offsets Go's way."""
    ts = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    v = creation_timestamp_vars(ts)
    assert v["workflow.creationTimestamp"] == "2024-01-02T03:04:05-07:00"
    assert v["workflow.creationTimestamp.z"] == "-0700"
    assert v["workflow.creationTimestamp.I"] == "03" and v["workflow.creationTimestamp.p"] == "AM"


def _wf(**kw: object) -> dict[str, str]:
    return workflow_vars(name="wf", namespace="ns", uid="u", creation_timestamp=TS,
                         main_entrypoint="main", **kw)


def test_workflow_globals() -> None:
    """Names, parameters (individually and as JSON), labels and annotations."""
    v = _wf(parameters=[{"name": "a", "value": "1"}, {"name": "b", "default": "d", "description": "x<"}],
            labels={"team": "x", "app": "y"}, annotations={"note": "<b>"})
    assert v["workflow.name"] == "wf" and v["workflow.mainEntrypoint"] == "main"
    assert v["workflow.parameters.a"] == "1" and v["workflow.parameters.b"] == "d"
    assert v["workflow.parameters.json"] == \
        '[{"name":"a","value":"1"},{"name":"b","default":"d","description":"x\\u003c"}]'
    assert v["workflow.parameters"] == v["workflow.parameters.json"]
    assert v["workflow.labels.json"] == '{"app":"y","team":"x"}'
    assert v["workflow.labels.team"] == "x" and v["workflow.annotations.note"] == "<b>"
    assert v["workflow.annotations"] == '{"note":"\\u003cb\\u003e"}'
    for optional in ("workflow.priority", "workflow.scheduledTime", "workflow.status",
                     "workflow.duration", "workflow.failures"):
        assert optional not in v


def test_workflow_optional_globals() -> None:
    """priority/status/duration/failures exist only when given."""
    v = _wf(priority=5, status="Running", duration=12.3456789, failures=[], scheduled_time="t")
    assert v["workflow.priority"] == "5" and v["workflow.status"] == "Running"
    assert v["workflow.duration"] == "12.345679" and v["workflow.failures"] == '"null"'
    assert v["workflow.scheduledTime"] == "t"


def test_workflow_parameters_in_expressions() -> None:
    """`workflow.parameters` (bare JSON) is hidden in expressions; `.json` and names are not."""
    v = _wf(parameters=[{"name": "flag", "value": "true"}])
    env = build_env(v)
    assert isinstance(env["workflow"]["parameters"], dict)
    assert substitute("{{=jsonpath(workflow.parameters.json, '$[0].value')}}", v) == "true"
    assert substitute("{{workflow.parameters}}", v) == '[{"name":"flag","value":"true"}]'


def test_failures_double_encoded() -> None:
    """Consumers decode workflow.failures twice."""
    text = failures_value([{"displayName": "s", "message": "m", "templateName": "t",
                            "phase": "Failed", "podName": "p", "finishedAt": TS}])
    inner = json.loads(json.loads(text))
    assert inner == [{"displayName": "s", "finishedAt": "2024-03-05T14:07:09Z", "message": "m",
                      "phase": "Failed", "podName": "p", "templateName": "t"}]


def test_inputs_and_paths() -> None:
    """inputs.parameters.<n>, the JSON array, and declared paths."""
    v = inputs_vars([{"name": "x", "value": "1"}, {"name": "y", "default": "2"}],
                    artifact_paths={"a": "/tmp/a"}, output_parameter_paths={"o": "/tmp/o"},
                    output_artifact_paths={"r": "/tmp/r"})
    assert v == {"inputs.parameters": '[{"name":"x","value":"1"},{"name":"y","default":"2"}]',
                 "inputs.parameters.x": "1", "inputs.parameters.y": "2",
                 "inputs.artifacts.a.path": "/tmp/a", "outputs.parameters.o.path": "/tmp/o",
                 "outputs.artifacts.r.path": "/tmp/r"}


def test_node_vars() -> None:
    """steps.<s>.* only carries what the node has; None marks absent outputs."""
    v = node_vars("steps", "gen", id="wf-123", status="Succeeded", started_at=TS,
                  exit_code="0", result="out", parameters={"p": "1", "skipped": None})
    assert v == {"steps.gen.id": "wf-123", "steps.gen.status": "Succeeded",
                 "steps.gen.startedAt": "2024-03-05T14:07:09Z", "steps.gen.exitCode": "0",
                 "steps.gen.outputs.result": "out", "steps.gen.outputs.parameters.p": "1",
                 "steps.gen.outputs.parameters.skipped": None}
    assert node_vars("tasks", "t", result=None) == {"tasks.t.outputs.result": None}
    with pytest.raises(ValueError):
        node_vars("dag", "t")


def test_retry_and_local_vars() -> None:
    """retries/lastRetry defaults on the first attempt; pod/node/step names."""
    assert retry_vars(0) == {"retries": "0", "lastRetry.exitCode": "0", "lastRetry.status": "",
                             "lastRetry.duration": "0", "lastRetry.message": ""}
    assert substitute("{{=asInt(lastRetry.exitCode) > 0 || retries == '2'}}",
                      retry_vars(2, last_exit_code="0")) == "true"
    assert local_vars(pod_name="p", step_name="s") == {"pod.name": "p", "steps.name": "s"}
