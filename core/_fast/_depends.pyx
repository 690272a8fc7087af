"""The `depends` parser in Cython: `tiphys.core.dag._parse`'s grammar, errors and programs, in C.

The pure-Python parser (`tiphys.core.dag._parse`, recursive descent over regex tokens) is the
specification and the fallback; this module must give the same tree, the same error message at
the same column and the same program for every text, which tests/core/dag checks with one suite
run over both and a Hypothesis differential test.

One pass over the code points, no regex and no recursion: a two-state machine (expecting an
operand / an operator) with an operator stack — a shunting-yard whose output, postfix, is the
post-order `compile_program` walks, so programs come out in the same word order. The error rules
are the recursive descent's, state by state:

    expecting an operand   end → "expected ... but the expression ended"; `&&` `||` `)` or a
                           stray character → "expected ... but found X"; a name with a bad
                           `.Result` → "unknown result"
    expecting an operator  a name, `!`, `(` or a stray character → "expected ')'" inside
                           parentheses, "unexpected X" outside; `)` outside → "unexpected ')'";
                           end inside parentheses → "unclosed '('"

Two entry points share the parser: `postfix(text)` (atoms as `(name, result)` tuples, operators
as the OP_* ints; `tiphys.core.dag.depends` turns it into a tree) and `compile_text(text, index,
bare)`, which resolves names through the compiler's dict and returns the program with its
dependencies, without building a tree — the compile path of `compile_dag`.

This module sits below `tiphys.core` and may not import it: it raises its own `ParseFault`
(message, 0-based position), which `tiphys.core.dag.depends` turns into `DependsSyntaxError`.
Result names and bits are repeated here; a test compares them with `tiphys.core.dag.outcome`.
"""
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from libc.string cimport strlen


cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index) nogil


cdef enum:
    OP_AND = -1
    OP_OR = -2
    OP_NOT = -3
    OP_LPAREN = -4   # operator stack only

cdef enum:
    T_END = 0
    T_AND = 1
    T_OR = 2
    T_NOT = 3
    T_LPAREN = 4
    T_RPAREN = 5
    T_NAME = 6
    T_BAD = 7

cdef enum:
    E_NONE = 0
    E_EMPTY = 1          # "empty expression"
    E_ENDED = 2          # "expected a task name, '!' or '(' but the expression ended"
    E_RESULT = 3         # "unknown result ..."
    E_FOUND = 4          # "expected a task name, '!' or '(' but found X"
    E_UNEXPECTED = 5     # "unexpected X"
    E_RPAREN = 6         # "expected ')'"
    E_UNCLOSED = 7       # "unclosed '(' (expression ended)"

# `task.<Name>` → bit 1 << position (Argo's TaskResults; tiphys.core.dag.outcome.RESULT_NAMES).
RESULT_NAMES = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
cdef const char* _RESULTS[8]
_RESULTS[:] = [b"Succeeded", b"Failed", b"Errored", b"Skipped", b"Omitted", b"Daemoned", b"AnySucceeded",
               b"AllFailed"]
cdef Py_ssize_t _RESULT_LEN[8]
for _r in range(8):
    _RESULT_LEN[_r] = strlen(_RESULTS[_r])
del _r
_EXPECTED_RESULTS = ", ".join(RESULT_NAMES)

cdef enum:
    SMALL = 64   # postfix items and operator-stack entries live on the C stack up to this many


class ParseFault(ValueError):
    """A syntax error: `message` as the reference parser words it, `pos` 0-based into the text."""

    def __init__(self, message, pos):
        super().__init__(message)
        self.message = message
        self.pos = pos


ctypedef struct Item:
    int op               # 0 for an atom, else OP_AND / OP_OR / OP_NOT
    int result           # atoms: index into _RESULTS, -1 for a bare name
    Py_ssize_t start     # atoms: the name is text[start:end]
    Py_ssize_t end


ctypedef struct Scan:
    int kind             # the str's storage (1, 2 or 4 bytes a code point)
    void* data
    Py_ssize_t n
    Py_ssize_t pos       # next unread code point
    # The current token: its kind and span; for a name, the `.Result` span (rstart = -1 if none).
    int tok
    Py_ssize_t start
    Py_ssize_t end
    Py_ssize_t rstart
    Py_ssize_t rend


