"""Artifact credentials reach the executor through the pod's Secret volumes, as a kubelet mounts
them: `init`/`wait` processes read `/argo/secret/<name>/<key>` (a private mount, or the
`ARGO_SECRETS_DIR` symlink view without namespaces), in-process data and GC containers read the
same files through their mounts, and nothing reads the Secret through the API behind the pod's back."""
from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from tiphys.controller.api import SECRETS, WORKFLOWS
from tiphys.controller.local import wait_completed
from tiphys.controller.nodeagent import Isolation
from tiphys.controller.nodeagent.artifactsecrets import mounted_secrets
from tiphys.controller.nodeagent.sandbox import Mount, launch_spec
from tiphys.core.plan import _podvolumes
from tiphys.executor import ArtifactConfigError

from .conftest import isolation_probe

pytest.importorskip("tiphys.controller.engine", reason="the controller engine is not there yet")
from tiphys.controller.engine import Engine  # noqa: E402


def test_mounted_secrets_reads_through_the_containers_mounts(tmp_path):
    """The resolver follows the container's own mounts: a per-Secret volume, a whole /argo/secret
    volume; a Secret the container does not mount is named, a path-like reference refused."""
    one, whole = tmp_path / "one", tmp_path / "whole"
    (one / "ak").parent.mkdir(parents=True)
    (one / "ak").write_text("AK")
    (whole / "other").mkdir(parents=True)
    (whole / "other" / "k").write_text("OTHER")
    spec = {"volumeMounts": [{"name": "s3-creds", "mountPath": "/argo/secret/s3-creds", "readOnly": True}]}
    resolve = mounted_secrets(spec, {"s3-creds": one})
    assert resolve("s3-creds", "ak") == "AK"
    with pytest.raises(ArtifactConfigError, match="secret s3-creds/sk is not mounted under /argo/secret"):
        resolve("s3-creds", "sk")
    with pytest.raises(ArtifactConfigError, match="secret other/k is not mounted"):
        resolve("other", "k")  # present on the host, but not in this container's mounts
    with pytest.raises(ArtifactConfigError, match="bad secret reference"):
        resolve("..", "ak")
    all_of_it = mounted_secrets({"volumeMounts": [{"name": "all", "mountPath": "/argo/secret"}]}, {"all": whole})
    assert all_of_it("other", "k") == "OTHER"


def test_rewrite_mode_points_argo_secrets_dir_at_a_view_of_the_secret_volumes(tmp_path):
    """Without namespaces the per-Secret mounts become one directory of symlinks, ARGO_SECRETS_DIR."""
    a, b = tmp_path / "vol-a", tmp_path / "vol-b"
    for d, text in ((a, "A"), (b, "B")):
        d.mkdir()
        (d / "key").write_text(text)
    mounts = [Mount(str(a), "/argo/secret/a", True), Mount(str(b), "/argo/secret/my.creds", True)]
    launch = launch_spec(Isolation.REWRITE, ["true"], {}, cwd=None, mounts=mounts, view_dir=tmp_path / "view",
                         errfd=None)
    root = Path(launch.env["ARGO_SECRETS_DIR"])
    assert (root / "a" / "key").read_text() == "A" and (root / "my.creds" / "key").read_text() == "B"
    assert "ARGO_SECRETS_DIR" not in launch_spec(Isolation.REWRITE, ["true"], {}, cwd=None, mounts=[],
                                                 view_dir=tmp_path / "v2", errfd=None).env


def _secret(name: str, server, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "data": {"accesskey": base64.b64encode(server.access_key.encode()).decode(),
                     "secretkey": base64.b64encode(server.secret_key.encode()).decode()}}


def s3_workflow(name: str, server, bucket: str, *, secret: str = "s3-creds", namespace: str = "default") -> dict:
    """produce -> consume through one S3 object; every location names the Secret (complete locations:
    no artifact repository needed), and a data step lists the bucket with the same credentials."""
    def loc(key: str) -> dict:
        return {"endpoint": server.endpoint, "insecure": True, "bucket": bucket, "key": key,
                "accessKeySecret": {"name": secret, "key": "accesskey"},
                "secretKeySecret": {"name": secret, "key": "secretkey"}}
    templates = [
        {"name": "main", "steps": [[{"name": "produce", "template": "produce"}],
                                   [{"name": "consume", "template": "consume"},
                                    {"name": "list", "template": "list"}]]},
        {"name": "produce", "container": {"image": "busybox:1.36", "command": ["sh", "-c"],
                                          "args": ["echo through the secret volume > /tmp/msg"]},
         "outputs": {"artifacts": [{"name": "msg", "path": "/tmp/msg", "s3": loc("run/msg.tgz")}]}},
        {"name": "consume", "inputs": {"artifacts": [{"name": "msg", "path": "/in/msg", "s3": loc("run/msg.tgz")}]},
         "container": {"image": "busybox:1.36", "command": ["cat", "/in/msg"]}},
        {"name": "list", "data": {"source": {"artifactPaths": {"name": "run", "s3": loc("run")}},
                                  "transformation": [{"expression": "data"}]}},
    ]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"entrypoint": "main", "templates": templates}}


def nodes_of(wf: dict, template: str) -> list[dict]:
    return [n for n in wf["status"]["nodes"].values() if n.get("templateName") == template]


def pod_logs(h, node: dict) -> Path:
    """The log directory of a node's pod (pod names end in the node id's hash)."""
    suffix = "-" + node["id"].rsplit("-", 1)[1]
    (found,) = [p for p in (h.root / "logs" / "default").iterdir() if p.name.endswith(suffix)]
    return found


