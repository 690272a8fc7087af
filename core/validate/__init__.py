"""Lint rules, as Argo's `workflow/validate` applies them: every error of every file at once.

`lint_texts` loads files, decodes every document, then checks each workflow-shaped spec
(Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow) against the templates
passed in the same call. Rules live in small modules by topic; each returns SpecErrors whose
location names file, line and field path.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tiphys.core.spec import KINDS, Document, Limits, SpecError, SpecErrors, decode_document, load_text
from tiphys.core.validate.context import Library, SpecContext
from tiphys.core.validate.rules import check_spec

__all__ = ["FileReport", "lint_texts"]


@dataclass
class FileReport:
    source: str
    documents: int = 0
    skipped: int = 0  # documents of other APIs (ConfigMaps, PVCs, ...), as `argo lint` skips them
    problems: list[SpecError] = field(default_factory=list)

    @property
    def errors(self) -> list[SpecError]:
        return [p for p in self.problems if p.severity == "error"]


def lint_texts(files: list[tuple[str, bytes]], /, *, strict: bool = False, limits: Limits = Limits()) -> list[FileReport]:
    """Lint (source, text) pairs together, so templateRefs resolve across them."""
    reports: list[FileReport] = []
    loaded: list[tuple[FileReport, Document]] = []
    for source, text in files:
        report = FileReport(source)
        reports.append(report)
        try:
            docs = load_text(text, source=source, limits=limits)
        except SpecError as exc:
            report.problems.append(exc)
            continue
        for doc in docs:
            api_version = doc.body.get("apiVersion", "") if isinstance(doc.body, dict) else ""
            if isinstance(doc.body, dict) and not api_version and not doc.kind:
                report.skipped += 1
                report.problems.append(SpecError(doc.where(()), "not a Kubernetes object (no apiVersion or kind); "
                                                 "skipped", severity="warning", rule="not-an-object"))
                continue
            if isinstance(api_version, str) and api_version and not api_version.startswith("argoproj.io/") \
                    and doc.kind not in KINDS:
                report.skipped += 1
                continue
            report.documents += 1
            loaded.append((report, doc))
    library = Library()
    decoded: list[tuple[FileReport, Document]] = []
    for report, doc in loaded:
        try:
            resource, warnings = decode_document(doc, strict=strict)
        except SpecErrors as exc:
            report.problems.extend(exc.errors)
            continue
        report.problems.extend(warnings)
        library.add(doc, resource)
        decoded.append((report, doc))
    for report, doc in decoded:
        for ctx in SpecContext.of_document(doc, library):
            report.problems.extend(check_spec(ctx))
    for report in reports:
        report.problems.sort(key=lambda p: (p.location.document, p.location.line or 0))
    return reports
