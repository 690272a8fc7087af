"""`controller.workflow_spec`: the lookups the planner is given, from the informers' caches."""
from __future__ import annotations

from tiphys.controller.workflow_spec import library_template


class _Store:
    def __init__(self, *objs: dict) -> None:
        self._by_key = {(f"{o['metadata']['namespace']}/" if o["metadata"].get("namespace") else "")
                        + o["metadata"]["name"]: o for o in objs}

    def get(self, key: str) -> dict | None:
        return self._by_key.get(key)


class _Informer:
    def __init__(self, *objs: dict) -> None:
        self.store = _Store(*objs)


def _library(name: str, namespace: str | None, say: str) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": meta, "spec": {"templates": [{"name": "echo", "container": {"args": [say]}}]}}


def test_template_ref_resolves_in_the_workflows_namespace_only() -> None:
    """Two namespaces each with a WorkflowTemplate `lib`: a workflow gets its own namespace's, as in
    Argo; one absent from its namespace is not found elsewhere; ClusterWorkflowTemplates by name."""
    templates = _Informer(_library("lib", "team-a", "a"), _library("lib", "team-b", "b"))
    clusters = _Informer(_library("lib", None, "cluster"))

    def find(namespace: str, cluster: bool = False, name: str = "lib") -> dict | None:
        return library_template(name, "echo", cluster, namespace=namespace, templates=templates,
                                cluster_templates=clusters)

    assert find("team-a")["container"]["args"] == ["a"]
    assert find("team-b")["container"]["args"] == ["b"]
    assert find("team-c") is None
    assert find("team-c", cluster=True)["container"]["args"] == ["cluster"]
    assert library_template("lib", "other", False, namespace="team-a", templates=templates,
                            cluster_templates=clusters) is None
    assert library_template("lib", "echo", False, namespace="team-a", templates=None, cluster_templates=None) is None
