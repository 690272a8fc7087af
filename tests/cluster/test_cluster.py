"""The session cluster is a real, RBAC-enforcing kube-apiserver with Argo's CRDs."""

from __future__ import annotations

import time

import pytest

from ._control_plane import ADMIN_USER, UNPRIVILEGED_USER, ControlPlane
from ._rest import HttpStatusError

pytestmark = pytest.mark.cluster

WF_PATH = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"


def _workflow(name: str) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": {"tiphys.test/case": "roundtrip"}},
        "spec": {
            "entrypoint": "main",
            "templates": [{
                "name": "main",
                "container": {"image": "alpine:3.20", "command": ["echo", "hello"]},
            }],
        },
    }


def _need_workflow_crd(cluster: ControlPlane) -> None:
    if "workflows.argoproj.io" not in cluster.crds:
        pytest.skip("no Workflow CRD found in deploy/ or ../shared/argo/crds/minimal")


def test_version_is_the_pinned_release(cluster: ControlPlane) -> None:
    """/version reports the ldflags-stamped v1.36.3, not v0.0.0-master."""
    version = cluster.rest().get("/version")
    assert version["gitVersion"] == "v1.36.3"
    assert (version["major"], version["minor"]) == ("1", "36")


def test_admin_token_is_system_masters(cluster: ControlPlane) -> None:
    """The admin token authenticates as 'admin' in system:masters."""
    review = cluster.rest().post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    user = review["status"]["userInfo"]
    assert user["username"] == ADMIN_USER
    assert "system:masters" in user["groups"]


def test_namespace_round_trip(cluster: ControlPlane) -> None:
    """A namespace made by the helper can be read back and carries its labels."""
    name = cluster.create_namespace("roundtrip", labels={"tiphys.test/owner": "cluster-tests"})
    try:
        got = cluster.rest().get(f"/api/v1/namespaces/{name}")
        assert got["metadata"]["name"] == name
        assert got["metadata"]["labels"]["tiphys.test/owner"] == "cluster-tests"
        assert got["status"]["phase"] == "Active"
    finally:
        cluster.delete_namespace(name)


def test_argo_crds_are_established(cluster: ControlPlane) -> None:
    """Every installed CRD is served: its list endpoint answers."""
    _need_workflow_crd(cluster)
    rest = cluster.rest()
    for name in cluster.crds:
        crd = rest.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
        listing = rest.get(f"/apis/{group}/{version}/{plural}")
        assert listing["kind"].endswith("List"), name


def test_workflow_round_trip(cluster: ControlPlane, cluster_namespace: str) -> None:
    """A Workflow CR is stored and read back with its spec intact."""
    _need_workflow_crd(cluster)
    rest = cluster.rest()
    path = WF_PATH.format(ns=cluster_namespace)
    created = rest.post(path, _workflow("hello"))
    assert created["metadata"]["uid"]
    got = rest.get(f"{path}/hello")
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert got["spec"]["templates"][0]["container"]["command"] == ["echo", "hello"]
    listed = rest.get(f"{path}?labelSelector=tiphys.test%2Fcase%3Droundtrip")
    assert [w["metadata"]["name"] for w in listed["items"]] == ["hello"]
    with pytest.raises(HttpStatusError) as exc:
        rest.post(path, _workflow("hello"))
    assert exc.value.status == 409
    assert exc.value.body["reason"] == "AlreadyExists"


def test_rbac_denies_the_unprivileged_user(cluster: ControlPlane, cluster_namespace: str) -> None:
    """The second token authenticates, but RBAC forbids it everything not granted."""
    user = cluster.rest(token=cluster.unprivileged_token)
    with pytest.raises(HttpStatusError) as exc:
        user.get(f"/api/v1/namespaces/{cluster_namespace}/configmaps")
    assert exc.value.status == 403
    assert exc.value.body["reason"] == "Forbidden"
    assert UNPRIVILEGED_USER in exc.value.body["message"]


def test_rbac_grants_are_honoured(cluster: ControlPlane, cluster_namespace: str) -> None:
    """A RoleBinding lets the unprivileged user read configmaps in one namespace only."""
    admin = cluster.rest()
    ns = cluster_namespace
    admin.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
        "metadata": {"name": "read-cm"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    })
    admin.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": "read-cm"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-cm"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": UNPRIVILEGED_USER}],
    })
    user = cluster.rest(token=cluster.unprivileged_token)
    # RBAC reads bindings from an informer: allow it to catch up (a wait, generous: the apiserver
    # shares the machine with the suite)
    deadline = time.monotonic() + 60
    while True:
        try:
            listing = user.get(f"/api/v1/namespaces/{ns}/configmaps")
            break
        except HttpStatusError as exc:
            if exc.status != 403 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert listing["kind"] == "ConfigMapList"
    with pytest.raises(HttpStatusError) as denied:
        user.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x"}})
    assert denied.value.status == 403
    with pytest.raises(HttpStatusError) as elsewhere:
        user.get("/api/v1/namespaces/default/configmaps")
    assert elsewhere.value.status == 403


def test_unknown_token_is_unauthorized(cluster: ControlPlane) -> None:
    """A token not in the token file gets 401, not anonymous access."""
    with pytest.raises(HttpStatusError) as exc:
        cluster.rest(token="not-a-real-token").get("/api/v1/namespaces")
    assert exc.value.status == 401


def test_kubeconfig_loads_with_the_kubernetes_package(cluster: ControlPlane) -> None:
    """The admin kubeconfig is what the kubernetes package's loader expects."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    assert cfg.host == cluster.server
    assert cfg.ssl_ca_cert == str(cluster.ca_cert)
    assert cfg.auth_settings()["BearerToken"]["value"] == f"Bearer {cluster.admin_token}"


def test_owner_references_cascade(cluster: ControlPlane, cluster_namespace: str) -> None:
    """With kube-controller-manager's garbage collector, deleting an owner deletes its child."""
    if not cluster.has_controller_manager:
        pytest.skip("kube-controller-manager not built: no garbage collection")
    rest = cluster.rest()
    base = f"/api/v1/namespaces/{cluster_namespace}/configmaps"
    owner = rest.post(base, {"metadata": {"name": "owner"}})
    rest.post(base, {"metadata": {"name": "child", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
        "uid": owner["metadata"]["uid"]}]}})
    rest.delete(f"{base}/owner")
    deadline = time.monotonic() + 60
    while True:
        try:
            rest.get(f"{base}/child")
        except HttpStatusError as exc:
            assert exc.status == 404
            return
        if time.monotonic() > deadline:
            cluster.check_alive()
            pytest.fail("child ConfigMap still present 60 s after its owner was deleted")
        time.sleep(0.2)
