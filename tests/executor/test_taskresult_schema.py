"""The task result we write is a valid WorkflowTaskResult by Argo's own CRD schema.

Kubernetes prunes fields a structural schema does not declare, silently; so the check is strict:
every object with declared `properties` is closed (`additionalProperties: false`) unless the CRD
preserves unknown fields there. A misnamed field would vanish on a real API server; here it fails.
"""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiphys.executor import WaitSettings, run_wait
from tiphys.executor.artifacts import ArtifactRepository, LocalDriver

from ..conftest import argo_path
from .conftest import Emissary
from .test_init_wait import Sink, _no_sleep

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed; CRD schema check skipped")


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    doc = yaml.safe_load(argo_path("crds", "full", "argoproj.io_workflowtaskresults.yaml").read_text())
    schema = copy.deepcopy(doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    schema = _closed(schema)
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta is validated by the API server itself
    return schema


def test_full_task_result_matches_the_crd(crd_schema: dict[str, Any], emissary: Emissary, tmp_path: Path) -> None:
    out = tmp_path / "o"
    template = {
        "archiveLocation": {"archiveLogs": True, "s3": {"key": "wf/pod"}},
        "outputs": {
            "parameters": [{"name": "p", "valueFrom": {"path": str(out / "p"), "default": "d"}, "globalName": "g"}],
            "artifacts": [{"name": "a", "path": str(out / "a"), "archive": {"tar": {"compressionLevel": 1}}},
                          {"name": "b", "path": str(out / "a"), "archive": {"none": {}}, "optional": True}],
        },
    }
    progress = tmp_path / "progress"
    emissary.run(["sh", "-c", f"mkdir -p {out}; echo v > {out}/p; echo a > {out}/a; echo 1/2 > {progress}; echo res"], template)
    settings = WaitSettings(node_id="wf-1", workflow_name="wf", workflow_uid="u", include_script_output=True,
                            poll_interval=0.02, progress_file=str(progress), instance_id="inst")
    sink = Sink()
    repo = ArtifactRepository(drivers={}, default=LocalDriver(tmp_path / "store"), archive_location=template["archiveLocation"])
    outcome = asyncio.run(run_wait(template, emissary.paths, settings, sink=sink, repository=repo, sleep=_no_sleep))
    assert outcome.exit_code == 0, outcome.errors
    for obj in sink.objects:
        jsonschema.validate(obj, crd_schema)
    final = sink.objects[-1]
    assert {a["name"] for a in final["outputs"]["artifacts"]} == {"a", "b", "main-logs"}
    assert final["metadata"]["labels"]["workflows.argoproj.io/controller-instanceid"] == "inst"


def test_schema_check_is_strict(crd_schema: dict[str, Any]) -> None:
    """The closed schema does catch a misnamed field (so the test above can fail)."""
    bad = {"metadata": {"name": "x"}, "outputs": {"parameters": [{"name": "p", "valu": "typo"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, crd_schema)
