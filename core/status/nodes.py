"""The node model's vocabulary: node types and phases, the predicates decisions hinge on, the
workflow phase read off the root node, and the `N/M` progress arithmetic (argo-semantics §4.1,
§4.6, §4.7).

The predicates take the few fields they need as arguments, not a whole NodeStatus, so they work
on any node representation (the spec Struct, a slim informer decode, a test double); thin
wrappers taking a node read its `phase`, `type_`, `task_result_synced` and `daemoned`.
"""
from __future__ import annotations

import enum
from typing import Any, NamedTuple

__all__ = [
    "NodeType", "NodePhase", "WorkflowPhase", "Progress", "ProgressError",
    "POD_LIKE_TYPES", "LEAF_PROGRESS_TYPES",
    "phase_completed", "phase_failed_or_error", "phase_fulfilled",
    "node_fulfilled", "node_completed", "is_active_suspend", "is_exit_node",
    "workflow_phase_from_root", "node_default_progress",
]


class NodeType(enum.StrEnum):
    """`NodeType` (workflow_types.go)."""

    POD = "Pod"
    CONTAINER = "Container"
    STEPS = "Steps"
    STEP_GROUP = "StepGroup"
    DAG = "DAG"
    TASK_GROUP = "TaskGroup"
    RETRY = "Retry"
    SKIPPED = "Skipped"
    SUSPEND = "Suspend"
    HTTP = "HTTP"
    PLUGIN = "Plugin"


class NodePhase(enum.StrEnum):
    """`NodePhase`; `""` only appears transiently, before a node is initialised."""

    UNKNOWN = ""
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    ERROR = "Error"
    OMITTED = "Omitted"


class WorkflowPhase(enum.StrEnum):
    """`WorkflowPhase`; `""` means the controller has not seen the workflow yet."""

    UNKNOWN = ""
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"


# Nodes that get `taskResultSynced` (when not daemoned) because a pod reports their outputs.
POD_LIKE_TYPES = frozenset({NodeType.POD, NodeType.CONTAINER})
# Nodes whose progress is their own (0/1 → 1/1) rather than the sum of their children's.
LEAF_PROGRESS_TYPES = frozenset({NodeType.POD, NodeType.CONTAINER, NodeType.HTTP, NodeType.PLUGIN,
                                 NodeType.SUSPEND})

_COMPLETED = frozenset({NodePhase.SUCCEEDED, NodePhase.FAILED, NodePhase.ERROR})
_FAILED_OR_ERROR = frozenset({NodePhase.FAILED, NodePhase.ERROR})
_SKIPPED_OR_OMITTED = frozenset({NodePhase.SKIPPED, NodePhase.OMITTED})
_PROGRESS_DONE = frozenset({NodePhase.SUCCEEDED, NodePhase.SKIPPED, NodePhase.OMITTED})


def phase_completed(phase: str | None, /) -> bool:
    """Succeeded, Failed or Error (Skipped and Omitted are *not* completed)."""
    return phase in _COMPLETED


def phase_failed_or_error(phase: str | None, /) -> bool:
    """Failed or Error."""
    return phase in _FAILED_OR_ERROR


def phase_fulfilled(phase: str | None, /, *, synced: bool | None = None) -> bool:
    """`NodePhase.Fulfilled(synced)`: (completed and synced is not False), Skipped, or Omitted."""
    if phase in _SKIPPED_OR_OMITTED:
        return True
    return phase in _COMPLETED and synced is not False


def node_fulfilled(node: Any, /) -> bool:
    """`NodeStatus.Fulfilled()`: phase fulfilled with the task result synced, or a daemon past Pending."""
    synced = node.task_result_synced
    if phase_fulfilled(node.phase, synced=synced) and synced is not False:
        return True
    return bool(node.daemoned) and node.phase != NodePhase.PENDING


