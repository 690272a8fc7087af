"""Every property Argo's JSON schema defines for the core types is known to our Structs."""
from __future__ import annotations

import json

import msgspec.inspect as mi
import pytest

import tiphys.core.spec as spec
from tests.conftest import argo_path

ARGO = "io.argoproj.workflow.v1alpha1."
DEFINITIONS = ["Workflow", "WorkflowSpec", "Template", "DAGTemplate", "DAGTask", "WorkflowStep", "Inputs", "Outputs",
               "Parameter", "ValueFrom", "Artifact", "RetryStrategy", "NodeStatus", "WorkflowStatus",
               "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow", "CronWorkflowSpec",
               "WorkflowEventBinding", "Arguments", "LifecycleHook", "ContainerNode", "ScriptTemplate",
               "ResourceTemplate", "UserContainer", "Metadata", "Sequence", "ContinueOn", "Backoff",
               "ArtifactLocation", "S3Artifact", "HTTPArtifact", "GitArtifact", "RawArtifact"]


@pytest.fixture(scope="module")
def schema():
    return json.loads(argo_path("jsonschema.json").read_text())["definitions"]


@pytest.mark.parametrize("name", DEFINITIONS)
def test_definition_fully_covered(schema, name, capsys):
    """100% of the schema's properties for this definition have a Struct field of the same JSON name."""
    props = set(schema[ARGO + name].get("properties", {}))
    ours = {f.encode_name for f in mi.type_info(getattr(spec, name)).fields}
    missing = sorted(props - ours)
    covered = len(props) - len(missing)
    with capsys.disabled():
        print(f"\n  coverage {name}: {covered}/{len(props)} ({100 * covered // max(len(props), 1)}%)", end="")
    assert not missing, f"{name} lacks {missing}"


def test_kubernetes_objects_in_templates_are_typed(schema):
    """Container, Volume, Affinity, Toleration and SecurityContext fields are all known too."""
    for name in ("Container", "Volume", "Affinity", "Toleration", "PodSecurityContext", "SecurityContext"):
        props = set(schema["io.k8s.api.core.v1." + name].get("properties", {}))
        ours = {f.encode_name for f in mi.type_info(getattr(spec, name)).fields}
        assert props <= ours, (name, sorted(props - ours))
