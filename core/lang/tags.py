"""`{{ }}` tags: find them, list what they reference, and substitute them safely.

A template string is cut once into literal runs and tags (`compile_template`, cached), the way
fasttemplate does it for Argo: a tag runs from `{{` to the first `}}`; its trimmed inner text is
a flat key (`"steps.gen.outputs.result"` is one key, not a path) unless it starts with `=`, in
which case the rest is an expr-lang expression (`{{=asInt(inputs.parameters.n) * 2}}`).

Argo substitutes by printing the whole object as JSON, replacing tags in that text and parsing it
back (§3.1) — the root of CVE-2021-37914. tiphys never re-parses: `substitute_object` walks the
parsed structure and replaces tags inside each string leaf (and key) separately, so a value such as
`"}}{{workflow.uid`, a YAML document or a JSON object is copied verbatim and can never change the
shape of the object or be read as another tag.

Unresolved tags follow Argo's two regimes. By default (`strict=False`) a missing variable leaves the
tag verbatim for a later pass, except names under `strict_prefixes` (`steps`, `tasks` while
resolving references), which raise `UnresolvedVariable` so the caller requeues. With `strict=True`
every missing variable raises. A variable whose value is `None` is an absent optional output
(§3.4) and raises `AbsentOutput`, unless the whole text is that single tag and
`absent_sentinel=True` asks for Argo's `__argo-internal.absent-optional-output__` sentinel.
Errors from `substitute_object` carry the JSON path of the failing leaf (`exc.path`).

Expression tags read an env built from the flat scope (Argo's nesting, see `expr.env`). Only the
entries on the paths an expression reads are expanded, so a tag stays cheap in a scope with
thousands of `tasks.*` entries; callers evaluating many strings against one scope can pass a
prebuilt `env=build_env(scope)` instead.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import msgspec

from . import _go
from .errors import (AbsentOutput, ExprError, LangError, OutputTooLarge, SubstitutionError,
                     TagSyntaxError, UnresolvedVariable)
from .expr import Limits, build_env, compile_expr

__all__ = [
    "ABSENT_SENTINEL", "Tag", "compile_template", "referenced_variables", "substitute",
    "substitute_object", "DEFAULT_MAX_OUTPUT",
]

ABSENT_SENTINEL = "__argo-internal.absent-optional-output__"
DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024  # characters produced by one substitute/substitute_object call

# Identifiers that only exist in late passes; an expression using one that is not in scope yet is
# written back verbatim even when it is guarded (Argo's late-bound check, §3.5).
_LATE_BOUND = ("item", "retries", "lastRetry", "workflow.status", "workflow.failures")


class Tag(msgspec.Struct, frozen=True):
    """One `{{…}}` occurrence: the trimmed name (or expression source), where it starts, its raw text."""

    name: str
    column: int
    raw: str
    expression: bool = False


_Segment = str | Tag


@functools.lru_cache(maxsize=65536)
def compile_template(text: str, /) -> tuple[_Segment, ...]:
    """Split `text` into literal strings and `Tag`s (cached: templates repeat across nodes)."""
    out: list[_Segment] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        if end < 0:
            raise TagSyntaxError('cannot find end tag "}}"', source=text, column=start + 1)
        if start > pos:
            out.append(text[pos:start])
        inner = text[start + 2:end]
        if inner.startswith("="):
            out.append(Tag(inner[1:], start + 1, text[start:end + 2], True))
        else:
            out.append(Tag(inner.strip(), start + 1, text[start:end + 2]))
        pos = end + 2
    if pos < len(text) or not out:
        out.append(text[pos:])
    return tuple(out)


def referenced_variables(text: str, /) -> tuple[str, ...]:
    """Every variable name `text` refers to, in order, without duplicates (for the linter).

    Simple tags contribute their key; expression tags contribute each dotted identifier path they
    read (`steps['a-b'].outputs.result` → `steps.a-b.outputs.result`), guarded or not.
    """
    seen: dict[str, None] = {}
    for seg in compile_template(text):
        if isinstance(seg, str):
            continue
        if not seg.expression:
            seen.setdefault(seg.name, None)
            continue
        for ref in compile_expr(seg.name).identifiers:
            seen.setdefault(ref.path, None)
    return tuple(seen)


class _Run:
    """Options and state of one substitution call (shared by every leaf of an object)."""

    __slots__ = ("scope", "strict", "prefixes", "expressions", "limits", "now", "budget", "_env",
                 "sentinel", "memo", "_envs")

    def __init__(self, scope: Mapping[str, Any], strict: bool, prefixes: tuple[str, ...],
                 expressions: bool, limits: Limits | None, now: Any, max_output: int,
                 sentinel: bool, env: dict[str, Any] | None) -> None:
        self.scope = scope
        self.strict = strict
        self.prefixes = tuple(p + "." for p in prefixes)
        self.expressions = expressions
        self.limits = limits
        self.now = now
        self.budget = max_output  # characters still allowed
        self._env: dict[str, Any] | None = env
        self._envs: dict[frozenset[str], dict[str, Any]] = {}
        self.sentinel = sentinel
        self.memo: dict[str, str] = {}

    def env_for(self, program: Any) -> dict[str, Any]:
        """The env for one expression: the caller's, or one built from what it reads.

        Expanding the whole flat scope is O(scope) — thousands of `tasks.*` entries in a big
        DAG — so only the entries on the expression's identifier paths (the path itself, its
        ancestors and its descendants) are expanded. Same result for every name it can reach.
        """
        if self._env is not None:
            return self._env
        paths = frozenset(r.path for r in program.identifiers)
        env = self._envs.get(paths)
        if env is None:
            env = self._envs[paths] = build_env(_subscope(self.scope, paths), now=self.now)
            _add_branches(env, self.scope, paths)
        return env

    def is_strict_name(self, name: str) -> bool:
        return self.strict or name.startswith(self.prefixes)

    def charge(self, n: int, text: str) -> None:
        self.budget -= n
        if self.budget < 0:
            raise OutputTooLarge("substitution output exceeds the size bound", source=text[:200])

    def text(self, text: str) -> str:
        if "{{" not in text:
            return text
        # Same scope, same text, same answer: templated DAGs repeat strings thousands of times.
        out = self.memo.get(text)
        if out is None:
            out = self._render(text)
            self.memo[text] = out
        self.budget -= len(out)
        if self.budget < 0:
            self.charge(0, text)
        return out

    def _render(self, text: str) -> str:
        segs = compile_template(text)
        if self.sentinel and len(segs) == 1 and isinstance(segs[0], Tag) and not segs[0].expression:
            if segs[0].name in self.scope and self.scope[segs[0].name] is None:
                return ABSENT_SENTINEL
        scope = self.scope
        parts: list[str] = []
        size = 0
        for seg in segs:
            if type(seg) is str:
                piece = seg
            elif not seg.expression:
                piece = scope.get(seg.name)
                if type(piece) is not str:
                    piece = self.simple(seg, text)
            elif self.expressions:
                piece = self.expression(seg, text)
            else:
                piece = self.simple(seg, text)
            size += len(piece)
            if size > self.budget:
                self.charge(size, text)
            parts.append(piece)
        return "".join(parts)

    def simple(self, tag: Tag, text: str) -> str:
        scope = self.scope
        if tag.name not in scope:
            if self.is_strict_name(tag.name):
                raise UnresolvedVariable(tag.name, tag.column, source=text)
            return tag.raw
        value = scope[tag.name]
        if isinstance(value, str):
            return value
        if value is None:
            raise AbsentOutput(tag.name, tag.column, source=text)
        raise SubstitutionError(f"variable {tag.name} is a {type(value).__name__}, not a string",
                                source=text, column=tag.column)

    def expression(self, tag: Tag, text: str) -> str:
        try:
            program = compile_expr(tag.name)
        except ExprError:
            if self.strict:
                raise
            return tag.raw
        env = self.env_for(program)
        missing = [r for r in program.identifiers if not r.guarded and not _has_path(env, r.path)]
        for ref in missing:
            if self.is_strict_name(ref.path):
                raise UnresolvedVariable(ref.path, tag.column + 3 + ref.column - 1, source=text)
        if missing:
            return tag.raw
        for ref in program.identifiers:
            if _is_late_bound(ref.path) and not _has_path(env, ref.path):
                return tag.raw
        try:
            result = program.evaluate(env, limits=self.limits, now=self.now)
        except ExprError:
            if self.strict:
                raise
            return tag.raw
        if result is None:
            absent = [r for r in program.identifiers
                      if not r.guarded and r.path in self.scope and self.scope[r.path] is None]
            if absent:  # a bare reference to a Skipped producer's output is terminal (§3.4)
                raise AbsentOutput(absent[0].path, tag.column, source=text)
            if self.strict:
                raise SubstitutionError(f"expression {tag.name!r} evaluated to nil",
                                        source=text, column=tag.column)
            return tag.raw
        if isinstance(result, str):
            return result
        try:
            return _go.go_json(result)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SubstitutionError(f"expression result cannot be rendered: {exc}",
                                    source=text, column=tag.column) from None

    def value(self, obj: Any, depth: int = 0) -> Any:
        """Copy `obj` with tags replaced; the hot loop of large DAGs, so strings are inlined."""
        t = type(obj)
        if t is str:
            return self.text(obj) if "{{" in obj else obj
        if depth > 512:
            raise SubstitutionError("object nested too deeply to substitute")
        if t is dict:
            out = {}
            for k, v in obj.items():
                if type(k) is str and "{{" in k:
                    k = self.text(k)
                tv = type(v)
                if tv is str:
                    if "{{" in v:
                        v = self.text(v)
                elif tv is dict or tv is list or tv is tuple:
                    v = self.value(v, depth + 1)
                elif isinstance(v, (str, dict, list, tuple)):
                    v = self.value(v, depth + 1)
                out[k] = v
            return out
        if t is list:
            return [(self.text(v) if "{{" in v else v) if type(v) is str else self.value(v, depth + 1)
                    for v in obj]
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v, depth + 1)
                    for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.value(v, depth + 1) for v in obj)
        if isinstance(obj, str):
            return self.text(str(obj))
        return obj


def _locate(obj: Any, run: _Run) -> str | None:
    """JSON path of the first leaf (or key) whose substitution fails, in `value`'s order."""
    stack: list[tuple[Any, str]] = [(obj, "$")]
    while stack:
        node, path = stack.pop()
        try:
            if isinstance(node, str):
                run.text(node)
                continue
            if isinstance(node, dict):
                items = list(node.items())
                for k, _ in items:  # keys are substituted before their values
                    if isinstance(k, str):
                        run.text(k)
                for k, v in reversed(items):
                    seg = f".{k}" if isinstance(k, str) and k.isidentifier() else f"[{k!r}]"
                    stack.append((v, path + seg))
            elif isinstance(node, (list, tuple)):
                for i in range(len(node) - 1, -1, -1):
                    stack.append((node[i], f"{path}[{i}]"))
        except LangError:
            return path
    return None