def node_completed(node: Any, /) -> bool:
    """`NodeStatus.Completed()`: phase completed and the task result is not known to be unsynced."""
    return phase_completed(node.phase) and node.task_result_synced is not False


def is_active_suspend(node: Any, /) -> bool:
    """A Suspend node that is still Running (waiting for resume or its duration)."""
    return node.type_ == NodeType.SUSPEND and node.phase == NodePhase.RUNNING


def is_exit_node(display_name: str | None, /) -> bool:
    """An exit-handler node: its displayName ends with `.onExit`."""
    return bool(display_name) and display_name.endswith(".onExit")


def workflow_phase_from_root(root_phase: str | None, /, *,
                             exit_handler_phase: str | None = None) -> WorkflowPhase:
    """The workflow phase implied by the root node (§4.7).

    A Succeeded/Skipped/Omitted root makes the workflow Succeeded unless the workflow's exit
    handler Failed or Errored, which then decides. A root that has not started (`""`) leaves
    the workflow Unknown. Completion bookkeeping (exit handler fulfilled, task results synced,
    daemons killed) and the shutdown message are the planner's; this is the phase table only.
    """
    if root_phase in (NodePhase.SUCCEEDED, NodePhase.SKIPPED, NodePhase.OMITTED):
        if exit_handler_phase in _FAILED_OR_ERROR:
            return WorkflowPhase(exit_handler_phase)
        return WorkflowPhase.SUCCEEDED
    if root_phase in (NodePhase.PENDING, NodePhase.RUNNING, NodePhase.FAILED, NodePhase.ERROR):
        return WorkflowPhase(root_phase)
    if not root_phase:
        return WorkflowPhase.UNKNOWN
    raise ValueError(f"workflow_phase_from_root: unknown node phase {root_phase!r}")


class ProgressError(ValueError):
    """A progress string that is not `N/M` with 0 <= N <= M and M > 0."""


class Progress(NamedTuple):
    """`N/M`: `done` of `total` units finished (Argo's `Progress` type)."""

    done: int
    total: int

    @classmethod
    def parse(cls, text: str, /) -> Progress:
        """Parse `N/M`; raises ProgressError for anything Argo's `ParseProgress` rejects."""
        head, sep, tail = text.partition("/")
        if not sep or not head.isdigit() or not tail.isdigit() or not head.isascii() or not tail.isascii():
            raise ProgressError(f"invalid progress {text!r}: expected N/M")
        done, total = int(head), int(tail)
        if total <= 0 or done > total:
            raise ProgressError(f"invalid progress {text!r}: need 0 <= N <= M and M > 0")
        return cls(done, total)

    @classmethod
    def try_parse(cls, text: str | None, /) -> Progress | None:
        """Like `parse`, but None for missing or invalid input (Argo ignores invalid progress)."""
        if not text:
            return None
        try:
            return cls.parse(text)
        except ProgressError:
            return None

    def __add__(self, other: object, /) -> Progress:  # type: ignore[override]
        if not isinstance(other, Progress):
            return NotImplemented
        return Progress(self.done + other.done, self.total + other.total)

    def complete(self) -> Progress:
        """All units done: `M/M` (a leaf that succeeded, was skipped or omitted)."""
        return Progress(self.total, self.total)

    def __str__(self) -> str:
        return f"{self.done}/{self.total}"


def node_default_progress(node_type: str | None, phase: str | None, /,
                          current: str | None = None) -> Progress | None:
    """The progress of a leaf node (Pod, Container, HTTP, Plugin, Suspend), or None for others.

    A leaf starts at `0/1` unless its code reported progress; it becomes complete (`M/M`) when
    Succeeded, Skipped or Omitted. Other nodes sum their children (the caller adds them up).
    """
    if node_type not in LEAF_PROGRESS_TYPES:
        return None
    progress = Progress.try_parse(current) or Progress(0, 1)
    if phase in _PROGRESS_DONE:
        return progress.complete()
    return progress
