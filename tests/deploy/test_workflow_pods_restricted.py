"""Workflow pods under the `restricted` Pod Security Standard (PodSecurity admission of the real apiserver)."""
from __future__ import annotations

from typing import Any

import pytest

from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.podspec import build_pod

pytestmark = pytest.mark.cluster

TEMPLATES = {
    "container": {"name": "echo", "container": {"image": "busybox", "command": ["echo", "hi"]}},
    "script": {"name": "py", "script": {"image": "python:3.11", "command": ["python"], "source": "print(1)"}},
    "sidecar": {"name": "side", "container": {"image": "busybox", "command": ["true"]},
                "sidecars": [{"name": "helper", "image": "busybox", "command": ["sleep", "1"]}]},
}


@pytest.fixture
def restricted(cluster: Any):
    name = cluster.create_namespace("wf-pss", labels={"pod-security.kubernetes.io/enforce": "restricted",
                                                      "pod-security.kubernetes.io/enforce-version": "latest"})
    yield name
    cluster.delete_namespace(name)


def _pod(namespace: str, kind: str, restricted: bool) -> dict:
    meta = WorkflowMeta(name="wf", namespace=namespace, uid="0b1c2d3e-0000-4000-8000-000000000001")
    pod = build_pod(TEMPLATES[kind], meta=meta, spec={}, node_id=f"wf-{kind}", node_name=f"wf.{kind}",
                    pod_name=f"wf-{kind}-{'r' if restricted else 'p'}", settings=PodSettings(restricted_pods=restricted))
    pod["metadata"].pop("ownerReferences", None)  # the owner does not exist in this namespace
    return pod


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_restricted_namespace_admits_workflow_pods(cluster: Any, restricted: str, kind: str) -> None:
    """With `restricted_pods`, every kind of workflow pod passes `restricted` admission."""
    ns = restricted
    created = cluster.rest().post(f"/api/v1/namespaces/{ns}/pods?dryRun=All", _pod(ns, kind, True))
    assert created["metadata"]["name"] == f"wf-{kind}-r"


def test_restricted_namespace_refuses_default_workflow_pods(cluster: Any, restricted: str) -> None:
    """Without it (Argo's default), the user's container runs as the image's user and is refused."""
    from tests.cluster._rest import HttpStatusError

    ns = restricted
    with pytest.raises(HttpStatusError) as caught:
        cluster.rest().post(f"/api/v1/namespaces/{ns}/pods?dryRun=All", _pod(ns, "container", False))
    assert "violates PodSecurity" in str(caught.value)
