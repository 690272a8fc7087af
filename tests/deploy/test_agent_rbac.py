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
    """The in-cluster agent's calls: a list of its task set (field selector on its name) and a
    watch of it -- the `list`/`watch` verbs on workflowtasksets -- and a merge patch of its status
    subresource (the path a `workflowtasksets/status` rule covers); a Secret only for a secret header."""
    import asyncio

    from tiphys.executor.agent import AgentSettings, KubeTaskSetApi
    from tiphys.executor.kube import InClusterClient, KubeGone, Snapshot

    calls: list[tuple[str, str, str]] = []

    class Expired:
        def __aiter__(self):
            return self

        async def __anext__(self):
            raise KubeGone("too old resource version", status=410, reason="Expired")

        async def aclose(self):
            pass

    class Recorder:
        async def snapshot(self, kind, /, *, namespace, label_selector=None, field_selector=None):
            calls.append(("list", kind.plural, field_selector))
            return Snapshot([], "7")

        def watch(self, kind, /, *, namespace, resource_version=None, field_selector=None, **options):
            calls.append(("watch", kind.plural, field_selector))
            return Expired()

        async def patch(self, kind, name, patch, /, *, namespace, patch_kind, subresource=None):
            calls.append(("patch", InClusterClient._path(kind, namespace, name, subresource), str(patch_kind)))

    async def no_wait(seconds: float) -> None:
        pass

    settings = AgentSettings(workflow_name="wf", namespace="ns")
    api = KubeTaskSetApi(Recorder(), settings, sleep=no_wait, log=lambda line: None)

    async def go() -> None:
        assert await api.get() is None
        assert await api.changed("7") is None
        await api.patch_status({"n": {"phase": "Succeeded"}})

    asyncio.run(go())
    assert calls == [("list", TASK_SETS, "metadata.name=wf"), ("watch", TASK_SETS, "metadata.name=wf"),
                     ("patch", "/apis/argoproj.io/v1alpha1/namespaces/ns/workflowtasksets/wf/status", "merge")]