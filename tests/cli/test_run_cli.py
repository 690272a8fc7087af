"""`tiphys run`: the quick-start `artifact-repositories` and `-f` objects, created before the controller starts."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tests.conftest import argo_path
from tiphys.cli.run import run

REF_ERROR = 'failed to find any artifact repository for artifact repository ref "#my-key"'


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(run, [*args, "--simulate", "-o", "json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def test_artifact_repository_ref_example_succeeds():
    """Argo's artifact-repository-ref.yaml (a ref to `my-key`) runs as on Argo's quick-start install."""
    code, wf = _run(str(argo_path("examples", "artifact-repository-ref.yaml")))
    assert (code, wf["status"]["phase"]) == (0, "Succeeded"), wf["status"].get("message")
    ref = wf["status"]["artifactRepositoryRef"]
    assert (ref["configMap"], ref["key"], ref["namespace"]) == ("artifact-repositories", "my-key", "default")


def test_a_files_own_artifact_repositories_replaces_the_default(tmp_path):
    """An `artifact-repositories` from -f is the one used: without `my-key` the ref fails as in Argo."""
    own = tmp_path / "repos.yaml"
    own.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: artifact-repositories\n"
                   "data:\n  other: |\n    s3: {}\n")
    code, wf = _run(str(argo_path("examples", "artifact-repository-ref.yaml")), "-f", str(own))
    assert (code, wf["status"]["phase"]) == (1, "Error")
    assert wf["status"]["message"].endswith(REF_ERROR)


def test_objects_go_to_the_workflows_namespace(tmp_path):
    """-f objects without a namespace land in the workflow's; a ConfigMap parameter is read from there."""
    wf = tmp_path / "wf.yaml"
    wf.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: cm-, namespace: team}
spec:
  entrypoint: main
  templates:
  - name: main
    inputs:
      parameters:
      - name: msg
        valueFrom: {configMapKeyRef: {name: params, key: msg}}
    outputs:
      parameters:
      - name: echoed
        value: "{{inputs.parameters.msg}}"
    container: {image: busybox, command: [echo, "{{inputs.parameters.msg}}"]}
""")
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: params\n  labels:\n"
                  "    workflows.argoproj.io/configmap-type: Parameter\ndata:\n  msg: from-team\n")
    code, out = _run(str(wf), "-f", str(cm))
    assert (code, out["metadata"]["namespace"]) == (0, "team"), out["status"].get("message")
    (node,) = out["status"]["nodes"].values()
    assert node["inputs"]["parameters"][0]["value"] == "from-team"


def test_run_waits_for_the_artifacts_collected_on_completion():
    """Argo's artifact-gc-workflow.yaml on the node agent: `tiphys run` returns once the
    OnWorkflowCompletion artifact is collected (the process ends with its workflow); the
    OnWorkflowDeletion one stays, with the finalizer that waits for the workflow's deletion."""
    result = CliRunner().invoke(run, [str(argo_path("examples", "artifact-gc-workflow.yaml")), "-o", "json"],
                                catch_exceptions=False)
    wf = json.loads(result.output)
    assert (result.exit_code, wf["status"]["phase"]) == (0, "Succeeded"), wf["status"].get("message")
    pod = next(n for n in wf["status"]["nodes"].values() if n["type"] == "Pod")
    deleted = {a["name"]: a.get("deleted", False) for a in pod["outputs"]["artifacts"]}
    assert deleted == {"on-completion": True, "on-deletion": False}
    assert wf["metadata"]["finalizers"] == ["workflows.argoproj.io/artifact-gc"]
    assert all(wf["status"]["artifactGCStatus"]["podsRecouped"].values())