def _subscope(scope: Mapping[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """The scope entries an expression reading `paths` can reach."""
    out: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        for i in range(1, len(parts) + 1):  # the path and its ancestors
            key = ".".join(parts[:i])
            if key not in scope:
                continue
            # an ancestor with entries below it is a map in the full env (its leaf is dropped);
            # `_add_branches` recreates that map on the path
            if i < len(parts) and _has_children(scope, key):
                continue
            out[key] = scope[key]
    below = tuple(p + "." for p in paths)
    if below:
        for key, value in scope.items():  # descendants: one C-speed prefix test per key
            if key.startswith(below):
                out[key] = value
    return out


def _has_children(scope: Mapping[str, Any], key: str) -> bool:
    prefix = key + "."
    return any(k.startswith(prefix) for k in scope)


def _add_branches(env: dict[str, Any], scope: Mapping[str, Any], paths: frozenset[str]) -> None:
    """Make each map on a path exist when the full scope has entries below it, even if the
    rest of the path is absent (so `steps?.nope` is nil, not an unknown name)."""
    for path in paths:
        parts = path.split(".")
        node: Any = env
        for i in range(1, len(parts)):
            name = parts[i - 1]
            if not isinstance(node, dict):
                break
            if not isinstance(node.get(name), dict):
                if not _has_children(scope, ".".join(parts[:i])):
                    break
                node[name] = {}
            node = node[name]


def _is_late_bound(path: str) -> bool:
    return any(path == name or path.startswith(name + ".") for name in _LATE_BOUND)


def _has_path(env: Mapping[str, Any], path: str) -> bool:
    """True when a dotted identifier path is readable in the nested env.

    Walking stops successfully at the first non-map value: what follows is ordinary member access
    on that value, which the evaluator judges.
    """
    cur: Any = env
    for part in path.split("."):
        if not isinstance(cur, dict):
            return True
        if part not in cur:
            return False
        cur = cur[part]
    return True


def substitute(text: str, scope: Mapping[str, Any], /, *, strict: bool = False,
               strict_prefixes: tuple[str, ...] = (), expressions: bool = True,
               absent_sentinel: bool = False, limits: Limits | None = None, now: Any = None,
               max_output: int = DEFAULT_MAX_OUTPUT, env: dict[str, Any] | None = None) -> str:
    """Replace every tag of `text` from the flat `scope` (see the module docstring for modes).

    `env` may pass a prebuilt `build_env(scope)` to reuse across many calls on one scope.
    """
    return _Run(scope, strict, strict_prefixes, expressions, limits, now, max_output,
                absent_sentinel, env).text(text)


def substitute_object(obj: Any, scope: Mapping[str, Any], /, *, strict: bool = False,
                      strict_prefixes: tuple[str, ...] = (), expressions: bool = True,
                      absent_sentinel: bool = False, limits: Limits | None = None,
                      now: Any = None, max_output: int = DEFAULT_MAX_OUTPUT,
                      env: dict[str, Any] | None = None) -> Any:
    """Return a copy of a JSON-like object with tags replaced in every string leaf and key.

    Values are never re-parsed, so substituted text stays text whatever it contains. Keys that
    collide after substitution keep the last value, as Go's JSON decoding of Argo's output does.
    The characters produced by substitution (strings that contain tags; tag-free strings are
    shared with the input) are bounded by `max_output` (`OutputTooLarge`).
    """
    def fresh() -> _Run:
        return _Run(scope, strict, strict_prefixes, expressions, limits, now, max_output,
                    absent_sentinel, env)

    try:
        return fresh().value(obj)
    except LangError as exc:
        exc.path = _locate(obj, fresh())  # only on failure: replay the walk, tracking the path
        raise
