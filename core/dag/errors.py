"""Typed errors of the DAG compiler and schedulers.

Everything is a `ValueError`, as graphlib's `CycleError` is, so callers that only care about
"bad graph" can catch one class; callers that care about the cause match the subclass and read
its attributes, never `str(exc)` (STYLE 13). Compile errors carry `path`, the place in the task
list (`tasks[5].depends`), which the spec layer prefixes with the template's own path.
"""
from __future__ import annotations

__all__ = [
    "DagError", "DependsSyntaxError", "InvalidTaskNameError", "DuplicateTaskError",
    "UnknownDependencyError", "SelfDependencyError", "MixedDependsError", "CycleError",
    "SchedulerError", "RestoreError",
]


class DagError(ValueError):
    """A DAG or steps template that cannot be compiled. `path` names the offending field."""

    def __init__(self, message: str, /, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class DependsSyntaxError(DagError):
    """A `depends` expression that does not parse; `column` is 1-based into `text`, `message`
    says what is wrong there."""

    def __init__(self, message: str, /, *, text: str, column: int, task: str = "", path: str = "") -> None:
        where = f"task {task!r} " if task else ""
        super().__init__(f"{where}depends {text!r}, column {column}: {message}", path=path)
        self.message = message
        self.text = text
        self.column = column
        self.task = task


class InvalidTaskNameError(DagError):
    """A task name outside Argo's `[a-zA-Z0-9][-a-zA-Z0-9]*`."""

    def __init__(self, task: str, /, *, path: str = "") -> None:
        super().__init__(f"task name {task!r} must match [a-zA-Z0-9][-a-zA-Z0-9]*", path=path)
        self.task = task


class DuplicateTaskError(DagError):
    """Two tasks (or steps) with the same name."""

    def __init__(self, task: str, /, *, path: str = "") -> None:
        super().__init__(f"duplicate task name {task!r}", path=path)
        self.task = task


class UnknownDependencyError(DagError):
    """A dependency (or target) naming a task that does not exist."""

    def __init__(self, task: str, dependency: str, /, *, path: str = "") -> None:
        who = f"task {task!r} depends on" if task else "target"
        super().__init__(f"{who} unknown task {dependency!r}", path=path)
        self.task = task
        self.dependency = dependency


class SelfDependencyError(DagError):
    """A task that depends on itself."""

    def __init__(self, task: str, /, *, path: str = "") -> None:
        super().__init__(f"task {task!r} depends on itself", path=path)
        self.task = task


class MixedDependsError(DagError):
    """`depends` and `dependencies` used in one DAG template (Argo rejects this per template)."""

    def __init__(self, task: str, /, *, path: str = "") -> None:
        super().__init__(f"cannot use both 'depends' and 'dependencies' in the same DAG template "
                         f"(task {task!r})", path=path)
        self.task = task


class CycleError(DagError):
    """A dependency cycle. `cycle` lists task names with the first repeated last, like graphlib."""

    def __init__(self, cycle: tuple[str, ...], /, *, path: str = "") -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle), path=path)
        self.cycle = cycle


class SchedulerError(ValueError):
    """Misuse of a scheduler: unknown task, `done` on a task not handed out, a bad outcome."""

    def __init__(self, message: str, /, *, task: int = -1) -> None:
        super().__init__(message)
        self.task = task


class RestoreError(SchedulerError):
    """A `restore()` mapping that contradicts the graph (a done task with an unfinished dependency)."""
