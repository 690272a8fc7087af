"""`artifact-gc`: the GC pod's command deletes its tasks' artifacts and reports per artifact
(local repository on disk, and a real S3-compatible server through the `s3_server` fixture)."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tiphys.executor import ArtifactConfigError
from tiphys.executor.artifact_gc import GCSettings, drivers_for, run_artifact_gc
from tiphys.executor.artifacts import Credentials, LocalDriver, S3Client, S3Driver

from ._s3server import S3Server


class FakeTasks:
    """A scripted GCTaskApi: the tasks as listed, status patches recorded (and merged, as the API would)."""

    def __init__(self, tasks: list[dict], *, fail_patch: bool = False) -> None:
        self.tasks = {t["metadata"]["name"]: t for t in tasks}
        self.patches: list[tuple[str, dict]] = []
        self.fail_patch = fail_patch

    async def list_tasks(self) -> list[dict[str, Any]]:
        return list(self.tasks.values())

    async def patch_status(self, name: str, status: dict, /) -> None:
        if self.fail_patch:
            raise RuntimeError("403 forbidden")
        self.patches.append((name, status))


def _task(name: str, by_node: dict) -> dict:
    return {"metadata": {"name": name, "labels": {"workflows.argoproj.io/artifact-gc-pod": "p"}},
            "spec": {"artifactsByNode": by_node}}


def _run(api: FakeTasks, drivers: dict, default: Any) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = asyncio.run(run_artifact_gc(api, drivers=drivers, default=default, log=lines.append))
    return code, lines


def test_local_artifacts_are_deleted_and_reported(tmp_path: Path) -> None:
    """Key-only artifacts go to the local default: a file and a directory are removed, a key that
    is already gone succeeds (a second run after a restart), each result is written to its task."""
    root = tmp_path / "repo"
    (root / "wf" / "a").mkdir(parents=True)
    (root / "wf" / "a" / "out.tgz").write_text("x")
    (root / "wf" / "dir" / "sub").mkdir(parents=True)
    (root / "wf" / "dir" / "sub" / "f").write_text("y")
    (root / "wf" / "keep.txt").write_text("stays")
    api = FakeTasks([_task("wf-artgc-wfcomp-1-0", {
        "n1": {"archiveLocation": {"s3": {"key": "{{workflow.name}}/{{pod.name}}"}},
               "artifacts": {"out": {"name": "out", "s3": {"key": "wf/a/out.tgz"}},
                             "dir": {"name": "dir", "s3": {"key": "wf/dir"}}}},
        "n2": {"artifacts": {"gone": {"name": "gone", "s3": {"key": "wf/never-made.txt"}}}}})])
    code, _ = _run(api, {}, LocalDriver(root))
    assert code == 0
    assert not (root / "wf" / "a" / "out.tgz").exists() and not (root / "wf" / "dir").exists()
    assert (root / "wf" / "keep.txt").read_text() == "stays"
    assert api.patches == [("wf-artgc-wfcomp-1-0", {"artifactResultsByNode": {
        "n1": {"artifactResults": {"dir": {"name": "dir", "success": True}, "out": {"name": "out", "success": True}}},
        "n2": {"artifactResults": {"gone": {"name": "gone", "success": True}}}}})]


def test_failures_are_results_not_exit_codes(tmp_path: Path) -> None:
    """No repository for a key-only artifact, a location type without delete, a key leaving the
    repository: each is a failed result naming why; the command still exits 0."""
    api = FakeTasks([_task("t-0", {"n": {"artifacts": {
        "k": {"name": "k", "s3": {"key": "a.txt"}},
        "g": {"name": "g", "git": {"repo": "https://example.invalid/r.git"}},
        "none": {"name": "none"}}}})])
    code, lines = _run(api, {}, None)
    assert code == 0
    results = api.patches[0][1]["artifactResultsByNode"]["n"]["artifactResults"]
    assert results["k"]["success"] is False and "no artifact repository is configured" in results["k"]["error"]
    assert results["g"] == {"name": "g", "success": False,
                            "error": "artifact 'g': deleting git artifacts is not supported"}
    assert results["none"]["success"] is False and "names no location" in results["none"]["error"]
    api2 = FakeTasks([_task("t-0", {"n": {"artifacts": {"up": {"name": "up", "s3": {"key": "../../etc/passwd"}}}}})])
    _, lines = _run(api2, {}, LocalDriver(tmp_path))
    up = api2.patches[0][1]["artifactResultsByNode"]["n"]["artifactResults"]["up"]
    assert up["success"] is False and "would leave the repository" in up["error"]
    assert any("node n artifact up" in line and "would leave" in line for line in lines)


def test_artifacts_with_results_are_not_deleted_again(tmp_path: Path) -> None:
    """A task whose artifacts all have results is skipped (the pod run twice): no patch at all."""
    (tmp_path / "b.txt").write_text("b")
    task = _task("t-0", {"n": {"artifacts": {"a": {"name": "a", "s3": {"key": "a.txt"}},
                                             "b": {"name": "b", "s3": {"key": "b.txt"}}}}})
    task["status"] = {"artifactResultsByNode": {"n": {"artifactResults": {"a": {"name": "a", "success": True}}}}}
    api = FakeTasks([task])
    assert _run(api, {}, LocalDriver(tmp_path))[0] == 0
    assert api.patches == [("t-0", {"artifactResultsByNode": {"n": {"artifactResults": {
        "b": {"name": "b", "success": True}}}}})]
    assert not (tmp_path / "b.txt").exists()
    done = FakeTasks([{**task, "status": {"artifactResultsByNode": {"n": {"artifactResults": {
        "a": {"name": "a", "success": True}, "b": {"name": "b", "success": True}}}}}}])
    assert _run(done, {}, LocalDriver(tmp_path))[0] == 0 and done.patches == []


def test_unwritable_results_and_unlistable_tasks_fail_the_pod(tmp_path: Path) -> None:
    """The exit code is 1 when a result cannot be written or the tasks cannot be listed."""
    api = FakeTasks([_task("t-0", {"n": {"artifacts": {"a": {"name": "a", "s3": {"key": "a"}}}}})], fail_patch=True)
    code, lines = _run(api, {}, LocalDriver(tmp_path))
    assert code == 1 and any("cannot write the results of t-0" in line for line in lines)

    class Broken(FakeTasks):
        async def list_tasks(self):
            raise RuntimeError("connection refused")
    code, lines = _run(Broken([]), {}, LocalDriver(tmp_path))
    assert code == 1 and "cannot list" in lines[0]


def test_settings_name_the_missing_variable() -> None:
    with pytest.raises(ArtifactConfigError, match="ARGO_NAMESPACE"):
        GCSettings.from_env({"ARGO_POD_NAME": "p"})
    assert GCSettings.from_env({"ARGO_POD_NAME": "p", "ARGO_NAMESPACE": "ns"}) == GCSettings(pod_name="p",
                                                                                            namespace="ns")
    drivers, default = drivers_for(lambda n, k: "", {"TIPHYS_ARTIFACT_DIR": "/x"})
    assert isinstance(default, LocalDriver) and "s3" in drivers
    assert drivers_for(lambda n, k: "", {})[1] is None


# -- S3 ---------------------------------------------------------------------------------------

def _secrets(server: S3Server):
    table = {("s3-creds", "accesskey"): server.access_key, ("s3-creds", "secretkey"): server.secret_key}
    return lambda name, key: table[(name, key)]


def test_s3_artifacts_are_deleted_on_a_real_server(s3_server: S3Server) -> None:
    """Key-only artifacts complete from the task's archiveLocation (endpoint, bucket, secrets); a
    file object and a "directory" prefix are deleted, a neighbour key with the same prefix stays."""
    client = S3Client(s3_server.endpoint, secure=False,
                      credentials=Credentials(access_key=s3_server.access_key, secret_key=s3_server.secret_key))
    bucket = f"gc-{uuid.uuid4().hex[:12]}"
    client.create_bucket(bucket)
    for key in ("wf/p1/out.tgz", "wf/p1/dir/a", "wf/p1/dir/b/c", "wf/p1/dirx", "wf/p2/keep.tgz"):
        client.put_bytes(bucket, key, key.encode())
    archive = {"s3": {"endpoint": s3_server.endpoint, "insecure": True, "bucket": bucket, "key": "{{workflow.name}}",
                      "accessKeySecret": {"name": "s3-creds", "key": "accesskey"},
                      "secretKeySecret": {"name": "s3-creds", "key": "secretkey"}}}
    api = FakeTasks([_task("wf-artgc-wfdel-7-0", {"n1": {"archiveLocation": archive, "artifacts": {
        "out": {"name": "out", "s3": {"key": "wf/p1/out.tgz"}},
        "dir": {"name": "dir", "s3": {"key": "wf/p1/dir"}},
        "wrong-bucket": {"name": "wrong-bucket", "s3": {"key": "x", "bucket": f"{bucket}-missing"}}}}})])
    code, _ = _run(api, {"s3": S3Driver(secrets=_secrets(s3_server))}, None)
    assert code == 0
    assert sorted(client.list_keys(bucket, "")) == ["wf/p1/dirx", "wf/p2/keep.tgz"]
    results = api.patches[0][1]["artifactResultsByNode"]["n1"]["artifactResults"]
    assert results["out"] == {"name": "out", "success": True} and results["dir"]["success"] is True
    assert results["wrong-bucket"]["success"] is False and results["wrong-bucket"]["error"]


def test_s3_delete_refuses_an_empty_key(s3_server: S3Server) -> None:
    """A location without a key would name the whole bucket: refused, naming why."""
    loc = {"endpoint": s3_server.endpoint, "insecure": True, "bucket": "b", "key": "",
           "accessKeySecret": {"name": "s3-creds", "key": "accesskey"},
           "secretKeySecret": {"name": "s3-creds", "key": "secretkey"}}
    with pytest.raises(ArtifactConfigError, match="refusing to delete a whole bucket"):
        S3Driver(secrets=_secrets(s3_server)).delete(loc)
