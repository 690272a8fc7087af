# Growable C int arrays of `_compact` (included), and the msgpack writer of its int columns.


cdef struct Ints:
    int* data
    Py_ssize_t len
    Py_ssize_t cap


cdef int ints_push(Ints* a, int v) except -1:
    cdef int* grown
    if a.len == a.cap:
        a.cap = a.cap * 2 + 16
        grown = <int*>PyMem_Realloc(a.data, a.cap * sizeof(int))
        if grown == NULL:
            raise MemoryError()
        a.data = grown
    a.data[a.len] = v
    a.len += 1
    return 0


cdef struct Longs:
    long long* data
    Py_ssize_t len
    Py_ssize_t cap


cdef inline int longs_push(Longs* a, long long v) except -1:
    cdef long long* grown
    if a.len == a.cap:
        a.cap = a.cap * 2 + 64
        grown = <long long*>PyMem_Realloc(a.data, a.cap * sizeof(long long))
        if grown == NULL:
            raise MemoryError()
        a.data = grown
    a.data[a.len] = v
    a.len += 1
    return 0


cdef inline void be(unsigned char* out, unsigned long long v, int n) noexcept:
    cdef int k
    for k in range(n):
        out[k] = (v >> (8 * (n - 1 - k))) & 255


cdef bytes msgpack_ints(Longs* a):
    """The msgpack array of `a`, byte for byte as msgspec writes a list of ints (smallest form:
    fixint, uint8/16/32/64 for non-negatives, int8/16/32/64 below -32)."""
    cdef Py_ssize_t i, n = a.len, at = 0
    cdef long long x
    cdef unsigned char* out = <unsigned char*>PyMem_Malloc(9 * n + 5)
    if out == NULL:
        raise MemoryError()
    try:
        if n < 16:
            out[0] = 0x90 | n
            at = 1
        elif n < 65536:
            out[0] = 0xdc
            be(out + 1, n, 2)
            at = 3
        else:
            out[0] = 0xdd
            be(out + 1, n, 4)
            at = 5
        for i in range(n):
            x = a.data[i]
            if x >= 0:
                if x < 128:
                    out[at] = <unsigned char>x
                    at += 1
                elif x < 256:
                    out[at] = 0xcc
                    out[at + 1] = <unsigned char>x
                    at += 2
                elif x < 65536:
                    out[at] = 0xcd
                    be(out + at + 1, x, 2)
                    at += 3
                elif x < 4294967296:
                    out[at] = 0xce
                    be(out + at + 1, x, 4)
                    at += 5
                else:
                    out[at] = 0xcf
                    be(out + at + 1, x, 8)
                    at += 9
            elif x >= -32:
                out[at] = <unsigned char>(x & 255)
                at += 1
            elif x >= -128:
                out[at] = 0xd0
                out[at + 1] = <unsigned char>(x & 255)
                at += 2
            elif x >= -32768:
                out[at] = 0xd1
                be(out + at + 1, <unsigned long long>x, 2)
                at += 3
            elif x >= -2147483648:
                out[at] = 0xd2
                be(out + at + 1, <unsigned long long>x, 4)
                at += 5
            else:
                out[at] = 0xd3
                be(out + at + 1, <unsigned long long>x, 8)
                at += 9
        return PyBytes_FromStringAndSize(<char*>out, at)
    finally:
        PyMem_Free(out)


def _msgpack_ints(list values):
    """`msgpack_ints` of a list (for the tests: byte-equal to msgspec's encoding)."""
    cdef Longs a
    a.data = NULL
    a.len = a.cap = 0
    try:
        for v in values:
            longs_push(&a, v)
        return msgpack_ints(&a)
    finally:
        PyMem_Free(a.data)
