"""deploy/ RBAC for HTTP templates: the controller's task-set rules, the agent's Role (Argo's
`agent` Role), and the controller's applier and agent calls staying inside them."""
from __future__ import annotations

import pytest

from ._deploy import INSTALL_NAMESPACE, INSTALLS, one, render
from .test_manifests import _rules

TASK_SETS = "workflowtasksets"


@pytest.mark.parametrize("base", INSTALLS)
def test_controller_may_manage_task_sets(base: str) -> None:
    docs = render(base)
    kind = "ClusterRole" if base == "cluster-install" else "Role"
    granted = _rules(docs, kind, "tiphys-controller")
    assert {v for g, r, v in granted if r == TASK_SETS} == {"get", "list", "watch", "create", "patch", "delete"}
    assert {v for g, r, v in granted if r == TASK_SETS + "/status"} == {"patch"}
    assert all(g == "argoproj.io" for g, r, _ in granted if r.startswith(TASK_SETS))


@pytest.mark.parametrize("base", INSTALLS)
def test_agent_reads_its_task_set_and_patches_only_its_status(base: str) -> None:
    docs = render(base)
    assert _rules(docs, "Role", "tiphys-agent") == {
        ("argoproj.io", TASK_SETS, "get"), ("argoproj.io", TASK_SETS, "list"), ("argoproj.io", TASK_SETS, "watch"),
        ("argoproj.io", TASK_SETS + "/status", "patch")}
    binding = one(docs, "RoleBinding", "tiphys-agent")
    assert binding["roleRef"]["name"] == "tiphys-agent"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tiphys-workflow",
                                    "namespace": INSTALL_NAMESPACE}]


def test_the_agent_asks_only_what_its_role_grants() -> None:
    """The in-cluster agent's calls: get of the task set, a merge patch of its status subresource
    (the path a `workflowtasksets/status` rule covers), get of a Secret only for a secret header."""
    import asyncio

    from tiphys.executor.agent import AgentSettings, KubeTaskSetApi
    from tiphys.executor.kube import KubeNotFound

    calls: list[tuple[str, str, str]] = []

    class Recorder:
        async def get(self, kind, name, /, *, namespace):
            calls.append(("get", kind.plural, name))
            raise KubeNotFound("no", status=404, reason="NotFound")

        async def patch(self, kind, name, patch, /, *, namespace, patch_kind):
            from tiphys.executor.kube import InClusterClient
            calls.append(("patch", InClusterClient._path(kind, namespace, name), str(patch_kind)))

    settings = AgentSettings(workflow_name="wf", namespace="ns")
    api = KubeTaskSetApi(Recorder(), settings)
    assert asyncio.run(api.get()) is None
    asyncio.run(api.patch_status({"n": {"phase": "Succeeded"}}))
    assert calls == [("get", TASK_SETS, "wf"),
                     ("patch", "/apis/argoproj.io/v1alpha1/namespaces/ns/workflowtasksets/wf/status", "merge")]
