"""Compile a DAG (or steps) template once into dense ints, CSR arrays and `depends` programs.

The schedulers never see names or trees: task `i` is an int, its successors are
`succ[succ_off[i]:succ_off[i+1]]`, its distinct dependencies `pred[pred_off[i]:pred_off[i+1]]`,
and its `depends` condition is the program `prog[prog_off[i]:prog_off[i+1]]` (see `depends`).
All arrays are `array('i')` (int32), so the Cython scheduler reads them as C pointers without
copying. `topo` is a topological order (Kahn, ties by index), used by `restore()`.

Validation happens here and only here (STYLE 7): names must match Argo's task-name pattern, be
unique, and every dependency must exist, not be the task itself, and not close a cycle. A DAG
template may use `depends` or `dependencies`, not both (Argo checks this per template).

Steps templates compile onto the same engine: every step of group `g` depends, as a bare name, on
every step of the previous non-empty group, so group `g` starts when group `g-1` is fulfilled and
none of its steps failed unless covered by its `continueOn` — Argo's group rule (§5.4). A failed
group ends a Steps template without omitting the rest, so steps graphs are compiled with
`halt_on_failure=True`, which makes every scheduler on them fail-fast.

Task specs may be `TaskSpec`, mappings in Argo's JSON shape (`name`, `depends`, `dependencies`,
`continueOn`, `withItems`/`withParam`/`withSequence`), or objects with the snake_case attributes of
`tiphys.core.spec` (`continue_on`, `with_items`, ...). Other fields are ignored here.
"""
from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from . import _link
from . import depends as _dep
from .errors import (DagError, DependsSyntaxError, DuplicateTaskError, InvalidTaskNameError,
                     MixedDependsError, SelfDependencyError, UnknownDependencyError)
from .outcome import Outcome

__all__ = ["TaskSpec", "CompiledDAG", "compile_dag", "compile_steps",
           "FLAG_CONTINUE_FAILED", "FLAG_CONTINUE_ERROR", "FLAG_GROUP", "FLAG_CONJUNCTION",
           "FLAG_BARE_CONJUNCTION"]

FLAG_CONTINUE_FAILED = 1
FLAG_CONTINUE_ERROR = 2
FLAG_GROUP = 4
#: Set by the compiler: the program is `p1 && p2 && ...` over distinct dependencies, so a
#: scheduler may decide it edge by edge from `succ_mask` instead of running the program.
FLAG_CONJUNCTION = 8
#: Set with FLAG_CONJUNCTION when every predicate is a bare name (`dependencies:` lists, steps):
#: each edge's mask is then its source's bare mask, known without reading `succ_mask`.
FLAG_BARE_CONJUNCTION = 16

_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")


class TaskSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The scheduling-relevant part of a DAG task or a step."""

    name: str
    depends: str | None = None
    dependencies: tuple[str, ...] | None = None
    continue_on_failed: bool = False
    continue_on_error: bool = False
    loop: bool = False


class CompiledDAG(msgspec.Struct, frozen=True):
    """A validated graph. Arrays are shared with schedulers: treat them as read-only."""

    names: tuple[str, ...]
    index: dict[str, int]
    flags: array
    succ_off: array
    succ: array
    succ_mask: array
    pred_off: array
    pred: array
    prog_off: array
    prog: array
    topo: array
    sinks: array           # the default targets: tasks nothing depends on, sorted by name (Argo)
    max_stack: int
    halt_on_failure: bool
    sources: tuple[str | tuple[str, ...] | None, ...]

    def __len__(self) -> int:
        return len(self.names)

    def task_index(self, name: str, /) -> int:
        """The dense index of task `name`; unknown names raise `UnknownDependencyError`."""
        try:
            return self.index[name]
        except KeyError:
            raise UnknownDependencyError("", name) from None

    def dependencies(self, task: int, /) -> list[int]:
        return self.pred[self.pred_off[task]:self.pred_off[task + 1]].tolist()

    def successors(self, task: int, /) -> list[int]:
        return self.succ[self.succ_off[task]:self.succ_off[task + 1]].tolist()

    def program(self, task: int, /) -> list[int]:
        return self.prog[self.prog_off[task]:self.prog_off[task + 1]].tolist()


def _field(obj: Any, key: str, attr: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, attr, None)


_LOOP_KEYS = (("withItems", "with_items"), ("withParam", "with_param"), ("withSequence", "with_sequence"))


def _as_spec(obj: Any, path: str) -> TaskSpec:
    if type(obj) is TaskSpec:
        return obj
    if type(obj) is dict:  # the common case, kept off the slower generic path
        get = obj.get
        name, cont, deps, text = get("name"), get("continueOn"), get("dependencies"), get("depends")
        loop = "withItems" in obj or "withParam" in obj or "withSequence" in obj
        loop = loop and any(get(key) is not None for key, _ in _LOOP_KEYS)
    else:
        name = _field(obj, "name", "name")
        cont = _field(obj, "continueOn", "continue_on")
        deps = _field(obj, "dependencies", "dependencies")
        text = _field(obj, "depends", "depends")
        loop = any(_field(obj, key, attr) is not None for key, attr in _LOOP_KEYS)
    if type(name) is not str:
        raise DagError("task has no name", path=f"{path}.name")
    failed = error = False
    if cont is not None:
        failed = bool(_field(cont, "failed", "failed"))
        error = bool(_field(cont, "error", "error"))
    if deps is not None:
        # Element types are checked where names are looked up (compile_dag's `_reject`).
        if not isinstance(deps, (list, tuple)):
            raise DagError("dependencies must be a list of task names", path=f"{path}.dependencies")
        deps = tuple(deps)
    if text is not None and type(text) is not str:
        raise DagError("depends must be a string", path=f"{path}.depends")
    return TaskSpec(name=name, depends=text, dependencies=deps, continue_on_failed=failed,
                    continue_on_error=error, loop=loop)


def _flags_of(spec: TaskSpec) -> int:
    return ((FLAG_CONTINUE_FAILED if spec.continue_on_failed else 0)
            | (FLAG_CONTINUE_ERROR if spec.continue_on_error else 0)
            | (FLAG_GROUP if spec.loop else 0))


def _bare_masks(flags: Sequence[int]) -> list[int]:
    base = _dep.BARE_MASK
    return [base | (int(Outcome.FAILED) if f & FLAG_CONTINUE_FAILED else 0)
            | (int(Outcome.ERRORED) if f & FLAG_CONTINUE_ERROR else 0) for f in flags]


def _index_names(specs: Sequence[TaskSpec], path: str) -> dict[str, int]:
    index: dict[str, int] = {}
    match = _NAME.fullmatch
    for i, spec in enumerate(specs):
        name = spec.name
        if match(name) is None:
            raise InvalidTaskNameError(name, path=f"{path}[{i}].name")
        if index.setdefault(name, i) != i:
            raise DuplicateTaskError(name, path=f"{path}[{i}].name")
    return index


class _Flat:
    """Flat accumulators for the int32 arrays, filled task by task in index order."""

    def __init__(self, flags: list[int], bare: list[int]) -> None:
        self.flags = flags
        self.bare = bare
        self.pred: list[int] = []
        self.pred_off = [0]
        self.pmask: list[int] = []  # per dependency edge: its conjunction mask, 0 otherwise
        self.prog: list[int] = []
        self.prog_off = [0]
        self.max_stack = 0

    def add(self, i: int, ids: list[int], words: list[int], conj: list[int] | None, depth: int) -> None:
        self.pred += ids
        self.pred_off.append(len(self.pred))
        if conj is not None and ids:
            self.pmask += conj
            bare = self.bare
            if conj == [bare[j] for j in ids]:
                self.flags[i] |= FLAG_CONJUNCTION | FLAG_BARE_CONJUNCTION
            else:
                self.flags[i] |= FLAG_CONJUNCTION
        else:
            self.pmask += [0] * len(ids)
        self.prog += words
        self.prog_off.append(len(self.prog))
        if depth > self.max_stack:
            self.max_stack = depth

    def build(self, specs: Sequence[TaskSpec], index: dict[str, int], halt: bool,
              sources: tuple[str | tuple[str, ...] | None, ...], path: str) -> CompiledDAG:
        n = len(specs)
        pred_off, pred = array("i", self.pred_off), array("i", self.pred)
        succ_off, succ, succ_mask, topo = _link.link(n, pred_off, pred, array("i", self.pmask))
        if len(topo) != n:
            _link.raise_cycle(n, pred_off, pred, topo, [s.name for s in specs], path)
        names = tuple(s.name for s in specs)
        sinks = array("i", sorted((i for i in range(n) if succ_off[i] == succ_off[i + 1]), key=names.__getitem__))
        return CompiledDAG(names, index, array("i", self.flags), succ_off, succ, succ_mask, pred_off, pred,
                           array("i", self.prog_off), array("i", self.prog), topo, sinks, self.max_stack, halt,
                           sources)


def compile_dag(tasks: Iterable[Any], /, *, path: str = "tasks") -> CompiledDAG:
    """Validate and compile the tasks of one DAG template. `path` prefixes error locations."""
    specs = [_as_spec(t, f"{path}[{i}]") for i, t in enumerate(tasks)]
    index = _index_names(specs, path)
    flags = [_flags_of(s) for s in specs]
    bare = _bare_masks(flags)
    uses_depends = next((i for i, s in enumerate(specs) if s.depends is not None), None)
    uses_list = next((i for i, s in enumerate(specs) if s.dependencies), None)
    if uses_depends is not None and uses_list is not None:
        i = max(uses_depends, uses_list)
        raise MixedDependsError(specs[i].name, path=f"{path}[{i}]")
    flat = _Flat(flags, bare)
    # One call per task turns its dependencies into program words, without a tree: `depends`
    # text through the parser's `compile`, `dependencies: [a, b]` (which is `a && b`) through
    # `compile_names`. Error paths go back to the names (from a tree for text) to report the
    # first bad one — unknown, the task itself, not a string — in the order written.
    compile_text, compile_names = _dep.PARSER.compile, _dep.PARSER.compile_names
    for i, spec in enumerate(specs):
        text = spec.depends
        try:
            if text is not None:
                words, depth, ids, conj = compile_text(text, index, bare)
            elif spec.dependencies:
                words, depth, ids, conj = compile_names(spec.dependencies, index, bare)
            else:
                flat.add(i, [], [], None, 0)
                continue
        except DependsSyntaxError as err:
            raise _dep.placed(err, task=spec.name, path=f"{path}[{i}].depends") from None
        except KeyError:
            _reject_any(spec, i, index, path)
        if i in ids:
            _reject_any(spec, i, index, path)
        flat.add(i, ids, words, conj, depth)
    sources = tuple(s.depends if s.depends is not None else s.dependencies for s in specs)
    return flat.build(specs, index, False, sources, path)


def _reject_any(spec: TaskSpec, i: int, index: dict[str, int], path: str) -> None:
    """Raise the error of the first bad dependency of task `i`, from `depends` or `dependencies`."""
    if spec.depends is not None:
        _reject(spec, i, _dep.references(_dep.parse_depends(spec.depends)), index, f"{path}[{i}].depends")
    _reject(spec, i, spec.dependencies or (), index, f"{path}[{i}].dependencies")
    raise AssertionError(f"task {spec.name!r}: no bad dependency found")  # unreachable


def _reject(spec: TaskSpec, i: int, names: Iterable[str], index: dict[str, int], where: str) -> None:
    for name in names:
        if type(name) is not str:
            raise DagError(f"task {spec.name!r}: dependencies must be task names, got {name!r}", path=where)
        j = index.get(name)
        if j is None:
            raise UnknownDependencyError(spec.name, name, path=where)
        if j == i:
            raise SelfDependencyError(spec.name, path=where)


def compile_steps(groups: Iterable[Iterable[Any]], /, *, path: str = "steps") -> CompiledDAG:
    """Compile a steps template (a list of parallel groups) onto the DAG engine."""
    specs: list[TaskSpec] = []
    group_of: list[int] = []
    for g, group in enumerate(groups):
        for k, step in enumerate(group):
            spec = _as_spec(step, f"{path}[{g}][{k}]")
            if spec.depends is not None or spec.dependencies:
                raise DagError("steps cannot declare depends/dependencies", path=f"{path}[{g}][{k}]")
            specs.append(spec)
            group_of.append(g)
    index = _index_names(specs, path)
    flags = [_flags_of(s) for s in specs]
    bare = _bare_masks(flags)
    flat = _Flat(flags, bare)
    previous: list[int] = []  # steps of the last non-empty group before the current one
    current: list[int] = []
    current_group = -1
    for i, g in enumerate(group_of):
        if g != current_group:
            if current:
                previous = current
            current, current_group = [], g
        current.append(i)
        words: list[int] = []
        for k, j in enumerate(previous):
            words += (j, bare[j]) if k == 0 else (j, bare[j], _dep.OP_AND)
        flat.add(i, list(previous), words, [bare[j] for j in previous], min(len(previous), 2))
    sources = tuple(tuple(specs[j].name for j in flat.pred[flat.pred_off[i]:flat.pred_off[i + 1]]) or None
                    for i in range(len(specs)))
    return flat.build(specs, index, True, sources, path)
