"""`argoexec artifact-gc` as in a real pod: the entry point as a process, the in-cluster client
with the token of a user holding only deploy/'s `tiphys-artifactgc` Role, against a real
kube-apiserver with our CRDs; the artifacts live in a local repository directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.executor._deployed_rbac import grant_deployed_role

pytestmark = pytest.mark.cluster
TASKS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowartifactgctasks"
POD_LABEL = "workflows.argoproj.io/artifact-gc-pod"


def _task(name: str, pod: str, keys: dict[str, str]) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowArtifactGCTask",
            "metadata": {"name": name, "labels": {POD_LABEL: pod, "workflows.argoproj.io/workflow": "wf"}},
            "spec": {"artifactsByNode": {"wf-1": {"archiveLocation": {"s3": {"key": "{{workflow.name}}"}},
                                                  "artifacts": {n: {"name": n, "s3": {"key": k}}
                                                                for n, k in keys.items()}}}}}


def test_gc_process_with_the_artifactgc_role_only(cluster, cluster_namespace, tmp_path: Path):
    """The command lists only its own pod's tasks (list rights only), deletes their artifacts from
    the repository, writes each result through the status subresource, and exits 0; another pod's
    task and its file are untouched."""
    ns, rest, user = cluster_namespace, cluster.rest(), cluster.unprivileged
    grant_deployed_role(rest, ns, user, "tiphys-artifactgc")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(user.token)
    (account / "ca.crt").write_bytes(Path(cluster.ca_cert).read_bytes())
    repo = tmp_path / "repo"
    (repo / "wf").mkdir(parents=True)
    for name in ("a.tgz", "b.tgz", "other.tgz"):
        (repo / "wf" / name).write_text(name)
    rest.post(TASKS.format(ns=ns), _task("wf-artgc-wfcomp-1-0", "wf-artgc-wfcomp-1",
                                         {"a": "wf/a.tgz", "b": "wf/b.tgz"}))
    rest.post(TASKS.format(ns=ns), _task("wf-artgc-wfdel-2-0", "wf-artgc-wfdel-2", {"o": "wf/other.tgz"}))
    url = urlsplit(cluster.server)
    env = {**os.environ, "KUBERNETES_SERVICE_HOST": url.hostname, "KUBERNETES_SERVICE_PORT": str(url.port or 443),
           "TIPHYS_SERVICE_ACCOUNT_DIR": str(account), "ARGO_POD_NAME": "wf-artgc-wfcomp-1", "ARGO_NAMESPACE": ns,
           "TIPHYS_ARTIFACT_DIR": str(repo)}
    proc = subprocess.run([sys.executable, "-m", "tiphys.executor", "artifact-gc", "--loglevel", "info"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in (repo / "wf").iterdir()) == ["other.tgz"]
    mine = rest.get(TASKS.format(ns=ns) + "/wf-artgc-wfcomp-1-0")
    assert mine["status"]["artifactResultsByNode"] == {"wf-1": {"artifactResults": {
        "a": {"name": "a", "success": True}, "b": {"name": "b", "success": True}}}}
    assert not rest.get(TASKS.format(ns=ns) + "/wf-artgc-wfdel-2-0").get("status")
