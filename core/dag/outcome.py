"""Task outcomes as bit flags, shared by the depends compiler and both schedulers.

An outcome is what `done()` is told about a task: exactly one node phase (Argo's `Succeeded`,
`Failed`, `Error`, `Skipped`, `Omitted`), or `DAEMONED` for a daemon that is up (phase Running),
plus two optional bits that only a loop group (a TaskGroup node) may carry: `ANY_SUCCEEDED` and
`ALL_FAILED` (argo-semantics §3.7). A daemon that later ended keeps its `DAEMONED` bit beside its
phase, as Argo's `daemoned` field does, so `DAEMONED | SUCCEEDED` is valid too.

A compiled `depends` predicate is `outcome & mask != 0`, which is why these are bits: the bare
name `a` is one predicate with mask `SUCCEEDED | SKIPPED | DAEMONED` (plus `ERRORED` / `FAILED`
when `a` has `continueOn`), not three.
"""
from __future__ import annotations

import enum

__all__ = ["Outcome", "PHASE_BITS", "GROUP_BITS", "ALL_BITS", "RESULT_NAMES", "from_phase", "check_outcome"]


class Outcome(enum.IntFlag):
    """The result bits a dependency exposes to `depends` (Argo's `TaskResults`)."""

    SUCCEEDED = 1
    FAILED = 2
    ERRORED = 4
    SKIPPED = 8
    OMITTED = 16
    DAEMONED = 32
    ANY_SUCCEEDED = 64
    ALL_FAILED = 128


#: The bits that are node phases: at most one of them is set in a valid outcome.
PHASE_BITS = int(Outcome.SUCCEEDED | Outcome.FAILED | Outcome.ERRORED | Outcome.SKIPPED | Outcome.OMITTED)
#: Bits only a loop group may carry.
GROUP_BITS = int(Outcome.ANY_SUCCEEDED | Outcome.ALL_FAILED)
#: Every defined bit.
ALL_BITS = 255

#: `depends` result names (`task.<Name>`) → bit. The spelling is Argo's (`Errored`, not `Error`).
RESULT_NAMES: dict[str, int] = {
    "Succeeded": int(Outcome.SUCCEEDED),
    "Failed": int(Outcome.FAILED),
    "Errored": int(Outcome.ERRORED),
    "Skipped": int(Outcome.SKIPPED),
    "Omitted": int(Outcome.OMITTED),
    "Daemoned": int(Outcome.DAEMONED),
    "AnySucceeded": int(Outcome.ANY_SUCCEEDED),
    "AllFailed": int(Outcome.ALL_FAILED),
}

_PHASES: dict[str, int] = {
    "Succeeded": int(Outcome.SUCCEEDED),
    "Failed": int(Outcome.FAILED),
    "Error": int(Outcome.ERRORED),
    "Skipped": int(Outcome.SKIPPED),
    "Omitted": int(Outcome.OMITTED),
}


def from_phase(phase: str, /, *, daemoned: bool = False, any_succeeded: bool = False,
               all_failed: bool = False) -> Outcome:
    """Build an outcome from an Argo node phase (`NodeStatus.phase`) and its flags.

    `phase="Running"` is accepted only with `daemoned=True` (a daemon that is up).
    """
    bits = _PHASES.get(phase)
    if bits is None:
        if not (daemoned and phase == "Running"):
            raise ValueError(f"node phase {phase!r} is not an outcome (Pending/Running nodes are not done)")
        bits = 0
    if daemoned:
        bits |= int(Outcome.DAEMONED)
    if any_succeeded:
        bits |= int(Outcome.ANY_SUCCEEDED)
    if all_failed:
        bits |= int(Outcome.ALL_FAILED)
    return Outcome(bits)


def check_outcome(outcome: int, /, *, group: bool) -> str | None:
    """Return why `outcome` is invalid for a task (a loop group when `group`), or None if valid.

    Both schedulers call this (the fast one re-implements it in C with the same messages).
    """
    if outcome < 0 or outcome & ~ALL_BITS:
        return f"unknown outcome bits {outcome:#x}"
    phase = outcome & PHASE_BITS
    if phase & (phase - 1):
        return "more than one phase bit set"
    if not phase and not outcome & Outcome.DAEMONED:
        return "no phase bit set (and not DAEMONED)"
    if outcome & GROUP_BITS:
        if not group:
            return "ANY_SUCCEEDED/ALL_FAILED set on a task that is not a loop group"
        if outcome & GROUP_BITS == GROUP_BITS:
            return "ANY_SUCCEEDED and ALL_FAILED are exclusive"
        if outcome & Outcome.ALL_FAILED and not outcome & Outcome.FAILED:
            return "ALL_FAILED requires the FAILED phase"
    return None