cdef inline bint _alnum(Py_UCS4 c) noexcept nogil:
    return (c >= 97 and c <= 122) or (c >= 65 and c <= 90) or (c >= 48 and c <= 57)


cdef inline bint _alpha(Py_UCS4 c) noexcept nogil:
    return (c >= 97 and c <= 122) or (c >= 65 and c <= 90)


cdef void _next(Scan* s) noexcept nogil:
    """Read one token, exactly as the reference's regex does: blanks are ` \\t\\r\\n`; a name is
    `[a-zA-Z0-9][-a-zA-Z0-9]*` and takes a following `.` with `[A-Za-z]*` as its result; any other
    single character is a stray token (an error wherever the parser meets it)."""
    cdef Py_ssize_t i = s.pos, n = s.n
    cdef Py_UCS4 c
    while i < n:
        c = PyUnicode_READ(s.kind, s.data, i)
        if c != 32 and c != 9 and c != 13 and c != 10:
            break
        i += 1
    s.start = i
    s.rstart = -1
    if i == n:
        s.tok = T_END
        s.pos = i
        return
    c = PyUnicode_READ(s.kind, s.data, i)
    if c == 38 or c == 124:  # '&' '|': doubled is an operator, single is stray
        if i + 1 < n and PyUnicode_READ(s.kind, s.data, i + 1) == c:
            s.tok = T_AND if c == 38 else T_OR
            s.pos = i + 2
        else:
            s.tok = T_BAD
            s.pos = i + 1
        return
    if c == 33 or c == 40 or c == 41:  # '!' '(' ')'
        s.tok = T_NOT if c == 33 else (T_LPAREN if c == 40 else T_RPAREN)
        s.pos = i + 1
        return
    if not _alnum(c):
        s.tok = T_BAD
        s.pos = i + 1
        return
    i += 1
    while i < n:
        c = PyUnicode_READ(s.kind, s.data, i)
        if not (_alnum(c) or c == 45):
            break
        i += 1
    s.tok = T_NAME
    s.end = i
    if i < n and PyUnicode_READ(s.kind, s.data, i) == 46:  # '.Result', possibly empty
        i += 1
        s.rstart = i
        while i < n and _alpha(PyUnicode_READ(s.kind, s.data, i)):
            i += 1
        s.rend = i
    s.pos = i


cdef int _result_code(Scan* s) noexcept nogil:
    """Index of the current name's result in _RESULTS; -1 when bare; -2 when unknown."""
    cdef int r, k
    cdef Py_ssize_t length
    if s.rstart < 0:
        return -1
    length = s.rend - s.rstart
    for r in range(8):
        if _RESULT_LEN[r] != length:
            continue
        for k in range(length):
            if PyUnicode_READ(s.kind, s.data, s.rstart + k) != <Py_UCS4>_RESULTS[r][k]:
                break
        else:
            return r
    return -2


