"""expr-lang (github.com/expr-lang/expr v1.17) for Argo's `{{= }}` tags and expression fields.

`compile_expr(src)` parses once into a `Program`; `Program.evaluate(env, limits=, now=)` runs it
against an environment built by `build_env(scope)`. `parse` / `to_source` give the AST and its
canonical printed form.
"""
from .ast import IdentRef, identifiers, shape, to_source
from .env import ARGO_FUNCTIONS, build_env, expand
from .evaluator import Limits, Program, compile_expr
from .parser import parse
from .values import Duration

__all__ = [
    "ARGO_FUNCTIONS", "Duration", "IdentRef", "Limits", "Program", "build_env", "compile_expr",
    "expand", "identifiers", "parse", "shape", "to_source",
]
