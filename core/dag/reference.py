"""The pure-Python reference scheduler: graphlib's protocol with Argo's DAG rules.

`tiphys.core._fast._dag.Scheduler` is the same algorithm in Cython; one test suite runs both and a
differential test asserts identical `ready()` sequences (STYLE 9). This file is the specification:
when they disagree, this one is right. Keep the two in step, statement by statement.

State per task is one small int (`_state`): WAITING (dependencies outstanding), PENDING (runnable,
not yet handed out), RUNNING (returned by `ready()`), DONE, OMITTED, OUT (not an ancestor of a
target; never runs). `_npred[t]` counts dependencies not yet fulfilled; when it reaches zero the
task's `depends` program is evaluated — Argo evaluates a task only once *every* dependency is
fulfilled (§3.7), never earlier, even when the outcome is already decided — and the task becomes
PENDING (true) or OMITTED (false). An Omitted task is fulfilled at once, so omission cascades
through a worklist in the same call. Work per `done()` is proportional to the successors touched.

Order is part of the contract (the two implementations must agree): roots are released in index
order; a fulfilled task releases its successors in index order; omissions cascade breadth-first;
`ready()` hands out PENDING tasks first-in first-out (after `restore()`, in topological order).

Rules beyond `depends` (§5.5, §5.13, §5.4):
* Failures never stop a DAG from releasing tasks: a failed task's bare dependants are omitted by
  the depends rule, and tasks that ask for `.Failed` run (Argo's `dag-continue-on-fail` example).
  `fail_fast` matters where Argo applies it, in the DAG's phase (`phase()`, §5.5 steps 2-4): a
  failing target decides at once, even while other targets have not started, instead of waiting
  for every target. Call `ready()` before `phase()`, as Argo creates runnable nodes before it
  assesses the DAG. (The CRD's field doc says failFast "stop[s] scheduling new steps"; the
  reference, §5.5, puts the check only in the phase assessment, and so do we: with the doc's
  reading, Argo's own dag-continue-on-fail example could not run its `B.Failed` task.)
* Steps graphs (`compile_steps`) halt on a failed step not covered by its `continueOn` (§5.4): no
  later group is evaluated (nor omitted), the failed step's group completes, and `phase()` is
  Failed once it has. Steps of that group still waiting for a `parallelism` slot run too, unless
  `fail_fast` (the template's `failFast`, which for steps is false by default in Argo: pass it
  explicitly), in which case nothing new is handed out after the failure.
* `targets`: only the targets and their ancestors run; other tasks stay OUT. Without targets,
  the targets are the tasks nothing depends on, sorted by name (as Argo sorts them).
* `parallelism`: at most that many tasks RUNNING at once (0 = unbounded). Omitted tasks never run,
  so they do not count.
* Branch phase (§5.5 step 2): a task that ended Succeeded/Failed/Error has its own phase; a
  Skipped, Omitted or only-Daemoned one inherits the worst branch phase of its dependencies
  (Error over Failed over Succeeded; our choice where Argo keeps whichever its BFS meets first),
  or its own phase when it has none. `phase()` folds the targets' branch phases as Argo does.
"""
from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence

from .compile import FLAG_CONTINUE_ERROR, FLAG_CONTINUE_FAILED, FLAG_GROUP, CompiledDAG
from .depends import evaluate
from .errors import RestoreError, SchedulerError, UnknownDependencyError
from .outcome import Outcome, check_outcome

__all__ = ["ReferenceScheduler", "WAITING", "PENDING", "RUNNING", "DONE", "OMITTED", "OUT",
           "RUNNING_PHASE", "SUCCEEDED_PHASE", "FAILED_PHASE", "ERROR_PHASE"]

WAITING, PENDING, RUNNING, DONE, OMITTED, OUT = range(6)

#: `phase()` results: Argo's node phase strings.
RUNNING_PHASE, SUCCEEDED_PHASE, FAILED_PHASE, ERROR_PHASE = "Running", "Succeeded", "Failed", "Error"

_SUCCEEDED = int(Outcome.SUCCEEDED)
_FAILED = int(Outcome.FAILED)
_ERRORED = int(Outcome.ERRORED)
_OMITTED = int(Outcome.OMITTED)
_COMPLETED = _SUCCEEDED | _FAILED | _ERRORED


def _worse(a: int, b: int) -> int:
    """The worse of two branch phases: Error > Failed > Succeeded > anything else."""
    for bit in (_ERRORED, _FAILED, _SUCCEEDED):
        if (a | b) & bit:
            return bit
    return a or b


