"""The DAG scheduler in Cython: `tiphys.core.dag.reference.ReferenceScheduler`, statement by statement.

The reference module's docstring is the specification (states, evaluation rule, order, fail-fast,
targets, parallelism); this file is its translation over C arrays, so a `done()` touches only the
completed task's successors and never allocates. `sweep()` runs whole ready/done rounds in C.

C attributes are declared at the top of the class rather than in a `_dag.pxd`: setup.py maps
`core/` to `tiphys.core`, and Cython looks a module's own .pxd up by its dotted name from the
package root, so a `core/_fast/_dag.pxd` is not found (see benchmarks/README.md, "Build").

This module sits below `tiphys.core` and may not import it: it reads the `CompiledDAG` by duck
typing (int32 `array('i')` attributes), takes the scope of the targets as bytes, and raises the
error classes named by the class attributes `scheduler_error` / `restore_error`, which
`tiphys.core.dag` points at its typed errors in a thin subclass.
"""
cimport cython
from cpython.array cimport array
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset

include "_dag_defs.pxi"


cdef class Scheduler:
    """Hand out runnable tasks of a `CompiledDAG` and take their outcomes (graphlib's shape)."""

    # Every C attribute, in one place (the would-be .pxd; see the module docstring).
    cdef readonly object compiled   # the CompiledDAG; keeps its arrays, hence our pointers, alive
    cdef int n
    # Read-only views of the compiled arrays.
    cdef const int* succ_off
    cdef const int* succ
    cdef const int* succ_mask       # per edge: the conjunction's mask for its source
    cdef const int* pred_off
    cdef const int* pred
    cdef const int* prog_off
    cdef const int* prog
    cdef const int* flags
    cdef const int* topo
    # Mutable state, n entries each unless noted.
    cdef TaskRec* rec               # per-task record: npred, res, state, succ_start (see TaskRec)
    cdef unsigned char* scope       # 1 = ancestor of a target, or no targets given
    cdef unsigned char* branch      # inherited branch phase of fulfilled tasks that did not complete
    cdef int* targets               # target task ids in Argo's order, ntargets of them
    cdef Py_ssize_t ntargets
    cdef int* pending               # FIFO of runnable tasks; each task enters at most once
    cdef Py_ssize_t pending_head
    cdef Py_ssize_t pending_tail
    cdef int* work                  # _propagate's worklist, reused per call
    cdef int* omitted               # omission log; omitted_read is take_omitted's cursor
    cdef Py_ssize_t omitted_tail
    cdef Py_ssize_t omitted_read
    cdef unsigned char* stack       # evaluation stack, max_stack + 1 entries
    cdef Py_ssize_t running
    cdef int parallelism
    cdef bint fail_fast             # DAG: phase() only; steps: no new step after a failure
    cdef bint halt                  # a steps graph: stop on a failed step
    cdef bint stopped               # halt tripped: the `halted` property

    scheduler_error = _SchedulerError
    restore_error = _SchedulerError

    def __cinit__(self):
        self.n = 0
        self.rec = NULL
        self.scope = NULL
        self.branch = NULL
        self.targets = NULL
        self.ntargets = 0
        self.pending = NULL
        self.work = NULL
        self.omitted = NULL
        self.stack = NULL

    def __dealloc__(self):
        self._free()

    def __init__(self, compiled, *, bint fail_fast=True, int parallelism=0, bytes scope=None,
                 array targets=None):
        cdef Py_ssize_t n = len(compiled.names)
        cdef Py_ssize_t i
        cdef const int* tp
        if parallelism < 0:
            raise ValueError(f"parallelism must be >= 0, got {parallelism}")
        if scope is not None and len(scope) != n:
            raise ValueError(f"scope has {len(scope)} entries for {n} tasks")
        self._free()
        self.compiled = compiled
        self.n = <int>n
        self.succ_off = _ints(compiled.succ_off, "succ_off", n + 1)
        self.succ = _ints(compiled.succ, "succ", self.succ_off[n])
        self.succ_mask = _ints(compiled.succ_mask, "succ_mask", self.succ_off[n])
        self.pred_off = _ints(compiled.pred_off, "pred_off", n + 1)
        self.pred = _ints(compiled.pred, "pred", self.pred_off[n])
        self.prog_off = _ints(compiled.prog_off, "prog_off", n + 1)
        self.prog = _ints(compiled.prog, "prog", self.prog_off[n])
        self.flags = _ints(compiled.flags, "flags", n)
        self.topo = _ints(compiled.topo, "topo", n)
        self.fail_fast = fail_fast
        self.halt = bool(compiled.halt_on_failure)
        self.parallelism = parallelism
        self._alloc()
        if targets is None:  # the tasks nothing depends on, sorted by name (compiled once)
            targets = compiled.sinks
        self.ntargets = len(targets)
        self.targets = <int*>PyMem_Malloc((self.ntargets + 1) * sizeof(int))
        if self.targets == NULL:
            raise MemoryError()
        tp = _ints(targets, "targets", self.ntargets)
        for i in range(self.ntargets):
            if not 0 <= tp[i] < n:
                raise ValueError(f"target {tp[i]} out of range")
            self.targets[i] = tp[i]
        max_stack = compiled.max_stack
        if max_stack < 0:
            raise ValueError("CompiledDAG.max_stack must be >= 0")
        self.stack = <unsigned char*>PyMem_Malloc(max_stack + 1)
        if self.stack == NULL:
            raise MemoryError()
        if scope is None:
            memset(self.scope, 1, n)
        else:
            for i in range(n):
                self.scope[i] = 1 if scope[i] else 0
        self._reset()
        for i in range(n):
            if self.rec[i].npred & NP_COUNT == 0 and self.rec[i].state == ST_WAITING:
                if self._evaluate(<int>i):
                    self.rec[i].state = ST_PENDING
                    self.pending[self.pending_tail] = <int>i
                    self.pending_tail += 1
                else:
                    self._omit(<int>i)
                    self._propagate(<int>i)

    # -- internals -------------------------------------------------------------------------

    cdef int _alloc(self) except -1:
        cdef size_t n = self.n if self.n > 0 else 1
        self.rec = <TaskRec*>PyMem_Malloc((n + 1) * sizeof(TaskRec))
        self.scope = <unsigned char*>PyMem_Malloc(n)
        self.branch = <unsigned char*>PyMem_Malloc(n)
        self.pending = <int*>PyMem_Malloc(n * sizeof(int))
        self.work = <int*>PyMem_Malloc(n * sizeof(int))
        self.omitted = <int*>PyMem_Malloc(n * sizeof(int))
        if (self.rec == NULL or self.scope == NULL or self.branch == NULL
                or self.pending == NULL or self.work == NULL or self.omitted == NULL):
            self._free()
            raise MemoryError()
        return 0

    cdef void _free(self) noexcept:
        PyMem_Free(self.rec)
        PyMem_Free(self.scope)
        PyMem_Free(self.branch)
        PyMem_Free(self.targets)
        PyMem_Free(self.pending)
        PyMem_Free(self.work)
        PyMem_Free(self.omitted)
        PyMem_Free(self.stack)
        self.rec = NULL
        self.scope = NULL
        self.branch = NULL
        self.targets = NULL
        self.ntargets = 0
        self.pending = NULL
        self.work = NULL
        self.omitted = NULL
        self.stack = NULL

    cdef void _reset(self) noexcept nogil:
        cdef int i
        for i in range(self.n):
            self.rec[i].npred = ((self.pred_off[i + 1] - self.pred_off[i])
                                 | (NP_CONJ if self.flags[i] & F_CONJUNCTION else 0)
                                 | (NP_BARE if self.flags[i] & F_BARE_CONJUNCTION else 0))
            self.rec[i].bare = _bare_mask(self.flags[i])
            self.rec[i].res = 0
            self.rec[i].succ_start = self.succ_off[i]
            self.rec[i].state = ST_WAITING if self.scope[i] else ST_OUT
            self.branch[i] = 0
        self.rec[self.n].succ_start = self.succ_off[self.n]
        self.pending_head = 0
        self.pending_tail = 0
        self.running = 0
        self.stopped = False
        self.omitted_tail = 0
        self.omitted_read = 0

    @cython.final
    cdef bint _evaluate(self, int t) noexcept nogil:
        cdef int i = self.prog_off[t]
        cdef int end = self.prog_off[t + 1]
        cdef int w
        cdef Py_ssize_t sp = 0
        cdef unsigned char* stack = self.stack
        if i == end:
            return True
        while i < end:
            w = self.prog[i]
            if w >= 0:
                stack[sp] = (self.rec[w].res & self.prog[i + 1]) != 0
                sp += 1
                i += 2
                continue
            if w == OP_NOT:
                stack[sp - 1] = not stack[sp - 1]
            elif w == OP_AND:
                sp -= 1
                stack[sp - 1] = stack[sp - 1] and stack[sp]
            else:
                sp -= 1
                stack[sp - 1] = stack[sp - 1] or stack[sp]
            i += 1
        return stack[sp - 1]

    @cython.final
    cdef void _fulfil(self, int t, int outcome) noexcept nogil:
        # Record an outcome; a task that did not complete inherits its dependencies' branch phase.
        cdef int k, p, b = 0, pb
        self.rec[t].res = outcome
        if not outcome & O_COMPLETED:
            for k in range(self.pred_off[t], self.pred_off[t + 1]):
                p = self.pred[k]
                pb = self.rec[p].res & O_COMPLETED
                b = _worse(b, pb if pb else self.branch[p])
            self.branch[t] = b if b else outcome

    @cython.final
    cdef void _omit(self, int t) noexcept nogil:
        self.rec[t].state = ST_OMITTED
        self._fulfil(t, O_OMITTED)
        self.omitted[self.omitted_tail] = t
        self.omitted_tail += 1

    @cython.final
    cdef void _propagate(self, int first) noexcept nogil:
        cdef int* work = self.work
        cdef TaskRec* rec = self.rec
        cdef TaskRec* r
        cdef const int* succ = self.succ
        cdef const int* succ_mask = self.succ_mask
        cdef Py_ssize_t head = 0, tail = 1
        cdef int f, s, k, end, value, v
        cdef bint ok, bare_ok
        work[0] = first
        while head < tail:
            f = work[head]
            head += 1
            value = rec[f].res
            bare_ok = (value & rec[f].bare) != 0
            end = rec[f + 1].succ_start
            for k in range(rec[f].succ_start, end):
                s = succ[k]
                r = &rec[s]
                v = r.npred
                # A conjunction is decided edge by edge while its source's outcome is in cache;
                # the reference runs the program instead (same result, the tests check both).
                if v & NP_BARE:
                    if not bare_ok:
                        v |= NP_BAD
                elif v & NP_CONJ and not (value & succ_mask[k]):
                    v |= NP_BAD
                v -= 1
                r.npred = v
                if v & NP_COUNT == 0 and r.state == ST_WAITING and not self.stopped:
                    if v & NP_CONJ:
                        ok = not (v & NP_BAD)
                    else:
                        ok = self._evaluate(s)
                    if ok:
                        r.state = ST_PENDING
                        self.pending[self.pending_tail] = s
                        self.pending_tail += 1
                    else:
                        self._omit(s)
                        work[tail] = s
                        tail += 1

    @cython.final
    cdef void _decrement(self, int t) noexcept nogil:
        cdef int k, s
        for k in range(self.succ_off[t], self.succ_off[t + 1]):
            s = self.succ[k]
            if self.rec[s].npred & NP_BARE:
                if not (self.rec[t].res & self.rec[t].bare):
                    self.rec[s].npred |= NP_BAD
            elif self.rec[s].npred & NP_CONJ and not (self.rec[t].res & self.succ_mask[k]):
                self.rec[s].npred |= NP_BAD
            self.rec[s].npred -= 1

    @cython.final
    cdef bint _fails(self, int t, int outcome) noexcept nogil:
        cdef int flags = self.flags[t]
        return ((outcome & O_FAILED and not flags & F_CONTINUE_FAILED)
                or (outcome & O_ERRORED and not flags & F_CONTINUE_ERROR))

    @cython.final
    cdef int _check(self, int t, int outcome, bint restoring) noexcept nogil:
        """0 when valid, else an index into _MESSAGES (same rules as outcome.check_outcome)."""
        cdef int phase
        if outcome < 0 or outcome & ~O_ALL:
            return 1
        phase = outcome & O_PHASES
        if phase & (phase - 1):
            return 2
        if not phase and not outcome & O_DAEMONED:
            return 3
        if outcome & O_GROUP_BITS:
            if not self.flags[t] & F_GROUP:
                return 4
            if outcome & O_GROUP_BITS == O_GROUP_BITS:
                return 5
            if outcome & O_ALL_FAILED and not outcome & O_FAILED:
                return 6
        if not restoring and outcome & O_OMITTED:
            return 7
        return 0

    @cython.final
    cdef void _finish(self, int t, int outcome) noexcept nogil:
        self.rec[t].state = ST_DONE
        if outcome & O_COMPLETED:
            self.rec[t].res = outcome
        else:
            self._fulfil(t, outcome)
        self.running -= 1
        if self.halt and self._fails(t, outcome):
            self.stopped = True
        self._propagate(t)

    cdef int _done(self, int t, int outcome) except -1:
        cdef int code
        cdef unsigned char st
        if t < 0 or t >= self.n:
            raise self._error(False, f"task {t} is out of range (0..{self.n - 1})", t)
        st = self.rec[t].state
        if st != ST_RUNNING:
            what = "is already done" if st == ST_DONE or st == ST_OMITTED else "was not returned by ready()"
            raise self._error(False, f"task {self.compiled.names[t]!r} ({t}) {what}", t)
        code = self._check(t, outcome, False)
        if code:
            raise self._error(False, f"invalid outcome {outcome:#x} for task {self.compiled.names[t]!r}: "
                              + _MESSAGES[code].format(outcome), t)
        self._finish(t, outcome)
        return 0

    cdef int _task(self, object task) except -1:
        cdef long i
        if isinstance(task, str):
            found = self.compiled.index.get(task)
            if found is None:
                raise self._error(False, f"unknown task {task!r}", -1)
            return <int>found
        i = task
        if i < 0 or i >= self.n:
            raise self._error(False, f"task {i} is out of range (0..{self.n - 1})", <int>i if -2**31 <= i < 2**31 else -1)
        return <int>i

    cdef int _ensure(self) except -1:
        if self.rec == NULL:
            raise RuntimeError("Scheduler used before __init__")
        return 0

    cdef object _error(self, bint restore, str message, int task):
        cls = self.restore_error if restore else self.scheduler_error
        return cls(message, task=task)

    # -- public API ------------------------------------------------------------------------

    @property
    def halted(self):
        """True once a steps graph stopped on a failed step: no later group will run."""
        return bool(self.stopped)

    def ready(self):
        """Tasks that became runnable since the last call, now counted as running."""
        cdef Py_ssize_t avail, i, start
        self._ensure()
        if self.stopped and self.fail_fast:
            return []
        avail = self.pending_tail - self.pending_head
        if self.parallelism:
            avail = min(avail, self.parallelism - self.running)
        if avail <= 0:
            return []
        start = self.pending_head
        self.pending_head = start + avail
        out = [None] * avail
        for i in range(avail):
            self.rec[self.pending[start + i]].state = ST_RUNNING
            out[i] = self.pending[start + i]
        self.running += avail
        return out

    def done(self, int task, int outcome, /):
        """Record the outcome of a task previously returned by `ready()`."""
        self._ensure()
        self._done(task, outcome)

    def done_many(self, tasks, outcomes, /):
        """`done()` for each task in order (one outcome for all, or one per task); stops at the
        first invalid one, with the earlier ones applied."""
        cdef int o
        self._ensure()
        if isinstance(outcomes, int):
            o = outcomes
            for t in tasks:
                self._done(t, o)
            return
        if len(outcomes) != len(tasks):
            raise self._error(False, f"done_many: {len(tasks)} tasks but {len(outcomes)} outcomes", -1)
        for t, ob in zip(tasks, outcomes):
            self._done(t, ob)

    def sweep(self, outcomes, /):
        """Run the graph to the end: take every ready batch and mark it done in order with
        `outcomes` (one for all, or indexed by task). Returns how many tasks were run."""
        cdef int single = 0
        cdef const int* per = NULL
        cdef array buf
        cdef Py_ssize_t count = 0, avail, start, i, j
        cdef int t, o, code
        self._ensure()
        if isinstance(outcomes, int):
            single = outcomes
        else:
            if len(outcomes) != self.n:
                raise self._error(False, f"sweep: {self.n} tasks but {len(outcomes)} outcomes", -1)
            buf = outcomes if isinstance(outcomes, array) and (<array>outcomes).ob_descr.typecode == b'i' \
                else array('i', outcomes)
            per = <const int*>buf.data.as_ints if self.n else NULL
        while not (self.stopped and self.fail_fast):
            avail = self.pending_tail - self.pending_head
            if self.parallelism:
                avail = min(avail, self.parallelism - self.running)
            if avail <= 0:
                break
            start = self.pending_head
            self.pending_head = start + avail
            # The batch is "running" as a whole (ready() would mark each task RUNNING; nothing can
            # observe that inside this loop, and _finish sets DONE), then finished in order.
            self.running += avail
            for i in range(start, start + avail):
                t = self.pending[i]
                o = per[t] if per != NULL else single
                code = self._check(t, o, False)
                if code:
                    for j in range(i, start + avail):  # leave them as ready() would have: RUNNING
                        self.rec[self.pending[j]].state = ST_RUNNING
                    raise self._error(False, f"invalid outcome {o:#x} for task {self.compiled.names[t]!r}: "
                                      + _MESSAGES[code].format(o), t)
                self._finish(t, o)
            count += avail
        return count

    def is_active(self):
        """True while something is running or runnable (graphlib's meaning)."""
        self._ensure()
        return self.running > 0 or (not (self.stopped and self.fail_fast)
                                    and self.pending_head < self.pending_tail)

    def phase(self):
        """The DAG's (or steps template's) phase as Argo assesses it; see ReferenceScheduler.phase."""
        cdef Py_ssize_t i
        cdef int t, o, b
        self._ensure()
        if self.running:
            return "Running"
        if self.halt:
            if self.pending_head < self.pending_tail and not (self.stopped and self.fail_fast):
                return "Running"
            return "Failed" if self.stopped else "Succeeded"
        result = "Succeeded"
        for i in range(self.ntargets):
            t = self.targets[i]
            o = self.rec[t].res
            if not o:
                result = "Running"
                if not self.fail_fast:
                    break
                continue
            b = o & O_COMPLETED
            if not b:
                b = self.branch[t]
            if self._fails(t, b):
                result = "Error" if b & O_ERRORED else "Failed"
                if self.fail_fast:
                    break
        return result

    def take_omitted(self):
        """Tasks the scheduler omitted (depends false) since the last call, in omission order."""
        cdef Py_ssize_t i
        self._ensure()
        out = [self.omitted[i] for i in range(self.omitted_read, self.omitted_tail)]
        self.omitted_read = self.omitted_tail
        return out

    def outcome(self, task, /):
        """The outcome bits of a fulfilled task, 0 while it is not."""
        self._ensure()
        return self.rec[self._task(task)].res

    def outcomes(self):
        """Outcome bits of every task (0 = not fulfilled)."""
        cdef Py_ssize_t i
        self._ensure()
        return [self.rec[i].res for i in range(self.n)]

    def restore(self, outcomes, /, *, running=()):
        """Rebuild state after a restart; see ReferenceScheduler.restore."""
        cdef int t, o, code
        cdef Py_ssize_t idx
        cdef int* given
        self._ensure()
        names = self.compiled.names
        given_map = {}
        for key, value in outcomes.items():
            t = self._task(key)
            if t in given_map:
                raise self._error(True, f"task {names[t]!r} ({t}) given twice", t)
            o = value
            code = self._check(t, o, True)
            if code:
                raise self._error(False, f"invalid outcome {o:#x} for task {names[t]!r}: "
                                  + _MESSAGES[code].format(o), t)
            given_map[t] = o
        started = set()
        for key in running:
            t = self._task(key)
            if t in given_map or t in started:
                raise self._error(True, f"task {names[t]!r} ({t}) given twice", t)
            started.add(t)
        given = <int*>PyMem_Malloc((self.n if self.n else 1) * sizeof(int))
        if given == NULL:
            raise MemoryError()
        try:
            # -1: nothing known; -2: running; else the outcome.
            for idx in range(self.n):
                given[idx] = -1
            for t, o in given_map.items():
                given[t] = o
            for t in started:
                given[t] = -2
            _restore_walk(self, given)
        finally:
            PyMem_Free(given)


include "_dag_restore.pxi"
include "_dag_link.pxi"