cdef Py_ssize_t _parse(Scan* s, Item* items, int* ops, int* err, Py_ssize_t* err_pos) noexcept nogil:
    """Fill `items` with the postfix form; return their count, or -1 with `err`/`err_pos` set.
    `items` and `ops` hold at least one entry per code point (a token is at least one)."""
    cdef Py_ssize_t nitems = 0, nops = 0, parens = 0
    cdef bint operand = True    # expecting an operand (a name, '!' or '(')
    cdef int r
    _next(s)
    if s.tok == T_END:
        err[0], err_pos[0] = E_EMPTY, s.n
        return -1
    while True:
        if operand:
            if s.tok == T_NAME:
                r = _result_code(s)
                if r == -2:
                    err[0], err_pos[0] = E_RESULT, s.rstart
                    return -1
                items[nitems].op, items[nitems].result = 0, r
                items[nitems].start, items[nitems].end = s.start, s.end
                nitems += 1
                # An operand is complete: the '!'s in front of it apply now (they bind tightest).
                while nops and ops[nops - 1] == OP_NOT:
                    nops -= 1
                    items[nitems].op = OP_NOT
                    nitems += 1
                operand = False
            elif s.tok == T_NOT:
                ops[nops] = OP_NOT
                nops += 1
            elif s.tok == T_LPAREN:
                ops[nops] = OP_LPAREN
                nops += 1
                parens += 1
            elif s.tok == T_END:
                err[0], err_pos[0] = E_ENDED, s.n
                return -1
            else:
                err[0], err_pos[0] = E_FOUND, s.start
                return -1
        elif s.tok == T_AND or s.tok == T_OR:
            # Left-associative: pop what binds at least as tightly ('&&' only pops '&&').
            while nops and (ops[nops - 1] == OP_AND or (s.tok == T_OR and ops[nops - 1] == OP_OR)):
                nops -= 1
                items[nitems].op = ops[nops]
                nitems += 1
            ops[nops] = OP_AND if s.tok == T_AND else OP_OR
            nops += 1
            operand = True
        elif s.tok == T_RPAREN and parens:
            while ops[nops - 1] != OP_LPAREN:
                nops -= 1
                items[nitems].op = ops[nops]
                nitems += 1
            nops -= 1
            parens -= 1
            while nops and ops[nops - 1] == OP_NOT:
                nops -= 1
                items[nitems].op = OP_NOT
                nitems += 1
        elif s.tok == T_END:
            if parens:
                err[0], err_pos[0] = E_UNCLOSED, s.n
                return -1
            break
        else:
            err[0], err_pos[0] = (E_RPAREN if parens else E_UNEXPECTED), s.start
            return -1
        _next(s)
    while nops:
        nops -= 1
        items[nitems].op = ops[nops]
        nitems += 1
    return nitems


cdef object _fault(str text, int err, Py_ssize_t pos, Py_ssize_t rend):
    """The ParseFault for error `err`, worded as the reference parser words it."""
    if err == E_EMPTY:
        message = "empty expression"
    elif err == E_ENDED:
        message = "expected a task name, '!' or '(' but the expression ended"
    elif err == E_RESULT:
        message = f"unknown result {text[pos:rend]!r} (expected one of {_EXPECTED_RESULTS})"
    elif err == E_FOUND:
        message = f"expected a task name, '!' or '(' but found {text[pos]!r}"
    elif err == E_UNEXPECTED:
        message = f"unexpected {text[pos]!r}"
    elif err == E_RPAREN:
        message = "expected ')'"
    else:
        message = "unclosed '(' (expression ended)"
    return ParseFault(message, pos)


cdef Py_ssize_t _run(str text, Item** items, int** ops) except -1:
    """Parse `text` into items[0] (postfix; count returned); raise ParseFault on a syntax error.
    items[0] and ops[0] come in pointing at SMALL-entry buffers on the caller's C stack; a longer
    text gets heap buffers instead, which the caller frees when they are not its own."""
    cdef Scan s
    cdef int err = E_NONE
    cdef Py_ssize_t pos = 0, count
    s.kind = PyUnicode_KIND(text)
    s.data = PyUnicode_DATA(text)
    s.n = len(text)
    s.pos = 0
    if s.n > SMALL:
        items[0] = <Item*>PyMem_Malloc(s.n * sizeof(Item))
        ops[0] = <int*>PyMem_Malloc(s.n * sizeof(int))
        if items[0] == NULL or ops[0] == NULL:
            raise MemoryError()
    count = _parse(&s, items[0], ops[0], &err, &pos)
    if count < 0:
        raise _fault(text, err, pos, s.rend)
    return count


def postfix(str text, /):
    """The postfix form of `text`: `(name, result or None)` for an atom, OP_AND/OP_OR/OP_NOT for
    an operator. Raises ParseFault."""
    cdef Item small_items[SMALL]
    cdef int small_ops[SMALL]
    cdef Item* items = small_items
    cdef int* ops = small_ops
    cdef Item* it
    cdef Py_ssize_t count, k
    cdef list out = []
    try:
        count = _run(text, &items, &ops)
        for k in range(count):
            it = &items[k]
            if it.op:
                out.append(it.op)
            else:
                out.append((text[it.start:it.end], RESULT_NAMES[it.result] if it.result >= 0 else None))
    finally:
        if items != small_items:
            PyMem_Free(items)
        if ops != small_ops:
            PyMem_Free(ops)
    return out


include "_depends_compile.pxi"