def resolve_targets(compiled: CompiledDAG, targets: int | str | Iterable[int | str] | None
                    ) -> tuple[list[bool], list[int]]:
    """(scope, target list): scope is True for the targets and their ancestors. Without targets
    everything is in scope and the targets are the tasks nothing depends on, sorted by name."""
    n = len(compiled.names)
    if targets is None:
        return None, compiled.sinks.tolist()
    if isinstance(targets, str):
        targets = targets.split()  # Argo's `dag.target` is space-separated
    elif isinstance(targets, int):
        targets = [targets]
    ids: list[int] = []
    for t in targets:
        if isinstance(t, str):
            i = compiled.index.get(t)
            if i is None:
                raise UnknownDependencyError("", t, path="target")
        else:
            i = int(t)
            if not 0 <= i < n:
                raise SchedulerError(f"target {i} is out of range (0..{n - 1})", task=i)
        if i not in ids:
            ids.append(i)
    scope = [False] * n
    stack = list(ids)
    pred, off = compiled.pred, compiled.pred_off
    while stack:
        t = stack.pop()
        if scope[t]:
            continue
        scope[t] = True
        stack.extend(pred[off[t]:off[t + 1]])
    return scope, ids


class ReferenceScheduler:
    """Hand out runnable tasks of a `CompiledDAG` and take their outcomes (graphlib's shape)."""

    def __init__(self, compiled: CompiledDAG, /, *, fail_fast: bool = True,
                 targets: int | str | Iterable[int | str] | None = None, parallelism: int = 0) -> None:
        if parallelism < 0:
            raise ValueError(f"parallelism must be >= 0, got {parallelism}")
        self._dag = compiled
        self._n = len(compiled.names)
        self._fail_fast = bool(fail_fast)
        self._halt = bool(compiled.halt_on_failure)
        self._parallelism = parallelism
        self._in_scope, self._targets = resolve_targets(compiled, targets)
        self._succ = compiled.succ.tolist()
        self._succ_off = compiled.succ_off.tolist()
        self._pred = compiled.pred.tolist()
        self._pred_off = compiled.pred_off.tolist()
        self._prog = compiled.prog.tolist()
        self._prog_off = compiled.prog_off.tolist()
        self._flags = compiled.flags.tolist()
        self._reset()
        for t in range(self._n):
            if self._npred[t] == 0 and self._state[t] == WAITING:
                self._release(t)

    # -- internals -------------------------------------------------------------------------

    def _reset(self) -> None:
        off = self._pred_off
        self._npred = [off[i + 1] - off[i] for i in range(self._n)]
        self._state = [WAITING] * self._n if self._in_scope is None else \
            [WAITING if s else OUT for s in self._in_scope]
        self._outcome = [0] * self._n
        self._branch = [0] * self._n  # set for fulfilled tasks that did not complete (see _fulfil)
        self._pending: list[int] = []  # every task enters at most once: a list and a head index
        self._pending_head = 0
        self._running = 0
        self._halted = False
        self._omitted: list[int] = []
        self._omitted_read = 0

    def _evaluate(self, t: int) -> bool:
        # one evaluator for the reference: the program runner of `depends` (the Cython one is its twin)
        return evaluate(self._prog[self._prog_off[t]:self._prog_off[t + 1]], self._outcome)

    def _fulfil(self, t: int, outcome: int) -> None:
        """Record an outcome; a task that did not complete inherits its dependencies' branch phase."""
        self._outcome[t] = outcome
        if not outcome & _COMPLETED:
            b = 0
            for k in range(self._pred_off[t], self._pred_off[t + 1]):
                p = self._pred[k]
                b = _worse(b, self._outcome[p] & _COMPLETED or self._branch[p])
            self._branch[t] = b or outcome

    def _release(self, t: int) -> None:
        """`t` has all dependencies fulfilled: queue it, or omit it and cascade."""
        if self._evaluate(t):
            self._state[t] = PENDING
            self._pending.append(t)
        else:
            self._omit(t)
            self._propagate(t)

    def _omit(self, t: int) -> None:
        self._state[t] = OMITTED
        self._fulfil(t, _OMITTED)
        self._omitted.append(t)

    def _propagate(self, first: int) -> None:
        """Count `first` as fulfilled for its successors; omissions cascade breadth-first."""
        succ, off, npred, state = self._succ, self._succ_off, self._npred, self._state
        work = [first]
        head = 0
        while head < len(work):
            f = work[head]
            head += 1
            for k in range(off[f], off[f + 1]):
                s = succ[k]
                npred[s] -= 1
                if npred[s] == 0 and state[s] == WAITING and not self._halted:
                    if self._evaluate(s):
                        state[s] = PENDING
                        self._pending.append(s)
                    else:
                        self._omit(s)
                        work.append(s)

    def _fails(self, t: int, outcome: int) -> bool:
        """Failed or Errored, and the task's continueOn does not cover that phase."""
        flags = self._flags[t]
        return bool((outcome & _FAILED and not flags & FLAG_CONTINUE_FAILED)
                    or (outcome & _ERRORED and not flags & FLAG_CONTINUE_ERROR))

    def _check(self, t: int, outcome: int, *, restoring: bool) -> None:
        why = check_outcome(outcome, group=bool(self._flags[t] & FLAG_GROUP))
        if why is None and not restoring and outcome & _OMITTED:
            why = "OMITTED is decided by the scheduler, not reported"
        if why is not None:
            raise SchedulerError(f"invalid outcome {outcome:#x} for task {self._dag.names[t]!r}: {why}", task=t)

    def _task(self, task: int | str) -> int:
        if isinstance(task, str):
            i = self._dag.index.get(task)
            if i is None:
                raise SchedulerError(f"unknown task {task!r}")
            return i
        i = int(task)
        if not 0 <= i < self._n:
            raise SchedulerError(f"task {i} is out of range (0..{self._n - 1})", task=i)
        return i

    # -- public API ------------------------------------------------------------------------

    @property
    def compiled(self) -> CompiledDAG:
        return self._dag

    @property
    def halted(self) -> bool:
        """True once a steps graph stopped on a failed step: no later group will run."""
        return self._halted

    def ready(self) -> list[int]:
        """Tasks that became runnable since the last call, now counted as running."""
        if self._halted and self._fail_fast:
            return []
        avail = len(self._pending) - self._pending_head
        if self._parallelism:
            avail = min(avail, self._parallelism - self._running)
        if avail <= 0:
            return []
        start = self._pending_head
        out = self._pending[start:start + avail]
        self._pending_head = start + avail
        for t in out:
            self._state[t] = RUNNING
        self._running += avail
        return out

    def done(self, task: int, outcome: int, /) -> None:
        """Record the outcome of a task previously returned by `ready()`."""
        t = self._task(operator.index(task))  # ints only, as the C signature has it
        state = self._state[t]
        if state != RUNNING:
            what = "is already done" if state in (DONE, OMITTED) else "was not returned by ready()"
            raise SchedulerError(f"task {self._dag.names[t]!r} ({t}) {what}", task=t)
        outcome = int(outcome)
        self._check(t, outcome, restoring=False)
        self._state[t] = DONE
        self._fulfil(t, outcome)
        self._running -= 1
        if self._halt and self._fails(t, outcome):
            self._halted = True
        self._propagate(t)

    def done_many(self, tasks: Sequence[int], outcomes: int | Sequence[int], /) -> None:
        """`done()` for each task in order (one outcome for all, or one per task); stops at the
        first invalid one, with the earlier ones applied."""
        if isinstance(outcomes, int):
            for t in tasks:
                self.done(t, outcomes)
            return
        if len(outcomes) != len(tasks):
            raise SchedulerError(f"done_many: {len(tasks)} tasks but {len(outcomes)} outcomes")
        for t, o in zip(tasks, outcomes):
            self.done(t, o)

    def sweep(self, outcomes: int | Sequence[int], /) -> int:
        """Run the graph to the end: take every ready batch and mark it done in order with
        `outcomes` (one for all, or indexed by task). Returns how many tasks were run."""
        per_task = not isinstance(outcomes, int)
        if per_task and len(outcomes) != self._n:
            raise SchedulerError(f"sweep: {self._n} tasks but {len(outcomes)} outcomes")
        count = 0
        while True:
            batch = self.ready()
            if not batch:
                return count
            for t in batch:
                self.done(t, outcomes[t] if per_task else outcomes)
            count += len(batch)

    def is_active(self) -> bool:
        """True while something is running or runnable (graphlib's meaning)."""
        return self._running > 0 or (not (self._halted and self._fail_fast)
                                     and self._pending_head < len(self._pending))

    def phase(self) -> str:
        """The DAG's (or steps template's) phase as Argo assesses it (§5.5, §5.4): "Running",
        "Succeeded", "Failed" or "Error". Costs one pass over the targets."""
        if self._running:
            return RUNNING_PHASE
        if self._halt:
            if self.is_active():
                return RUNNING_PHASE
            # A Steps node ends Failed, never Error, when a step failed (§5.4).
            return FAILED_PHASE if self._halted else SUCCEEDED_PHASE
        result = SUCCEEDED_PHASE
        for t in self._targets:
            o = self._outcome[t]
            if not o:
                result = RUNNING_PHASE
                if not self._fail_fast:  # let every target finish before judging failures
                    break
                continue
            branch = o & _COMPLETED or self._branch[t]
            if self._fails(t, branch):
                result = ERROR_PHASE if branch & _ERRORED else FAILED_PHASE
                if self._fail_fast:
                    break
        return result

    def take_omitted(self) -> list[int]:
        """Tasks the scheduler omitted (depends false) since the last call, in omission order."""
        out = self._omitted[self._omitted_read:]
        self._omitted_read = len(self._omitted)
        return out

    def outcome(self, task: int, /) -> int:
        """The outcome bits of a fulfilled task, 0 while it is not."""
        return self._outcome[self._task(task)]

    def outcomes(self) -> list[int]:
        """Outcome bits of every task (0 = not fulfilled)."""
        return list(self._outcome)

    def restore(self, outcomes: Mapping[int | str, int], /, *, running: Iterable[int | str] = ()) -> None:
        """Rebuild state after a restart from the fulfilled tasks (`outcomes`, may include OMITTED)
        and the tasks already started (`running`). Tasks whose dependencies are fulfilled are
        evaluated again, in topological order; omissions found now are reported by
        `take_omitted()`. Contradictions raise `RestoreError` (the scheduler is then unusable)."""
        given: dict[int, int] = {}
        for key, o in outcomes.items():
            t = self._task(key)
            if t in given:
                raise RestoreError(f"task {self._dag.names[t]!r} ({t}) given twice", task=t)
            o = int(o)
            self._check(t, o, restoring=True)
            given[t] = o
        started: set[int] = set()
        for key in running:
            t = self._task(key)
            if t in given or t in started:
                raise RestoreError(f"task {self._dag.names[t]!r} ({t}) given twice", task=t)
            started.add(t)
        self._reset()
        self._halted = self._halt and any(self._fails(t, o) for t, o in given.items())
        names, state, npred = self._dag.names, self._state, self._npred
        for t in self._dag.topo:
            o = given.get(t)
            if o is not None:
                if npred[t]:
                    raise RestoreError(f"task {names[t]!r} ({t}) is done but "
                                       f"{self._unfulfilled(t)} is not", task=t)
                state[t] = OMITTED if o & _OMITTED else DONE
                self._fulfil(t, o)
                self._decrement(t)
            elif t in started:
                if state[t] == OUT:
                    raise RestoreError(f"task {names[t]!r} ({t}) is running but not an ancestor of a target",
                                       task=t)
                if npred[t]:
                    raise RestoreError(f"task {names[t]!r} ({t}) is running but "
                                       f"{self._unfulfilled(t)} is not done", task=t)
                if not self._evaluate(t):
                    raise RestoreError(f"task {names[t]!r} ({t}) is running but its depends is false",
                                       task=t)
                state[t] = RUNNING
                self._running += 1
            elif state[t] == WAITING and npred[t] == 0 and not self._after_failure(t):
                if self._evaluate(t):
                    state[t] = PENDING
                    self._pending.append(t)
                else:
                    self._omit(t)
                    self._decrement(t)

    def _after_failure(self, t: int) -> bool:
        """In a halted steps graph, whether `t` comes after the failed step (restore only: siblings
        of the failed step were released before it failed, later groups never are)."""
        if not self._halted:
            return False
        outcome = self._outcome
        return any(self._fails(p, outcome[p]) for p in self._pred[self._pred_off[t]:self._pred_off[t + 1]])

    def _decrement(self, t: int) -> None:
        succ, npred = self._succ, self._npred
        for k in range(self._succ_off[t], self._succ_off[t + 1]):
            npred[succ[k]] -= 1

    def _unfulfilled(self, t: int) -> str:
        pred, off = self._pred, self._pred_off
        j = next(j for j in pred[off[t]:off[t + 1]] if self._state[j] not in (DONE, OMITTED))
        return f"its dependency {self._dag.names[j]!r} ({j})"
