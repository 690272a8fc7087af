"""All lint rules for one workflow-shaped spec, in the order a reader would fix them."""
from __future__ import annotations

from tiphys.core.spec import SpecError
from tiphys.core.validate.context import SpecContext
from tiphys.core.validate.graph import check_dags
from tiphys.core.validate.metrics import check_metrics
from tiphys.core.validate.references import check_hooks, check_references
from tiphys.core.validate.structure import check_structure
from tiphys.core.validate.variables import check_variables

__all__ = ["check_spec"]


def check_spec(ctx: SpecContext) -> list[SpecError]:
    problems = list(check_structure(ctx))
    problems += check_references(ctx)  # resolves workflowTemplateRef first: later rules see its templates
    problems += check_hooks(ctx)
    problems += check_dags(ctx)
    problems += check_variables(ctx)
    problems += check_metrics(ctx)
    return problems