def _bucket(server) -> str:
    from tiphys.executor.artifacts import Credentials, S3Client

    client = S3Client(server.endpoint, secure=False,
                      credentials=Credentials(access_key=server.access_key, secret_key=server.secret_key))
    bucket = f"sv-{uuid.uuid4().hex[:12]}"
    client.create_bucket(bucket)
    return bucket


async def _run(h, wf: dict, timeout: float = 120) -> dict:
    engine = Engine(h.api, clock=h.clock, workers=2)
    await engine.start()
    try:
        await h.api.create(WORKFLOWS, wf, namespace="default")
        return await wait_completed(h.api, wf["metadata"]["name"], "default", timeout=timeout)
    finally:
        await engine.stop()


@pytest.mark.parametrize("isolation", [Isolation.NAMESPACE, Isolation.REWRITE])
async def test_s3_artifacts_with_a_secret_through_its_volume(harness, s3_server, isolation):
    """`wait` stores, `init` loads and the data main lists with the Secret's keys, which reach them
    only as the files of the pod's Secret volume."""
    if isolation is Isolation.NAMESPACE and isolation_probe()[0] is not Isolation.NAMESPACE:
        pytest.skip(f"no private mount namespaces here: {isolation_probe()[1]}")
    bucket = _bucket(s3_server)
    async with harness(isolation=isolation) as h:
        await h.api.create(SECRETS, _secret("s3-creds", s3_server), namespace="default")
        final = await _run(h, s3_workflow(f"sv-{isolation.value}", s3_server, bucket))
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        (consume,) = nodes_of(final, "consume")
        assert (pod_logs(h, consume) / "main.log").read_text() == "through the secret volume\n"
        (listing,) = nodes_of(final, "list")
        assert listing["outputs"]["result"] == '["run/msg.tgz"]'


async def test_without_the_secret_volume_the_executor_names_the_secret_not_mounted(harness, s3_server, monkeypatch):
    """The same workflow with the pod builder's Secret volumes switched off: the Secret exists in
    the namespace, yet `wait` cannot store the output -- nothing but the volume gives the key."""
    monkeypatch.setattr(_podvolumes, "add_secret_volumes", lambda *a, **kw: None)
    bucket = _bucket(s3_server)
    async with harness() as h:
        await h.api.create(SECRETS, _secret("s3-creds", s3_server), namespace="default")
        final = await _run(h, s3_workflow("sv-none", s3_server, bucket))
    assert final["status"]["phase"] in ("Failed", "Error")
    (produce,) = nodes_of(final, "produce")
    assert produce["phase"] in ("Failed", "Error")
    assert produce["message"] == "wait: Error (exit code 1)"  # the agent has no termination-log file
    wait_log = (pod_logs(h, produce) / "wait.log").read_text()
    assert "secret s3-creds/accesskey is not mounted under /argo/secret" in wait_log
    assert not nodes_of(final, "consume")


async def test_a_missing_secret_fails_the_pod_naming_it(harness, s3_server):
    """No Secret of that name: the Secret volume cannot be made, the pod fails naming the Secret
    (a kubelet would keep it ContainerCreating with FailedMount)."""
    bucket = _bucket(s3_server)
    async with harness() as h:
        final = await _run(h, s3_workflow("sv-missing", s3_server, bucket, secret="nowhere"))
    (produce,) = nodes_of(final, "produce")
    assert produce["phase"] in ("Failed", "Error")
    assert 'secret "nowhere" not found' in produce["message"], produce["message"]


async def test_artifact_gc_pod_deletes_from_s3_with_the_secret_of_its_volume(harness, s3_server):
    """An output artifact with `artifactGC: OnWorkflowCompletion`: the GC pod, played in-process by
    the agent, deletes the S3 object with the keys of its own Secret volume."""
    import asyncio

    from tiphys.executor.artifacts import Credentials, S3Client

    client = S3Client(s3_server.endpoint, secure=False,
                      credentials=Credentials(access_key=s3_server.access_key, secret_key=s3_server.secret_key))
    bucket = _bucket(s3_server)
    wf = s3_workflow("sv-gc", s3_server, bucket)
    produce = next(t for t in wf["spec"]["templates"] if t["name"] == "produce")
    produce["outputs"]["artifacts"][0]["artifactGC"] = {"strategy": "OnWorkflowCompletion"}
    wf["spec"]["templates"] = [{"name": "main", "steps": [[{"name": "produce", "template": "produce"}]]}, produce]
    async with harness() as h:
        await h.api.create(SECRETS, _secret("s3-creds", s3_server), namespace="default")
        engine = Engine(h.api, clock=h.clock, workers=2)
        await engine.start()
        try:
            await h.api.create(WORKFLOWS, wf, namespace="default")
            final = await wait_completed(h.api, "sv-gc", "default", timeout=120)
            assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
            deadline = asyncio.get_running_loop().time() + 90
            while True:
                got = await h.api.get(WORKFLOWS, "sv-gc", namespace="default")
                (node,) = nodes_of(got, "produce")
                if node["outputs"]["artifacts"][0].get("deleted"):
                    break
                conditions = (got.get("status") or {}).get("conditions") or []
                assert not [c for c in conditions if c["type"] == "ArtifactGCError"], conditions
                assert asyncio.get_running_loop().time() < deadline, got["status"].get("artifactGCStatus")
                await asyncio.sleep(0.2)
        finally:
            await engine.stop()
    assert list(client.list_keys(bucket, "")) == []
