"""deploy/ against the real kube-apiserver of the test session (tests/cluster/fixture.py).

The server, not our reading of the docs, decides: every base passes a server-side dry-run
apply, every Argo example is accepted by our CRDs (the fixture installed them from deploy/),
PodSecurity admission admits the controller pod in a `restricted` namespace and refuses a
privileged one, and the ServiceAccounts' real tokens can do what the controller and the
executor need and nothing we promised they cannot.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster._rest import HttpStatusError, Rest
from tests.conftest import SHARED_ARGO, argo_examples

from ._deploy import BASES, DEPLOY, INSTALL_NAMESPACE, kubectl, load_yaml, one, overlay, render

pytestmark = pytest.mark.cluster

ARGO_PLURALS = {"Workflow": "workflows", "WorkflowTemplate": "workflowtemplates",
                "ClusterWorkflowTemplate": "clusterworkflowtemplates", "CronWorkflow": "cronworkflows",
                "WorkflowEventBinding": "workfloweventbindings"}


def _argo_documents(path: Path, /) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("apiVersion") == "argoproj.io/v1alpha1"]


# the few examples that hold only a ConfigMap, PVC or ResourceQuota have nothing for our CRDs
EXAMPLES = [p for p in argo_examples() if _argo_documents(p)]


def _ensure_namespace(rest: Rest, name: str, /) -> None:
    try:
        rest.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except HttpStatusError as exc:
        if exc.status != 409:
            raise


def _forbidden(exc: HttpStatusError) -> str:
    assert exc.status == 403, exc
    return str(exc.body.get("message", "")) if isinstance(exc.body, dict) else str(exc.body)


# --- the bases, applied -----------------------------------------------------------------


@pytest.mark.parametrize("base", BASES)
def test_server_side_dry_run_apply_accepts_the_base(cluster: Any, base: str) -> None:
    _ensure_namespace(cluster.rest(), INSTALL_NAMESPACE)
    out = kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=tiphys-test",
                  "-k", str(DEPLOY / base), kubeconfig=cluster.kubeconfig).stdout
    applied = [line for line in out.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(render(base)), out


def test_server_side_dry_run_refuses_a_broken_manifest(cluster: Any, tmp_path: Path) -> None:
    # the control for the test above: a dry run does validate
    docs = render("cluster-install")
    deployment = one(docs, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment))
    _ensure_namespace(cluster.rest(), INSTALL_NAMESPACE)
    with pytest.raises(pytest.fail.Exception, match="containerPort"):
        kubectl("apply", "--server-side", "--dry-run=server", "-f", str(path), kubeconfig=cluster.kubeconfig)


def test_the_cluster_serves_our_crds(cluster: Any) -> None:
    rest = cluster.rest()
    for path in sorted((DEPLOY / "crds").glob("argoproj.io_*.yaml")):
        (ours,) = load_yaml(path)
        served = rest.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{ours['metadata']['name']}")
        # the fixture installed deploy/'s CRDs, not Argo's: the examples below test ours
        assert served["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tiphys"
        assert served["spec"]["names"] == ours["spec"]["names"]
    assert "wf" in kubectl("api-resources", "--api-group=argoproj.io", kubeconfig=cluster.kubeconfig).stdout


# --- Argo's examples against our CRDs ---------------------------------------------------


@pytest.fixture(scope="module")
def examples_namespace(cluster: Any) -> Iterator[str]:
    name = cluster.create_namespace("deploy-examples")
    yield name
    cluster.delete_namespace(name)


def _dry_run_create(rest: Rest, namespace: str, doc: dict[str, Any], /) -> dict[str, Any]:
    plural = ARGO_PLURALS[doc["kind"]]
    scope = "" if doc["kind"] == "ClusterWorkflowTemplate" else f"/namespaces/{namespace}"
    return rest.post(f"/apis/argoproj.io/v1alpha1{scope}/{plural}?dryRun=All&fieldValidation=Strict", doc)


def _error_fields(exc: HttpStatusError, /) -> list[str]:
    if exc.status != 422 or not isinstance(exc.body, dict):
        return []
    return [c.get("field", "") for c in (exc.body.get("details") or {}).get("causes") or ()]


@pytest.mark.skipif(not EXAMPLES, reason=f"Argo's examples not found under {SHARED_ARGO / 'examples'}")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(SHARED_ARGO / "examples")))
def test_argo_example_is_accepted_by_the_crds(cluster: Any, examples_namespace: str, path: Path) -> None:
    docs = _argo_documents(path)
    rest = cluster.rest()
    for doc in docs:
        try:
            created = _dry_run_create(rest, examples_namespace, doc)
        except HttpStatusError as exc:
            # Two upstream examples have mis-indented metadata (no name, a label that is not
            # one): the generic object-meta validation refuses them before any CRD is asked.
            # Judge our CRD on the rest of the document with metadata that is valid.
            if _error_fields(exc) and all(f.startswith("metadata.") for f in _error_fields(exc)):
                created = _dry_run_create(rest, examples_namespace, {**doc, "metadata": {"generateName": "example-"}})
            else:
                raise
        # preserve-unknown-fields: nothing of the spec was pruned on the way in
        assert created["spec"] == doc["spec"], f"{path.name}: the server changed {doc['kind']} spec"


@pytest.mark.parametrize("kind, doc, field", [
    ("Workflow", {"metadata": {"generateName": "x-"}}, "spec"),
    ("Workflow", {"metadata": {"generateName": "x-"}, "spec": "not an object"}, "spec"),
    ("WorkflowEventBinding", {"metadata": {"name": "x"}, "spec": {"submit": {}}}, "event"),
])
def test_crds_refuse_what_argo_refuses(cluster: Any, examples_namespace: str, kind: str, doc: dict, field: str) -> None:
    body = {"apiVersion": "argoproj.io/v1alpha1", "kind": kind, **doc}
    with pytest.raises(HttpStatusError) as caught:
        _dry_run_create(cluster.rest(), examples_namespace, body)
    assert caught.value.status == 422 and field in str(caught.value)


# --- Pod Security: the controller pod under `restricted` --------------------------------


def _controller_pod(name: str, /) -> dict[str, Any]:
    template = one(render("cluster-install"), "Deployment", "workflow-controller")["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": name},
            "spec": template["spec"]}


@pytest.fixture
def restricted_namespace(cluster: Any) -> Iterator[str]:
    name = cluster.create_namespace("deploy-pss", labels={
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest"})
    yield name
    cluster.delete_namespace(name)


def test_restricted_namespace_admits_the_controller_pod(cluster: Any, restricted_namespace: str) -> None:
    rest = cluster.rest()
    created = rest.post(f"/api/v1/namespaces/{restricted_namespace}/pods", _controller_pod("controller"))
    assert created["metadata"]["uid"]
    assert created["spec"]["securityContext"]["runAsUser"] == 8737


@pytest.mark.parametrize("weaken", ["privileged", "no-seccomp", "escalation", "root", "capabilities"])
def test_restricted_namespace_refuses_a_weakened_pod(cluster: Any, restricted_namespace: str, weaken: str) -> None:
    pod = copy.deepcopy(_controller_pod(f"weak-{weaken}"))
    spec, ctr = pod["spec"], pod["spec"]["containers"][0]
    if weaken == "privileged":
        ctr["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    elif weaken == "no-seccomp":
        del spec["securityContext"]["seccompProfile"]
    elif weaken == "escalation":
        ctr["securityContext"]["allowPrivilegeEscalation"] = True
    elif weaken == "root":
        spec["securityContext"].update(runAsNonRoot=False, runAsUser=0)
        ctr["securityContext"]["runAsNonRoot"] = False
    else:
        ctr["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    with pytest.raises(HttpStatusError) as caught:
        cluster.rest().post(f"/api/v1/namespaces/{restricted_namespace}/pods", pod)
    assert "violates PodSecurity" in _forbidden(caught.value)


# --- RBAC: real tokens of the shipped ServiceAccounts -----------------------------------


def _install(cluster: Any, tmp_path: Path, base: str, namespace: str) -> None:
    kubectl("apply", "--server-side", "--field-manager=tiphys-test",
            "-k", str(overlay(tmp_path / base, base, namespace=namespace)), kubeconfig=cluster.kubeconfig)


def _token(cluster: Any, namespace: str, service_account: str) -> Rest:
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
    answer = cluster.rest().post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token", request)
    return cluster.rest(token=answer["status"]["token"])


def _can(rest: Rest, verb: str, resource: str, /, *, namespace: str = "", group: str = "",
         subresource: str = "", name: str = "") -> bool:
    attrs = {"verb": verb, "resource": resource, "group": group, "namespace": namespace,
             "subresource": subresource, "name": name}
    review = rest.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {k: v for k, v in attrs.items() if v}}})
    return bool(review["status"]["allowed"])


# What the controller must be able to do in a namespace it manages.
NEEDED = [("get", "workflows", "argoproj.io"), ("list", "workflows", "argoproj.io"),
          ("watch", "workflows", "argoproj.io"), ("update", "workflows", "argoproj.io"),
          ("patch", "workflows", "argoproj.io"), ("list", "workflowtemplates", "argoproj.io"),
          ("watch", "cronworkflows", "argoproj.io"), ("update", "cronworkflows", "argoproj.io"),
          ("watch", "workflowtaskresults", "argoproj.io"), ("deletecollection", "workflowtaskresults", "argoproj.io"),
          ("create", "pods", ""), ("delete", "pods", ""), ("patch", "pods", ""), ("watch", "pods", ""),
          ("create", "persistentvolumeclaims", ""), ("delete", "persistentvolumeclaims", ""),
          ("watch", "configmaps", ""), ("create", "configmaps", ""), ("update", "configmaps", ""),
          ("create", "events", ""), ("patch", "events", ""),
          ("create", "poddisruptionbudgets", "policy"), ("delete", "poddisruptionbudgets", "policy")]
# What it must not, anywhere.
REFUSED = [("create", "pods", "", "exec"), ("get", "pods", "", "exec"), ("get", "secrets", "", ""),
           ("list", "secrets", "", ""), ("update", "workflowtemplates", "argoproj.io", ""),
           ("delete", "configmaps", "", ""), ("create", "roles", "rbac.authorization.k8s.io", ""),
           ("create", "serviceaccounts", "", "token"), ("delete", "leases", "coordination.k8s.io", ""),
           ("update", "poddisruptionbudgets", "policy", ""), ("get", "poddisruptionbudgets", "policy", "")]


def _check_controller(rest: Rest, *, home: str, managed: list[str], unmanaged: list[str]) -> None:
    wrong = []
    for ns in managed:
        wrong += [f"cannot {v} {r} in {ns}" for v, r, g in NEEDED if not _can(rest, v, r, namespace=ns, group=g)]
    for ns in unmanaged:
        wrong += [f"can {v} {r} in {ns}" for v, r, g in NEEDED if _can(rest, v, r, namespace=ns, group=g)]
    for ns in [home, *managed, *unmanaged, ""]:
        wrong += [f"can {v} {r}/{s} in {ns or 'all namespaces'}" for v, r, g, s in REFUSED
                  if _can(rest, v, r, namespace=ns, group=g, subresource=s)]
    lease = dict(group="coordination.k8s.io", namespace=home)
    for verb in ("get", "update"):
        if not _can(rest, verb, "leases", name="workflow-controller", **lease):
            wrong.append(f"cannot {verb} its Lease")
        if _can(rest, verb, "leases", name="someone-elses-lease", **lease):
            wrong.append(f"can {verb} another Lease")
    if not _can(rest, "create", "leases", **lease):
        wrong.append("cannot create its Lease")
    for ns in [*managed, *unmanaged]:
        if ns != home and _can(rest, "create", "leases", group="coordination.k8s.io", namespace=ns):
            wrong.append(f"can create Leases in {ns}")
    if not _can(rest, "list", "clusterworkflowtemplates", group="argoproj.io"):
        wrong.append("cannot list clusterworkflowtemplates")
    assert not wrong, wrong


@pytest.fixture
def two_namespaces(cluster: Any) -> Iterator[tuple[str, str]]:
    names = cluster.create_namespace("deploy-home"), cluster.create_namespace("deploy-other")
    yield names
    for name in names:
        cluster.delete_namespace(name)


def test_cluster_install_controller_token(cluster: Any, tmp_path: Path, two_namespaces: tuple[str, str]) -> None:
    home, other = two_namespaces
    _install(cluster, tmp_path, "cluster-install", home)
    rest = _token(cluster, home, "tiphys-controller")
    _check_controller(rest, home=home, managed=[home, other, ""], unmanaged=[])
    # and for real, not only as a review: list pods everywhere, read no secret anywhere
    assert rest.get("/api/v1/pods?limit=1")["kind"] == "PodList"
    with pytest.raises(HttpStatusError) as caught:
        rest.get(f"/api/v1/namespaces/{home}/secrets")
    _forbidden(caught.value)


def test_namespace_install_controller_token(cluster: Any, tmp_path: Path, two_namespaces: tuple[str, str]) -> None:
    home, other = two_namespaces
    _install(cluster, tmp_path, "namespace-install", home)
    rest = _token(cluster, home, "tiphys-controller")
    _check_controller(rest, home=home, managed=[home], unmanaged=[other, ""])
    assert rest.get(f"/api/v1/namespaces/{home}/pods")["kind"] == "PodList"
    with pytest.raises(HttpStatusError) as caught:
        rest.get(f"/api/v1/namespaces/{other}/pods")
    _forbidden(caught.value)


def test_workflow_pod_token_may_only_report_task_results(
        cluster: Any, tmp_path: Path, two_namespaces: tuple[str, str]) -> None:
    home, other = two_namespaces
    _install(cluster, tmp_path, "namespace-install", home)
    rest = _token(cluster, home, "tiphys-workflow")
    results = dict(group="argoproj.io", namespace=home)
    assert all(_can(rest, v, "workflowtaskresults", **results) for v in ("create", "get", "patch"))
    wrong = [v for v in ("delete", "list", "watch", "update", "deletecollection")
             if _can(rest, v, "workflowtaskresults", **results)]
    wrong += [f"{v} {r}" for v, r, g in [("get", "workflows", "argoproj.io"), ("get", "pods", ""),
                                         ("get", "secrets", ""), ("get", "configmaps", ""),
                                         ("create", "pods", "")]
              if _can(rest, v, r, namespace=home, group=g)]
    wrong += ["create elsewhere"] if _can(rest, "create", "workflowtaskresults", group="argoproj.io",
                                          namespace=other) else []
    assert not wrong, wrong
    # the executor's real report: create, then patch, with the pod's own token
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{home}/workflowtaskresults"
    created = rest.post(path, {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskResult",
                               "metadata": {"name": "wf-1234", "labels": {"workflows.argoproj.io/workflow": "wf"}},
                               "outputs": {"parameters": [{"name": "p", "value": "1"}]}})
    assert created["outputs"]["parameters"] == [{"name": "p", "value": "1"}]
    patched = rest.request("PATCH", f"{path}/wf-1234", body={"phase": "Succeeded"},
                           content_type="application/merge-patch+json")
    assert patched["phase"] == "Succeeded"
    with pytest.raises(HttpStatusError) as caught:
        rest.delete(f"{path}/wf-1234")
    _forbidden(caught.value)
