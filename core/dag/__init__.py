"""DAG and steps scheduling: compile a template's graph once, then hand out runnable tasks.

    compiled = compile_dag(template.dag.tasks)          # names → ints, CSR arrays, depends programs
    sched = Scheduler(compiled, fail_fast=True)         # Cython when built, else the reference
    for task in sched.ready(): ...                      # start these
    sched.done(task, Outcome.SUCCEEDED)                 # report what happened
    sched.take_omitted()                                # tasks whose depends came out false
    sched.phase()                                       # "Running", "Succeeded", "Failed", "Error"

`Scheduler` is the Cython implementation when `tiphys.core._fast._dag` is built and the pure-Python
`ReferenceScheduler` otherwise (with one warning). Both follow Argo's DAG rules (argo-semantics
§3.7, §5.4, §5.5); `reference.py` documents them.
"""
from __future__ import annotations

import warnings

from .compile import CompiledDAG, TaskSpec, compile_dag, compile_steps
from .depends import parse_depends
from .errors import (CycleError, DagError, DependsSyntaxError, DuplicateTaskError, InvalidTaskNameError,
                     MixedDependsError, RestoreError, SchedulerError, SelfDependencyError,
                     UnknownDependencyError)
from .outcome import Outcome, from_phase
from .reference import ReferenceScheduler

try:
    from .fast import FastScheduler as Scheduler
    FAST = True
except ImportError as exc:  # extension not built: the reference is correct, only slower
    warnings.warn(f"tiphys.core.dag: Cython scheduler unavailable ({exc}); using the pure-Python reference",
                  RuntimeWarning, stacklevel=2)
    Scheduler = ReferenceScheduler  # type: ignore[misc,assignment]
    FAST = False

__all__ = [
    "Scheduler", "ReferenceScheduler", "FAST", "compile_dag", "compile_steps", "CompiledDAG", "TaskSpec",
    "parse_depends", "Outcome", "from_phase",
    "DagError", "DependsSyntaxError", "InvalidTaskNameError", "DuplicateTaskError", "UnknownDependencyError",
    "SelfDependencyError", "MixedDependsError", "CycleError", "SchedulerError", "RestoreError",
]
