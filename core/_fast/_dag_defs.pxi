# Included first by _dag.pyx: constants, the per-task record, messages and array access.
# Bit values mirror tiphys.core.dag.outcome, compile and depends; the differential tests catch a drift.

cdef enum:
    ST_WAITING = 0   # dependencies outstanding
    ST_PENDING = 1   # runnable, not yet handed out by ready()
    ST_RUNNING = 2   # handed out, outcome not yet reported
    ST_DONE = 3
    ST_OMITTED = 4
    ST_OUT = 5       # not an ancestor of a target: never runs

cdef enum:
    # npred[] holds the count of unfulfilled dependencies in its low bits and two flags for tasks
    # whose program is a conjunction (FLAG_CONJUNCTION), decided edge by edge so the program never
    # runs (see _propagate). One array, so an edge costs one random memory access, not two.
    NP_COUNT = (1 << 28) - 1
    NP_BARE = 1 << 28    # ... and every predicate is a bare name: the source's bare mask applies
    NP_BAD = 1 << 29     # a fulfilled dependency failed its predicate: the conjunction is false
    NP_CONJ = 1 << 30    # the program is p1 && p2 && ... over distinct dependencies


ctypedef struct TaskRec:
    # Everything an edge or a completion touches for one task, in one 16-byte record, so the
    # sweep pays about one cache miss per successor instead of three (npred, state, outcome).
    int npred            # unfulfilled dependencies (NP_COUNT) + NP_CONJ / NP_BAD
    int res              # outcome bits, 0 while not fulfilled
    int succ_start       # copy of succ_off[t]; succ_off[t + 1] is the next record's
    unsigned char state  # ST_*
    unsigned char bare   # the mask a bare reference to this task accepts (fits: bits 1..32)

cdef enum:
    O_SUCCEEDED = 1
    O_FAILED = 2
    O_ERRORED = 4
    O_SKIPPED = 8
    O_OMITTED = 16
    O_DAEMONED = 32
    O_ANY_SUCCEEDED = 64
    O_ALL_FAILED = 128
    O_PHASES = 31
    O_COMPLETED = 7      # Succeeded | Failed | Errored
    O_GROUP_BITS = 192
    O_ALL = 255

cdef enum:
    F_CONTINUE_FAILED = 1
    F_CONTINUE_ERROR = 2
    F_GROUP = 4
    F_CONJUNCTION = 8
    F_BARE_CONJUNCTION = 16

cdef enum:
    OP_AND = -1
    OP_OR = -2
    OP_NOT = -3

_MESSAGES = (
    None,
    "unknown outcome bits {:#x}",
    "more than one phase bit set",
    "no phase bit set (and not DAEMONED)",
    "ANY_SUCCEEDED/ALL_FAILED set on a task that is not a loop group",
    "ANY_SUCCEEDED and ALL_FAILED are exclusive",
    "ALL_FAILED requires the FAILED phase",
    "OMITTED is decided by the scheduler, not reported",
)


class _SchedulerError(ValueError):
    """Default error class when used without `tiphys.core.dag` (which substitutes its own)."""

    def __init__(self, message, *, task=-1):
        super().__init__(message)
        self.task = task


cdef inline const int* _ints(object arr, str what, Py_ssize_t minimum) except NULL:
    cdef array a
    if not isinstance(arr, array) or (<array>arr).ob_descr.itemsize != 4 or (<array>arr).ob_descr.typecode != b'i':
        raise TypeError(f"CompiledDAG.{what} must be an array('i') of 4-byte ints")
    a = <array>arr
    if len(a) < minimum:
        raise ValueError(f"CompiledDAG.{what} is too short ({len(a)} < {minimum})")
    if len(a) == 0:
        return <const int*>&_EMPTY
    return <const int*>a.data.as_ints


cdef int _EMPTY = 0


cdef inline int _worse(int a, int b) noexcept nogil:
    """The worse of two branch phases: Error > Failed > Succeeded > anything else."""
    if (a | b) & O_ERRORED:
        return O_ERRORED
    if (a | b) & O_FAILED:
        return O_FAILED
    if (a | b) & O_SUCCEEDED:
        return O_SUCCEEDED
    return a if a else b


cdef inline unsigned char _bare_mask(int flags) noexcept nogil:
    """What a bare `task` accepts: Succeeded | Skipped | Daemoned, widened by its continueOn."""
    return (O_SUCCEEDED | O_SKIPPED | O_DAEMONED | (O_FAILED if flags & F_CONTINUE_FAILED else 0)
            | (O_ERRORED if flags & F_CONTINUE_ERROR else 0))
