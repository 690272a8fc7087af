"""The in-pod entry points as separate processes: init → wrapper(main) → wait, like one pod."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tiphys.executor import ExecutorPaths


def _env(paths: ExecutorPaths, tmp_path: Path, template: dict, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGO_", "TIPHYS_"))}
    env.update(ARGO_VAR_RUN=paths.var_run, ARGO_STAGING_DIR=paths.staging, ARGO_INPUTS_DIR=paths.inputs,
               ARGO_MAINCTRFS=paths.mainctrfs, ARGO_CONFIG_DIR=paths.config, ARGO_SECRETS_DIR=paths.secrets,
               ARGO_TEMPLATE=json.dumps(template), ARGO_NODE_ID="wf-42", ARGO_WORKFLOW_NAME="wf",
               ARGO_WORKFLOW_UID="u-1", ARGO_POD_NAME="wf-step-42", ARGO_INCLUDE_SCRIPT_OUTPUT="true",
               ARGO_DEADLINE="0001-01-01T00:00:00Z", TIPHYS_ARTIFACT_DIR=str(tmp_path / "store"), **extra)
    return env


def _executor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tiphys.executor", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_pod_on_one_machine(paths: ExecutorPaths, wrapper: Path, tmp_path: Path) -> None:
    """Input artifact in, argosay in main through the installed wrapper, parameter/artifact/result out."""
    out_file = tmp_path / "tmp" / "out.txt"
    in_path = tmp_path / "in" / "greeting"
    template = {
        "name": "consume-and-produce",
        "inputs": {"artifacts": [{"name": "greeting", "path": str(in_path), "raw": {"data": "hello from raw"}}]},
        "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": str(out_file)}}],
                    "artifacts": [{"name": "out-art", "path": str(out_file)}]},
    }
    env = _env(paths, tmp_path, template)
    init = _executor("init", "--wrapper", str(wrapper), env=env)
    assert init.returncode == 0, init.stderr
    staged = Path(paths.inputs, "greeting")
    assert staged.read_text() == "hello from raw"
    # the kubelet would mount inputs/greeting at its path; here a symlink plays the mount
    in_path.parent.mkdir(parents=True)
    in_path.symlink_to(staged)

    argoexec = Path(paths.var_run, "argoexec")
    cat = subprocess.run([str(argoexec), "--", sys.executable, "-m", "tiphys.executor.argosay", "cat", str(in_path)],
                         env={**env, "ARGO_CONTAINER_NAME": "main"}, capture_output=True, text=True, timeout=60, check=False)
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == "hello from raw"
    # main writes its output file too (a second command of the same container, for the test)
    say = subprocess.run([str(argoexec), "--", sys.executable, "-m", "tiphys.executor.argosay", "echo", "real-value", str(out_file)],
                         env={**env, "ARGO_CONTAINER_NAME": "main", "ARGO_INCLUDE_SCRIPT_OUTPUT": "false"},
                         capture_output=True, text=True, timeout=60, check=False)
    assert say.returncode == 0, say.stderr
    (paths.ctr("main") / "stdout").write_text(cat.stdout)  # keep the first command's captured stdout

    results = tmp_path / "results"
    wait = _executor("wait", "--task-result-dir", str(results), env=env)
    assert wait.returncode == 0, wait.stderr
    obj = json.loads((results / "wf-42.json").read_text())
    assert obj["kind"] == "WorkflowTaskResult" and obj["metadata"]["name"] == "wf-42"
    assert obj["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    outputs = obj["outputs"]
    assert outputs["result"] == "hello from raw"
    assert outputs["parameters"][0]["value"] == "real-value"
    assert outputs["artifacts"][0]["s3"] == {"key": "wf/wf-step-42/out-art.tgz"}
    assert (tmp_path / "store" / "wf" / "wf-step-42" / "out-art.tgz").is_file()


def test_init_failure_names_the_artifact(paths: ExecutorPaths, tmp_path: Path) -> None:
    template = {"inputs": {"artifacts": [{"name": "need", "path": "/need", "s3": {"key": "absent"}}]}}
    init = _executor("init", env=_env(paths, tmp_path, template))
    assert init.returncode == 1
    assert "ArtifactNotFound" in init.stderr and "'need'" in init.stderr


def test_bad_template_json(paths: ExecutorPaths, tmp_path: Path) -> None:
    env = _env(paths, tmp_path, {})
    env["ARGO_TEMPLATE"] = "{not json"
    init = _executor("init", env=env)
    assert init.returncode == 1 and "TemplateError" in init.stderr and "not valid JSON" in init.stderr


def test_argosay_through_the_executor_entry() -> None:
    proc = subprocess.run([sys.executable, "-m", "tiphys.executor", "argosay", "echo", "via-entry"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == "via-entry\n"
