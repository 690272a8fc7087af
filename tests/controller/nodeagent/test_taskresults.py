"""The task-result relay: files written by `wait` become WorkflowTaskResults in the pod's namespace."""
from __future__ import annotations

import json
import os

from tiphys.controller.api import WORKFLOW_TASK_RESULTS, EmbeddedApi
from tiphys.controller.nodeagent.taskresults import TaskResultRelay


def _result(name: str, completed: bool, namespace: str = "elsewhere", **outputs) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskResult",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"workflows.argoproj.io/report-outputs-completed": str(completed).lower()}},
            **({"outputs": outputs} if outputs else {})}


def _write(directory, obj: dict, *, stamp: int) -> None:
    path = directory / f"{obj['metadata']['name']}.json"
    path.write_text(json.dumps(obj))
    os.utime(path, ns=(stamp, stamp))  # distinct marks even within one clock tick


async def test_relay_creates_then_replaces_in_the_pods_namespace(tmp_path):
    """First sync creates, an unchanged file is not re-sent, a changed one replaces the object."""
    api = EmbeddedApi()
    relay = TaskResultRelay(api, tmp_path, "team-a")
    await relay.sync()  # nothing yet: fine
    tmp_path.mkdir(exist_ok=True)
    _write(tmp_path, _result("node-1", False), stamp=1_000_000_000)
    await relay.sync()
    first = await api.get(WORKFLOW_TASK_RESULTS, "node-1", namespace="team-a")
    assert first["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "false"
    await relay.sync()
    assert relay.relayed == 1
    _write(tmp_path, _result("node-1", True, result="42"), stamp=2_000_000_000)
    await relay.sync()
    final = await api.get(WORKFLOW_TASK_RESULTS, "node-1", namespace="team-a")
    assert final["outputs"] == {"result": "42"} and relay.relayed == 2
    assert final["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert (await api.list(WORKFLOW_TASK_RESULTS, namespace="elsewhere")).items == []


async def test_relay_skips_bad_files_and_temporaries(tmp_path):
    """Invalid JSON, objects without a name and `.x.json.tmp`-style temporaries are not sent."""
    api = EmbeddedApi()
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "noname.json").write_text(json.dumps({"metadata": {}}))
    (tmp_path / ".partial.json").write_text(json.dumps(_result("partial", False)))
    relay = TaskResultRelay(api, tmp_path, "ns")
    await relay.sync()
    assert relay.relayed == 0
    assert (await api.list(WORKFLOW_TASK_RESULTS)).items == []
