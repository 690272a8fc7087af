# Included by _dag.pyx: the topological walk of Scheduler.restore (ReferenceScheduler.restore is
# the specification). `given[t]` is -1 (nothing known), -2 (running) or the task's outcome.


cdef int _restore_walk(Scheduler sched, const int* given) except -1:
    cdef int t, o
    cdef Py_ssize_t idx
    names = sched.compiled.names
    sched._reset()
    if sched.halt:
        for idx in range(sched.n):
            if given[idx] >= 0 and sched._fails(<int>idx, given[idx]):
                sched.stopped = True
                break
    for idx in range(sched.n):
        t = sched.topo[idx]
        o = given[t]
        if o >= 0:
            if sched.rec[t].npred & NP_COUNT:
                raise sched._error(True, f"task {names[t]!r} ({t}) is done but "
                                   f"{_unfulfilled(sched, t)} is not", t)
            sched.rec[t].state = ST_OMITTED if o & O_OMITTED else ST_DONE
            sched._fulfil(t, o)
            sched._decrement(t)
        elif o == -2:
            if sched.rec[t].state == ST_OUT:
                raise sched._error(True, f"task {names[t]!r} ({t}) is running but not an ancestor "
                                   f"of a target", t)
            if sched.rec[t].npred & NP_COUNT:
                raise sched._error(True, f"task {names[t]!r} ({t}) is running but "
                                   f"{_unfulfilled(sched, t)} is not done", t)
            if not sched._evaluate(t):
                raise sched._error(True, f"task {names[t]!r} ({t}) is running but its depends is false", t)
            sched.rec[t].state = ST_RUNNING
            sched.running += 1
        elif sched.rec[t].state == ST_WAITING and sched.rec[t].npred & NP_COUNT == 0 and not _after_failure(sched, t):
            if sched._evaluate(t):
                sched.rec[t].state = ST_PENDING
                sched.pending[sched.pending_tail] = t
                sched.pending_tail += 1
            else:
                sched._omit(t)
                sched._decrement(t)
    return 0


cdef str _unfulfilled(Scheduler sched, int t):
    cdef int k, j
    for k in range(sched.pred_off[t], sched.pred_off[t + 1]):
        j = sched.pred[k]
        if sched.rec[j].state != ST_DONE and sched.rec[j].state != ST_OMITTED:
            return f"its dependency {sched.compiled.names[j]!r} ({j})"
    return "a dependency"


cdef bint _after_failure(Scheduler sched, int t):
    # In a halted steps graph, whether t comes after the failed step (see ReferenceScheduler).
    cdef int k, p
    if not sched.stopped:
        return False
    for k in range(sched.pred_off[t], sched.pred_off[t + 1]):
        p = sched.pred[k]
        if sched._fails(p, sched.rec[p].res):
            return True
    return False
