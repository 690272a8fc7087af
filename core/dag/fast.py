"""The Cython scheduler dressed in tiphys's typed errors and target handling.

`tiphys.core._fast._dag` may not import `tiphys.core` (layers), so it takes the targets already
resolved (their scope as bytes, their order as ints) and raises whatever classes its
`scheduler_error` / `restore_error` attributes name. This subclass supplies both; every hot
method is inherited untouched, so calls stay C calls.
Importing this module raises ImportError when the extension is not built.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable

from tiphys.core._fast import _dag

from .compile import CompiledDAG
from .errors import RestoreError, SchedulerError
from .reference import resolve_targets

__all__ = ["FastScheduler"]


class FastScheduler(_dag.Scheduler):
    """Same constructor, methods and errors as `ReferenceScheduler`, in Cython."""

    scheduler_error = SchedulerError
    restore_error = RestoreError

    def __init__(self, compiled: CompiledDAG, /, *, fail_fast: bool = True,
                 targets: int | str | Iterable[int | str] | None = None, parallelism: int = 0) -> None:
        if targets is None:  # everything in scope, targets = compiled.sinks: nothing to pass
            super().__init__(compiled, fail_fast=fail_fast, parallelism=parallelism)
            return
        scope, ids = resolve_targets(compiled, targets)
        super().__init__(compiled, fail_fast=fail_fast, parallelism=parallelism, scope=bytes(scope),
                         targets=array("i", ids))
