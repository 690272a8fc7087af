"""The template language: `{{ }}` tags, `when:` (govaluate), expr-lang, and loops.

Everything here is pure: it parses, substitutes and evaluates text given explicit scopes and,
where an expression asks for the time, an explicit `now`. See `tags` for safe substitution,
`govaluate` for `when:`, `expr` for `{{= }}` and expression fields, `loops` for
`withItems`/`withParam`/`withSequence`, `variables` for building scopes, and `conditions` for
the two controller-facing decisions (`should_execute`, `evaluate_condition`).
"""
from . import expr
from .conditions import evaluate_condition, should_execute
from .errors import (AbsentOutput, ExprError, ExprEvalError, ExprLimitExceeded, ExprSyntaxError,
                     LangError, LoopError, OutputTooLarge, SubstitutionError, TagSyntaxError,
                     UnknownName, UnresolvedVariable, WhenError, WhenEvalError, WhenSyntaxError)
from .expr import Limits, Program, build_env, compile_expr
from .govaluate import evaluate_when, parse_when
from .loops import (LoopChild, LoopItem, aggregate_outputs, expand_items, expand_sequence,
                    item_scope, loop_node_name, parse_with_param)
from .tags import (ABSENT_SENTINEL, Tag, compile_template, referenced_variables, substitute,
                   substitute_object)
from .variables import (creation_timestamp_vars, failures_value, inputs_vars, local_vars,
                        node_vars, parameters_json, retry_vars, workflow_vars)

__all__ = [
    "ABSENT_SENTINEL", "AbsentOutput", "ExprError", "ExprEvalError", "ExprLimitExceeded",
    "ExprSyntaxError", "LangError", "Limits", "LoopChild", "LoopError", "LoopItem",
    "OutputTooLarge", "Program", "SubstitutionError", "Tag", "TagSyntaxError", "UnknownName",
    "UnresolvedVariable", "WhenError", "WhenEvalError", "WhenSyntaxError", "aggregate_outputs",
    "build_env", "compile_expr", "compile_template", "creation_timestamp_vars",
    "evaluate_condition", "evaluate_when", "expand_items", "expand_sequence", "expr", "failures_value",
    "inputs_vars", "item_scope", "local_vars", "loop_node_name", "node_vars",
    "parameters_json", "parse_when", "parse_with_param", "referenced_variables", "retry_vars",
    "should_execute", "substitute", "substitute_object", "workflow_vars",
]
