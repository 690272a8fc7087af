"""The controller as shipped, RBAC included: it runs with the `tiphys-controller` ServiceAccount's
token (TokenRequest API), granted exactly `deploy/cluster-install`'s ClusterRole, and not as admin.

The ServiceAccount comes from `deploy/base/controller-serviceaccount.yaml`; the ClusterRole and
its ClusterRoleBinding from `deploy/cluster-install/controller-clusterrole.yaml`, renamed per test
(they are cluster-scoped and the session's apiserver is shared) with the binding's subject moved
to the test's namespace, as the kustomization does for `argo`. A small workflow completes with
that token; the same role missing one verb the controller needs makes the run fail with
Forbidden, which is what shows the role is what the controller ran under.

The Engine watches the test's namespace only (the cluster install watches all of them): other
tests' namespaces are being created and deleted meanwhile, and their workflows are not ours.
"""
from __future__ import annotations

import asyncio
import copy
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tiphys.controller.api import Forbidden, base
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine

from ._control_plane import ControlPlane
from ._faults import CountingApi, direct_api, fan_workflow, run_fan
from ._rest import HttpStatusError
from .fixture import REPO_ROOT

pytestmark = pytest.mark.cluster

DEPLOY = REPO_ROOT / "deploy"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _docs(path: Path) -> list[dict]:
    if not path.is_file():
        pytest.skip(f"{path} not found: the shipped RBAC is what this test runs with")
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _install(cluster: ControlPlane, ns: str, *, drop: tuple[str, str] | None = None) -> str:
    """ServiceAccount + ClusterRole(+Binding) as shipped (less `drop` = (resource, verb)); returns a token."""
    rest = cluster.rest()
    (sa,) = _docs(DEPLOY / "base" / "controller-serviceaccount.yaml")
    rest.post(f"/api/v1/namespaces/{ns}/serviceaccounts", {**sa, "metadata": {**sa["metadata"], "namespace": ns}})
    unique = f"tiphys-controller-{ns}"
    role = binding = None
    for doc in _docs(DEPLOY / "cluster-install" / "controller-clusterrole.yaml"):
        if doc["kind"] == "ClusterRole":
            role = copy.deepcopy(doc)
        elif doc["kind"] == "ClusterRoleBinding":
            binding = copy.deepcopy(doc)
    assert role is not None and binding is not None, "controller-clusterrole.yaml lacks the role or its binding"
    if drop is not None:
        resource, verb = drop
        rules = [r for r in role["rules"] if resource in r["resources"]]
        assert rules and any(verb in r["verbs"] for r in rules), f"the shipped role does not grant {verb} {resource}"
        for r in rules:
            r["verbs"] = [v for v in r["verbs"] if v != verb]
    role["metadata"]["name"] = unique
    binding["metadata"]["name"] = unique
    binding["roleRef"]["name"] = unique
    for subject in binding["subjects"]:
        subject["namespace"] = ns
    rest.post(f"{RBAC}/clusterroles", role)
    rest.post(f"{RBAC}/clusterrolebindings", binding)
    token = rest.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa['metadata']['name']}/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}})["status"]["token"]
    # RBAC reads bindings through an informer: wait until the grant is visible (generously: the
    # apiserver shares the machine with the suite)
    user = cluster.rest(token=token)
    deadline = time.monotonic() + 60
    while True:
        try:
            user.get(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows")
            break
        except HttpStatusError as exc:
            if exc.status != 403 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return token


@pytest.fixture
def cleanup_roles(cluster: ControlPlane, cluster_namespace: str):
    yield
    rest = cluster.rest()
    for kind in ("clusterrolebindings", "clusterroles"):
        try:
            rest.delete(f"{RBAC}/{kind}/tiphys-controller-{cluster_namespace}")
        except HttpStatusError:
            pass


def test_workflow_completes_with_the_shipped_role(cluster: ControlPlane, cluster_namespace: str,
                                                  cleanup_roles: None) -> None:
    ns = cluster_namespace
    token = _install(cluster, ns)
    review = cluster.rest(token=token).post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:tiphys-controller"
    run = asyncio.run(run_fan(cluster, ns, 3, make_api=lambda: direct_api(cluster, token=token), timeout=60))
    run.check(3)
    # it really wrote as the ServiceAccount: pods, status, events, task-result cleanup (one
    # DeleteCollection for the 5, the `deletecollection` verb the role grants)
    assert run.writes[("create", "pods")] == 5 and run.status_writes >= 1
    assert run.writes[("create", "events")] >= 2 and run.writes[("delete", "workflowtaskresults")] == 1


class _ForbiddenLog(CountingApi):
    """Records which (verb, plural) the apiserver forbade."""

    def __init__(self, inner: base.Api, /) -> None:
        super().__init__(inner)
        self.forbidden: Counter[tuple[str, str]] = Counter()

    async def _write(self, verb, resource, call):
        try:
            return await super()._write(verb, resource, call)
        except Forbidden:
            self.forbidden[(verb, resource.plural)] += 1
            raise


@pytest.mark.parametrize("resource, verb", [("pods", "create"), ("workflows", "update")])
def test_one_verb_less_is_forbidden(cluster: ControlPlane, cluster_namespace: str, cleanup_roles: None,
                                    resource: str, verb: str) -> None:
    ns = cluster_namespace
    token = _install(cluster, ns, drop=(resource, verb))

    async def main() -> tuple[Counter, dict]:
        api = _ForbiddenLog(direct_api(cluster, token=token))
        admin = direct_api(cluster)
        engine = Engine(api, clock=RealClock(), namespace=ns, workers=2)
        try:
            await engine.start()
            await admin.create(base.WORKFLOWS, fan_workflow("fan", 2), namespace=ns)
            deadline = time.monotonic() + 60
            while not api.forbidden and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # the requeued reconciles keep failing, nothing completes
            return api.forbidden, await admin.get(base.WORKFLOWS, "fan", namespace=ns)
        finally:
            await engine.stop()
            await api.close()
            await admin.close()

    forbidden, wf = asyncio.run(main())
    assert forbidden[(verb, resource)] >= 1, f"no Forbidden on {verb} {resource}: {dict(forbidden)}"
    assert (wf.get("metadata", {}).get("labels") or {}).get("workflows.argoproj.io/completed") != "true"
    assert (wf.get("status") or {}).get("phase") != "Succeeded"
