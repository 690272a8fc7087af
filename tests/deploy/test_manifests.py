"""deploy/ read statically: our CRDs mirror Argo's, the bases hold what an install needs,
the Deployment meets the `restricted` Pod Security Standard on paper, and RBAC stays least
privilege. The cluster tests (test_deploy_cluster.py) show the API server agrees."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import argo_path

from ._deploy import (BASES, DEPLOY, INSTALL_NAMESPACE, INSTALLS, controller_container, load_yaml, one,
                      overlay, render)

CRD_FILES = sorted((DEPLOY / "crds").glob("argoproj.io_*.yaml"))
PLURALS = ("workflows", "workflowtemplates", "clusterworkflowtemplates", "cronworkflows", "workflowtaskresults",
           "workflowtasksets", "workflowartifactgctasks", "workfloweventbindings")
# What no controller rule may grant: exec is a shell in any workflow pod, secrets are every
# credential in the cluster, and the rest are the RBAC escalation verbs.
FORBIDDEN_RESOURCES = {"secrets", "pods/exec", "pods/attach", "pods/portforward", "serviceaccounts/token", "*"}
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}


def _crd_summary(doc: dict) -> dict:
    spec = doc["spec"]
    (version,) = spec["versions"]
    return {"name": doc["metadata"]["name"], "group": spec["group"], "names": spec["names"],
            "scope": spec["scope"], "version": version["name"], "served": version["served"],
            "storage": version["storage"], "subresources": version.get("subresources") or {},
            "columns": [(c["name"], c["jsonPath"]) for c in version.get("additionalPrinterColumns", ())]}


def test_every_argo_resource_has_one_crd_file_listed_in_the_kustomization() -> None:
    assert sorted(p.name for p in CRD_FILES) == sorted(f"argoproj.io_{p}.yaml" for p in PLURALS)
    listed = yaml.safe_load((DEPLOY / "crds" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in CRD_FILES)


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_crd_matches_argo_names_scope_and_subresources(path: Path) -> None:
    argo = argo_path("crds", "minimal", path.name)
    (ours,) = load_yaml(path)
    (theirs,) = load_yaml(argo)
    assert _crd_summary(ours) == _crd_summary(theirs)


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_crd_is_small_and_structural(path: Path) -> None:
    (doc,) = load_yaml(path)
    # etcd's default request limit is 1.5 MiB and client-side apply's annotation 256 KiB:
    # ours must apply either way, unlike Argo's full CRDs.
    assert path.stat().st_size < 16 * 1024
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["type"] == "object"
    for name, prop in schema["properties"].items():
        assert "type" in prop, f"{path.name}: property {name} has no type (non-structural schema)"


def test_the_cluster_fixture_installs_our_crds() -> None:
    # tests/cluster/fixture.py picks every CustomResourceDefinition under deploy/: exactly ours.
    from tests.cluster._control_plane import load_crds
    found = load_crds([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert sorted(d["metadata"]["name"] for d in found) == sorted(f"{p}.argoproj.io" for p in PLURALS)


@pytest.mark.parametrize("base", BASES)
def test_base_renders(base: str) -> None:
    docs = render(base)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert len(crds) == len(PLURALS)
    if base == "crds":
        assert len(docs) == len(PLURALS)
        return
    namespaced = [d for d in docs if d["kind"] not in
                  {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}]
    assert namespaced and all(d["metadata"].get("namespace") == INSTALL_NAMESPACE for d in namespaced)
    for kind, name in [("Deployment", "workflow-controller"), ("ServiceAccount", "tiphys-controller"),
                       ("ConfigMap", "workflow-controller-configmap"), ("PodDisruptionBudget", "workflow-controller"),
                       ("Service", "workflow-controller-metrics"), ("ServiceAccount", "tiphys-workflow"),
                       ("Role", "tiphys-workflow-executor"), ("RoleBinding", "tiphys-workflow-executor"),
                       ("Role", "tiphys-controller-leader-election")]:
        one(docs, kind, name)


@pytest.mark.parametrize("base", INSTALLS)
def test_deployment_is_restricted_single_replica_with_leader_election(base: str) -> None:
    docs = render(base)
    deploy = one(docs, "Deployment", "workflow-controller")
    pod = deploy["spec"]["template"]["spec"]
    ctr = controller_container(deploy)
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert pod["serviceAccountName"] == "tiphys-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 8737
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = ctr["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert not sc.get("privileged")
    assert ctr["resources"]["requests"] and ctr["resources"]["limits"]["memory"]
    assert "--leader-elect" in ctr["args"]
    args = " ".join(ctr["args"])
    assert "--configmap workflow-controller-configmap" in args
    assert "--metrics-port 9090" in args and "--health-port 6060" in args
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert ports == {"metrics": 9090, "health": 6060}
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    # only emptyDir volumes: the restricted standard allows them, and nothing else is needed
    assert all(set(v) == {"name", "emptyDir"} for v in pod.get("volumes", ()))
    namespaced_flag = [a for a in ctr["args"] if a.startswith("--namespace")]
    if base == "namespace-install":
        assert namespaced_flag == ["--namespace=$(POD_NAMESPACE)"]
        env = {e["name"]: e for e in ctr["env"]}
        assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    else:
        assert namespaced_flag == []


@pytest.mark.parametrize("base", INSTALLS)
def test_service_and_pdb_select_the_controller_pod(base: str) -> None:
    docs = render(base)
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service", "workflow-controller-metrics")
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # one replica: a budget of minAvailable 1 would block every node drain
    assert "minAvailable" not in pdb["spec"]


def _rules(docs: list[dict], kind: str, name: str) -> set[tuple[str, str, str]]:
    out = set()
    for rule in one(docs, kind, name)["rules"]:
        assert not rule.get("nonResourceURLs"), f"{kind}/{name} grants non-resource URLs"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((group, resource, verb))
    return out


@pytest.mark.parametrize("base", INSTALLS)
def test_controller_rbac_is_least_privilege(base: str) -> None:
    docs = render(base)
    kind = "ClusterRole" if base == "cluster-install" else "Role"
    granted = _rules(docs, kind, "tiphys-controller")
    assert not {r for r in granted if r[1] in FORBIDDEN_RESOURCES or r[2] in FORBIDDEN_VERBS}
    assert all(g in {"", "argoproj.io"} or r == "poddisruptionbudgets" for g, r, _ in granted)
    # spec.podDisruptionBudget: made at start, deleted at completion, never read back
    assert {(g, v) for g, r, v in granted if r == "poddisruptionbudgets"} == {("policy", "create"), ("policy", "delete")}
    pods = {v for g, r, v in granted if r == "pods"}
    assert pods == {"get", "list", "watch", "create", "delete", "patch"}
    # read: its ConfigMap, parameters, semaphore limits; create/update: memoize caches
    assert {v for g, r, v in granted if r == "configmaps"} == {"get", "list", "watch", "create", "update"}
    # the namespace parallelism label is cluster data: only the cluster install reads namespaces
    assert {v for g, r, v in granted if r == "namespaces"} == ({"get", "list", "watch"} if base == "cluster-install" else set())
    assert {v for g, r, v in granted if r == "events"} == {"create", "patch"}
    assert {v for g, r, v in granted if r == "workflowtemplates"} == {"get", "list", "watch"}
    assert {v for g, r, v in granted if r == "workflowtaskresults"} == \
        {"get", "list", "watch", "delete", "deletecollection"}
    cwft = {v for g, r, v in granted if r == "clusterworkflowtemplates"}
    if base == "namespace-install":
        # a Role cannot grant a cluster-scoped resource; the read comes from its own ClusterRole
        assert not cwft
        extra = _rules(docs, "ClusterRole", "tiphys-controller-cluster-template")
        assert extra == {("argoproj.io", "clusterworkflowtemplates", v) for v in ("get", "list", "watch")}
        assert [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"] == \
            ["tiphys-controller-cluster-template"]
    else:
        assert cwft == {"get", "list", "watch"}
    lease = one(docs, "Role", "tiphys-controller-leader-election")
    assert {(tuple(r["verbs"]), tuple(r.get("resourceNames", ()))) for r in lease["rules"]} == \
        {(("create",), ()), (("get", "update"), ("workflow-controller",))}


@pytest.mark.parametrize("base", INSTALLS)
def test_workflow_pods_may_only_report_task_results(base: str) -> None:
    docs = render(base)
    assert _rules(docs, "Role", "tiphys-workflow-executor") == {
        ("argoproj.io", "workflowtaskresults", v) for v in ("create", "get", "patch")}
    binding = one(docs, "RoleBinding", "tiphys-workflow-executor")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tiphys-workflow",
                                    "namespace": INSTALL_NAMESPACE}]


@pytest.mark.parametrize("base", INSTALLS)
def test_bindings_follow_the_namespace_of_an_overlay(base: str, tmp_path: Path) -> None:
    docs = render(overlay(tmp_path / "overlay", base, namespace="elsewhere"))
    for doc in docs:
        if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert {s["namespace"] for s in doc["subjects"]} == {"elsewhere"}, doc["metadata"]["name"]
        elif doc["kind"] not in ("CustomResourceDefinition", "ClusterRole"):
            assert doc["metadata"]["namespace"] == "elsewhere"


def test_readme_explains_every_controller_rule() -> None:
    readme = (DEPLOY / "README.md").read_text()
    docs = [*load_yaml(DEPLOY / "cluster-install" / "controller-clusterrole.yaml"),
            *load_yaml(DEPLOY / "base" / "controller-leader-election-rbac.yaml"),
            *load_yaml(DEPLOY / "base" / "workflow-rbac.yaml")]
    resources = {res for d in docs for rule in d.get("rules", ()) for res in rule["resources"]}
    missing = sorted(r for r in resources if f"`{r}`" not in readme)
    assert not missing, f"deploy/README.md does not explain the rules on {missing}"


@pytest.mark.parametrize("base", INSTALLS)
def test_controller_accepts_the_deployment_flags_and_configmap(base: str) -> None:
    from tiphys.controller.config import parse_configmap
    from tiphys.controller.main import parse_args

    docs = render(base)
    ctr = controller_container(one(docs, "Deployment", "workflow-controller"))
    # the kubelet expands $(VAR) from the container's env before the process sees it
    options = parse_args([a.replace("$(POD_NAMESPACE)", INSTALL_NAMESPACE) for a in ctr["args"]])
    config = parse_configmap(one(docs, "ConfigMap", "workflow-controller-configmap"))
    assert options.leader_elect is True
    assert options.configmap == "workflow-controller-configmap"
    assert options.executor_image == ctr["image"]
    assert options.metrics_port == config.metrics.port == 9090
    assert options.namespace == (INSTALL_NAMESPACE if base == "namespace-install" else None)
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert ports == {"metrics": options.metrics_port, "health": options.health_port}
    # the Lease the controller takes is the one the leader-election Role names
    assert options.lease_name in (None, "workflow-controller") and options.instance_id is None
