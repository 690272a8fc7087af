"""deploy/ RBAC for artifact GC: the controller's task rules, the GC pod's Role (Argo's
`artifactgc` Role), and the in-cluster GC command's calls staying inside it."""
from __future__ import annotations

import asyncio

import pytest

from ._deploy import DEPLOY, INSTALL_NAMESPACE, INSTALLS, one, render
from .test_manifests import _rules

TASKS = "workflowartifactgctasks"


@pytest.mark.parametrize("base", INSTALLS)
def test_controller_may_manage_gc_tasks(base: str) -> None:
    docs = render(base)
    kind = "ClusterRole" if base == "cluster-install" else "Role"
    granted = _rules(docs, kind, "tiphys-controller")
    assert {v for g, r, v in granted if r == TASKS} == {"get", "list", "watch", "create", "delete"}
    assert not {v for g, r, v in granted if r == TASKS + "/status"}  # the GC pod writes results, not us
    assert all(g == "argoproj.io" for g, r, _ in granted if r.startswith(TASKS))


@pytest.mark.parametrize("base", INSTALLS)
def test_gc_pod_lists_its_tasks_and_patches_only_their_status(base: str) -> None:
    docs = render(base)
    assert _rules(docs, "Role", "tiphys-artifactgc") == {
        ("argoproj.io", TASKS, "list"), ("argoproj.io", TASKS, "watch"), ("argoproj.io", TASKS + "/status", "patch")}
    binding = one(docs, "RoleBinding", "tiphys-artifactgc")
    assert binding["roleRef"]["name"] == "tiphys-artifactgc"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tiphys-workflow",
                                    "namespace": INSTALL_NAMESPACE}]


def test_readme_no_longer_lists_gc_tasks_as_withheld() -> None:
    readme = (DEPLOY / "README.md").read_text()
    withheld = readme.split("### What the controller does **not** get", 1)[1].split("## The CRDs", 1)[0]
    assert TASKS not in withheld
    assert "tiphys-artifactgc" in readme


def test_the_gc_command_asks_only_what_its_role_grants() -> None:
    """A list of its tasks by the pod label, and merge patches of each task's status subresource."""
    from tiphys.executor.artifact_gc import GCSettings, KubeGCTaskApi
    from tiphys.executor.kube import InClusterClient

    calls: list[tuple] = []

    class Recorder:
        async def list(self, kind, /, *, namespace, label_selector=None):
            calls.append(("list", kind.plural, namespace, label_selector))
            return []

        async def patch(self, kind, name, patch, /, *, namespace, patch_kind, subresource=None):
            calls.append(("patch", InClusterClient._path(kind, namespace, name, subresource), str(patch_kind), patch))

    api = KubeGCTaskApi(Recorder(), GCSettings(pod_name="wf-artgc-wfcomp-1", namespace="ns"))
    assert asyncio.run(api.list_tasks()) == []
    asyncio.run(api.patch_status("wf-artgc-wfcomp-1-0", {"artifactResultsByNode": {}}))
    assert calls == [
        ("list", TASKS, "ns", "workflows.argoproj.io/artifact-gc-pod=wf-artgc-wfcomp-1"),
        ("patch", "/apis/argoproj.io/v1alpha1/namespaces/ns/workflowartifactgctasks/wf-artgc-wfcomp-1-0/status",
         "merge", {"status": {"artifactResultsByNode": {}}})]
