"""End to end with a real S3-compatible server (versitygw): the repository an
`artifactRepositoryRef` names reaches the pod's template as `archiveLocation`, and the executor,
given that template, stores outputs under the ConfigMap's keyFormat."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.executor.artifacts import Credentials, S3Client
from tiphys.executor.paths import ExecutorPaths
from tiphys.executor.runtime import repository_from_env


def pod_env(pod: dict, container: str = "wait") -> tuple[dict, dict]:
    """(ARGO_TEMPLATE, the plain env) of one container, with ARGO_POD_NAME as the downward API gives it."""
    ctr = next(c for c in pod["spec"]["containers"] if c["name"] == container)
    env = {e["name"]: e["value"] for e in ctr.get("env") or () if "value" in e}
    env["ARGO_POD_NAME"] = pod["metadata"]["name"]
    return json.loads(env["ARGO_TEMPLATE"]), env


async def test_outputs_land_under_the_configmap_repositorys_key_format(s3_server, tmp_path):
    client = S3Client(s3_server.endpoint, secure=False,
                      credentials=Credentials(access_key=s3_server.access_key, secret_key=s3_server.secret_key))
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client.create_bucket(bucket)
    repo = {"s3": {"endpoint": s3_server.endpoint, "insecure": True, "bucket": bucket,
                   "keyFormat": "runs/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}",
                   "accessKeySecret": {"name": "s3-creds", "key": "accesskey"},
                   "secretKeySecret": {"name": "s3-creds", "key": "secretkey"}}}
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "to-s3"},
          "spec": {"entrypoint": "main", "artifactRepositoryRef": {"configMap": "repos", "key": "minio"},
                   "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]},
                                  "outputs": {"artifacts": [{"name": "report", "path": "/tmp/report"},
                                                            {"name": "pinned", "path": "/tmp/pinned",
                                                             "s3": {"key": "fixed/pinned.tgz"}}]}}]}}
    async with FakeCluster(hold=lambda pod: True) as c:
        await c.api.create(base.CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": {"name": "repos", "namespace": NS},
                                              "data": {"minio": json.dumps(repo)}}, namespace=NS)
        await c.settle()
        await c.submit(wf)
        await c.until(c.has_pod)
        pod = (await c.objects(base.PODS))[0]
    template, env = pod_env(pod)
    secrets = tmp_path / "secret" / "s3-creds"
    secrets.mkdir(parents=True)
    (secrets / "accesskey").write_text(s3_server.access_key)
    (secrets / "secretkey").write_text(s3_server.secret_key)
    repository = repository_from_env(template, ExecutorPaths(secrets=str(tmp_path / "secret")), env,
                                     work_dir=tmp_path)
    for name in ("report", "pinned"):
        src = tmp_path / name
        src.write_text(f"{name}\n")
        art = next(a for a in template["outputs"]["artifacts"] if a["name"] == name)
        repository.save(Path(src), art)
    keys = set(client.list_keys(bucket, ""))
    assert keys == {f"runs/{NS}/to-s3/{pod['metadata']['name']}/report.tgz", "fixed/pinned.tgz"}
