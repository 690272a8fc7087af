"""What a rule sees: one workflow-shaped spec, where it sits, and the templates it may reference."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from tiphys.core.spec import Document, SpecError

__all__ = ["Library", "SpecContext", "TemplateSite"]

Path = tuple


@dataclass
class Library:
    """WorkflowTemplates and ClusterWorkflowTemplates given in the same lint call, by name."""

    namespaced: dict[str, dict] = field(default_factory=dict)
    cluster: dict[str, dict] = field(default_factory=dict)

    def add(self, doc: Document, resource: Any) -> None:
        name = doc.name
        if doc.kind == "WorkflowTemplate":
            self.namespaced[name] = doc.body
        elif doc.kind == "ClusterWorkflowTemplate":
            self.cluster[name] = doc.body

    def lookup(self, name: str, cluster: bool) -> dict | None:
        return (self.cluster if cluster else self.namespaced).get(name)

    def template(self, name: str, template: str, cluster: bool) -> dict | None:
        owner = self.lookup(name, cluster)
        if owner is None:
            return None
        for t in _list(_dict(owner.get("spec")).get("templates")):
            if isinstance(t, dict) and t.get("name") == template:
                return t
        return None


@dataclass(frozen=True)
class TemplateSite:
    """A template and its path inside the document."""

    path: Path
    body: dict

    @property
    def name(self) -> str:
        return str(self.body.get("name", ""))


@dataclass
class SpecContext:
    doc: Document
    kind: str
    spec_path: Path
    spec: dict
    library: Library
    # from spec.workflowTemplateRef: the referenced template's spec, merged under ours
    base_spec: dict | None = None

    @classmethod
    def of_document(cls, doc: Document, library: Library) -> Iterator["SpecContext"]:
        body = doc.body
        kind = doc.kind
        if kind in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"):
            yield cls(doc, kind, ("spec",), _dict(body.get("spec")), library)
        elif kind == "CronWorkflow":
            spec = _dict(_dict(body.get("spec")).get("workflowSpec"))
            yield cls(doc, kind, ("spec", "workflowSpec"), spec, library)

    def error(self, path: Path, message: str, rule: str, *, severity: str = "error") -> SpecError:
        return SpecError(self.doc.where(path), message, severity=severity, rule=rule)

    @property
    def templates(self) -> list[TemplateSite]:
        return [TemplateSite(self.spec_path + ("templates", i), t)
                for i, t in enumerate(_list(self.spec.get("templates"))) if isinstance(t, dict)]

    def local_template(self, name: str) -> dict | None:
        for site in self.templates:
            if site.name == name:
                return site.body
        if self.base_spec is not None:
            for t in _list(self.base_spec.get("templates")):
                if isinstance(t, dict) and t.get("name") == name:
                    return t
        return None

    def workflow_parameters(self) -> dict[str, dict]:
        """Workflow-level argument parameters by name, the referenced template's first."""
        params: dict[str, dict] = {}
        for spec in (self.base_spec, self.spec):
            for p in _list(_dict(_dict(spec).get("arguments")).get("parameters")):
                if isinstance(p, dict) and isinstance(p.get("name"), str):
                    params[p["name"]] = p
        return params


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
