"""Where a task result goes and how it is written: the file relay or the API (create, else
merge-patch), the retry loop both `wait` and `resource` write through, and the entry point's
choice when neither destination is there."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.podspec import build_pod
from tiphys.executor import WaitSettings, build_task_result
from tiphys.executor.kube import (TASK_RESULT_KIND, KubeAlreadyExists, KubeError, PatchKind, api_sink,
                                  task_result_patch)
from tiphys.executor.runtime import FileTaskResultSink, task_result_sink
from tiphys.executor.taskresult import report_task_result

COMPLETED = "workflows.argoproj.io/report-outputs-completed"


def _obj(completed: bool, outputs: dict | None = None, progress: str | None = None) -> dict[str, Any]:
    return build_task_result("wf-1", workflow_name="wf", workflow_uid="u", namespace="ns", completed=completed,
                             outputs=outputs, progress=progress)


# -- the merge patch --------------------------------------------------------------------------

def test_patch_without_outputs_deletes_earlier_outputs() -> None:
    assert task_result_patch(_obj(False)) == {
        "metadata": {"labels": {"workflows.argoproj.io/workflow": "wf", COMPLETED: "false"}}, "outputs": None}


def test_patch_with_outputs_nulls_the_fields_this_run_lacks() -> None:
    patch = task_result_patch(_obj(True, {"parameters": [{"name": "p", "value": "v"}]}, progress="1/2"))
    assert patch == {"metadata": {"labels": {"workflows.argoproj.io/workflow": "wf", COMPLETED: "true"}},
                     "outputs": {"parameters": [{"name": "p", "value": "v"}], "artifacts": None, "result": None,
                                 "exitCode": None},
                     "progress": "1/2"}


# -- the API sink over a scripted client ------------------------------------------------------------

class Client:
    """Records calls; `exists` makes the create answer 409 AlreadyExists as the apiserver does."""

    def __init__(self, *, exists: bool) -> None:
        self.exists = exists
        self.calls: list[tuple] = []

    async def create(self, kind, body, /, *, namespace):
        self.calls.append(("create", kind.plural, namespace, body["metadata"]["name"]))
        if self.exists:
            raise KubeAlreadyExists('workflowtaskresults "wf-1" already exists', status=409, reason="AlreadyExists")
        return body

    async def patch(self, kind, name, patch, /, *, namespace, patch_kind):
        self.calls.append(("patch", kind.plural, namespace, name, patch_kind, patch))
        return {}


@pytest.mark.parametrize("exists", [False, True], ids=["created", "already-exists"])
def test_api_sink_creates_else_merge_patches(exists: bool) -> None:
    client = Client(exists=exists)
    obj = _obj(True, {"result": "r"})
    asyncio.run(api_sink(client)(obj))
    assert TASK_RESULT_KIND.plural == "workflowtaskresults" and TASK_RESULT_KIND.group == "argoproj.io"
    create = ("create", "workflowtaskresults", "ns", "wf-1")
    if not exists:
        assert client.calls == [create]
    else:
        assert client.calls == [create, ("patch", "workflowtaskresults", "ns", "wf-1", PatchKind.MERGE,
                                         task_result_patch(obj))]


# -- the retry loop ---------------------------------------------------------------------------------

class Flaky:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.written: list[dict] = []

    async def __call__(self, obj: dict) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.written.append(obj)


def _kube(status: int, retry_after: float | None = None) -> KubeError:
    err = KubeError("injected", status=status, reason=f"HTTP {status}")
    err.retry_after = retry_after
    return err


def _report(sink: Flaky, attempts: int = 5) -> list[float]:
    slept: list[float] = []

    async def sleep(dt: float) -> None:
        slept.append(dt)
    asyncio.run(report_task_result(sink, _obj(False), attempts=attempts, sleep=sleep))
    return slept


def test_transient_answers_are_retried_with_back_off() -> None:
    """503, a lost connection (status 0), 429 after its Retry-After, a socket error: then it lands."""
    sink = Flaky(_kube(503), _kube(0), _kube(429, retry_after=3.0), ConnectionResetError("reset"))
    assert _report(sink) == [1.0, 2.0, 3.0, 8.0]
    assert len(sink.written) == 1


@pytest.mark.parametrize("status", [403, 422, 404])
def test_refusals_are_not_retried(status: int) -> None:
    sink = Flaky(_kube(status))
    with pytest.raises(KubeError) as caught:
        _report(sink)
    assert caught.value.status == status and sink.written == []


def test_attempts_run_out() -> None:
    sink = Flaky(*[_kube(500) for _ in range(3)])
    with pytest.raises(KubeError):
        _report(sink, attempts=3)
    assert sink.written == []


# -- the choice of destination ------------------------------------------------------------------

def test_a_directory_means_the_file_relay(tmp_path: Path) -> None:
    async def go(env: dict, directory: str | None):
        async with task_result_sink(env, directory=directory) as sink:
            assert isinstance(sink, FileTaskResultSink)
            await sink(_obj(True))
            return sink.directory
    assert asyncio.run(go({}, str(tmp_path / "a"))) == tmp_path / "a"
    # the variable too, and it wins over an in-cluster API (the node agent sets both on its pods)
    env = {"TIPHYS_TASK_RESULT_DIR": str(tmp_path / "b"), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert asyncio.run(go(env, None)) == tmp_path / "b"
    assert json.loads((tmp_path / "b" / "wf-1.json").read_text())["metadata"]["labels"][COMPLETED] == "true"


def _wait_process(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGO_", "TIPHYS_", "KUBERNETES_"))}
    env.update(ARGO_VAR_RUN=str(tmp_path / "var-run"), ARGO_TEMPLATE=json.dumps({"container": {"image": "x"}}),
               ARGO_NODE_ID="wf-1", ARGO_WORKFLOW_NAME="wf", ARGO_NAMESPACE="ns", **extra)
    return subprocess.run([sys.executable, "-m", "tiphys.executor", "wait"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_wait_without_relay_or_cluster_names_both(tmp_path: Path) -> None:
    proc = _wait_process(tmp_path, ARGO_WORKFLOW_UID="u")
    assert proc.returncode == 1
    assert "NoTaskResultDestination" in proc.stderr
    for name in ("--task-result-dir", "TIPHYS_TASK_RESULT_DIR", "KUBERNETES_SERVICE_HOST is not set"):
        assert name in proc.stderr, proc.stderr


def test_wait_in_a_pod_without_a_token_names_the_token_file(tmp_path: Path) -> None:
    account = tmp_path / "sa"
    account.mkdir()
    proc = _wait_process(tmp_path, ARGO_WORKFLOW_UID="u", KUBERNETES_SERVICE_HOST="127.0.0.1",
                         TIPHYS_SERVICE_ACCOUNT_DIR=str(account))
    assert proc.returncode == 1
    assert f"no service-account token at {account / 'token'}" in proc.stderr, proc.stderr


def test_wait_through_the_api_needs_the_workflow_uid(tmp_path: Path) -> None:
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("t")
    proc = _wait_process(tmp_path, KUBERNETES_SERVICE_HOST="127.0.0.1", TIPHYS_SERVICE_ACCOUNT_DIR=str(account))
    assert proc.returncode == 1 and "ARGO_WORKFLOW_UID is not set" in proc.stderr, proc.stderr


# -- what the controller's pod gives `wait` ---------------------------------------------------------

def _wait_container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "wait")


def test_the_pod_gives_wait_its_identity_and_namespace() -> None:
    """Workflow name and uid as values, node ID, namespace from the downward API: what the API
    sink needs to name, place and own the task result."""
    tmpl = {"name": "t", "container": {"image": "alpine", "command": ["true"]}}
    pod = build_pod(tmpl, meta=WorkflowMeta(name="wf", namespace="team", uid="wf-uid", instance_id="i1"), spec={},
                    node_id="wf-9", node_name="wf.t", pod_name="wf-t-9", settings=PodSettings())
    env = {}
    for e in _wait_container(pod)["env"]:
        ref = (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        env[e["name"]] = e["value"] if ref is None else {"metadata.namespace": "team", "metadata.name": "wf-t-9",
                                                         "metadata.uid": "pod-uid"}[ref]
    settings = WaitSettings.from_env(env)
    assert (settings.node_id, settings.workflow_name, settings.workflow_uid, settings.namespace, settings.instance_id) \
        == ("wf-9", "wf", "wf-uid", "team", "i1")
    assert pod["metadata"]["namespace"] == "team"


def test_automount_off_mounts_the_executor_token_where_the_client_reads_it() -> None:
    """Argo: with `automountServiceAccountToken: false` the executor's own token (of
    `executor.serviceAccountName`) is mounted into the executor containers at the path the
    in-cluster client reads, and not into main."""
    from tiphys.executor.kube import SERVICE_ACCOUNT_DIR
    tmpl = {"name": "t", "container": {"image": "alpine", "command": ["true"]}, "automountServiceAccountToken": False,
            "executor": {"serviceAccountName": "exec"}}
    pod = build_pod(tmpl, meta=WorkflowMeta(name="wf", namespace="ns", uid="u"), spec={}, node_id="n", node_name="wf.t",
                    pod_name="p", settings=PodSettings(), executor_token_secret="exec.service-account-token")
    mount = {"name": "exec-sa-token", "mountPath": str(SERVICE_ACCOUNT_DIR), "readOnly": True}
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert mount in _wait_container(pod)["volumeMounts"]
    main = next(c for c in pod["spec"]["containers"] if c["name"] == "main")
    assert mount not in main.get("volumeMounts", [])
