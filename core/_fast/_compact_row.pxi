# The per-node row record of `_compact` (included).


@cython.final
cdef class Row:
    """A node's row (`_compact_encode._Row`) with its numbers as C fields: placement reads them
    without touching an int object per field (rows are placed in another order than they were
    built, so every object touched there is a likely cache miss)."""

    cdef object name
    cdef int flags
    cdef unsigned int hash          # valid when has_hash
    cdef bint has_hash
    cdef object other_id
    cdef object boundary, shown, children, outbound
    cdef long long started, finished  # valid with F_STARTED / F_FINISHED
    cdef object host
    cdef tuple rkeys, rvals
    cdef object strings             # list, or None for no holes
    cdef str text
    cdef Py_ssize_t holes

    @property
    def digits(self):
        """The ID's hash as written in it (the reference's `digits`): canonical decimal."""
        return str(self.hash) if self.has_hash else None

    def as_tuple(self):
        """The reference's row tuple (for tests)."""
        return (self.name, self.flags, self.hash if self.has_hash else None, self.other_id, self.digits,
                (self.boundary, self.shown, self.children, self.outbound),
                self.started if self.flags & F_STARTED else None, self.finished if self.flags & F_FINISHED else None,
                self.host, self.rkeys, self.rvals, self.strings, self.text, self.holes)


cdef Row row_of(object t):
    """A Row from the reference's row tuple (a node the extension left to `_row`)."""
    cdef Row r = Row.__new__(Row)
    cdef object refs = t[5]
    r.name, r.flags, r.other_id = t[0], t[1], t[3]
    r.has_hash = t[2] is not None
    r.hash = t[2] if r.has_hash else 0
    r.boundary, r.shown, r.children, r.outbound = refs
    r.started = t[6] if t[6] is not None else 0
    r.finished = t[7] if t[7] is not None else 0
    r.host, r.rkeys, r.rvals, r.strings, r.text, r.holes = t[8], t[9], t[10], t[11], t[12], t[13]
    return r
