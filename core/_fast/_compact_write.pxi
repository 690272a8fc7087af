# The byte buffer, the JSON string escaper and the Struct field reader of `_compact` (included).
#
# A shape text must be byte-identical to what the reference writes: msgspec's JSON encoding of
# the node's builtins (`msgspec.to_builtins`, then `msgspec.json.Encoder().encode`). Strings are
# escaped here exactly as msgspec escapes them (`"`, `\`, the five short escapes, other control
# characters as lowercase `\u00XX`; DEL and non-ASCII raw); every other value is handed to the
# msgspec encoder the caller passes in, so ints, floats, nested Structs, lists and dicts come out
# as msgspec writes them.

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)
    object PyBytes_FromStringAndSize(const char* data, Py_ssize_t size)
    char* PyBytes_AS_STRING(object b)
    bint PyUnicode_IS_ASCII(object text)
    long long PyLong_AsLongLongAndOverflow(object v, int* overflow) except? -1
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyBytes_GET_SIZE(object b)

cdef extern from "string.h":
    void* memmem(const void* haystack, size_t hlen, const void* needle, size_t nlen) nogil
    void* memchr(const void* s, int c, size_t n) nogil
    int memcmp(const void* a, const void* b, size_t n) nogil

cdef enum:
    T_OBJECT = 6
    T_OBJECT_EX = 16


cdef struct Buf:
    char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef int buf_init(Buf* b, Py_ssize_t cap) except -1:
    b.data = <char*>PyMem_Malloc(cap)
    if b.data == NULL:
        raise MemoryError()
    b.len = 0
    b.cap = cap
    return 0


cdef inline int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t want = b.len + extra
    cdef Py_ssize_t cap
    cdef char* grown
    if want <= b.cap:
        return 0
    cap = b.cap * 2
    if cap < want:
        cap = want
    grown = <char*>PyMem_Realloc(b.data, cap)
    if grown == NULL:
        raise MemoryError()
    b.data = grown
    b.cap = cap
    return 0


cdef inline int buf_put(Buf* b, const char* data, Py_ssize_t n) except -1:
    buf_reserve(b, n)
    memcpy(b.data + b.len, data, n)
    b.len += n
    return 0


cdef inline int buf_byte(Buf* b, char c) except -1:
    buf_reserve(b, 1)
    b.data[b.len] = c
    b.len += 1
    return 0


cdef inline int buf_bytes(Buf* b, bytes data) except -1:
    return buf_put(b, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef const char* HEX = b"0123456789abcdef"


cdef int buf_json_str(Buf* b, str text) except -1:
    """Append `text` as a JSON string, escaped as msgspec escapes it; 1 if it held a NUL."""
    cdef Py_ssize_t n, i, run
    cdef int nul = 0
    cdef const char* s = PyUnicode_AsUTF8AndSize(text, &n)
    cdef unsigned char c
    buf_reserve(b, n + 2)
    b.data[b.len] = b'"'
    b.len += 1
    run = 0  # start of the pending run of bytes that need no escape
    for i in range(n):
        c = <unsigned char>s[i]
        if c >= 0x20 and c != b'"' and c != b'\\':
            continue
        buf_put(b, s + run, i - run)
        run = i + 1
        if c == b'"':
            buf_put(b, b'\\"', 2)
        elif c == b'\\':
            buf_put(b, b'\\\\', 2)
        elif c == b'\n':
            buf_put(b, b'\\n', 2)
        elif c == b'\r':
            buf_put(b, b'\\r', 2)
        elif c == b'\t':
            buf_put(b, b'\\t', 2)
        elif c == 8:
            buf_put(b, b'\\b', 2)
        elif c == 12:
            buf_put(b, b'\\f', 2)
        else:
            nul |= c == 0
            buf_put(b, b'\\u00', 4)
            buf_byte(b, HEX[c >> 4])
            buf_byte(b, HEX[c & 15])
    buf_put(b, s + run, n - run)
    buf_byte(b, b'"')
    return nul


cdef Py_ssize_t count_of(const char* hay, Py_ssize_t n, const char* needle, Py_ssize_t m) noexcept:
    """Non-overlapping occurrences of `needle` (as `str.count`)."""
    cdef Py_ssize_t count = 0
    cdef const char* p = hay
    cdef const char* end = hay + n
    cdef const char* hit
    if m == 0:
        return n + 1
    while p < end:
        hit = <const char*>memmem(p, end - p, needle, m)
        if hit == NULL:
            break
        count += 1
        p = hit + m
    return count


cdef const char* find(const char* hay, Py_ssize_t n, const char* needle, Py_ssize_t m) noexcept:
    """First `needle` in `hay` (memchr on its first byte: needles here start with a rare byte)."""
    cdef const char* p = hay
    cdef const char* end = hay + n - m + 1
    if m == 0:
        return hay
    while p < end:
        p = <const char*>memchr(p, needle[0], end - p)
        if p == NULL:
            return NULL
        if memcmp(p, needle, m) == 0:
            return p
        p += 1
    return NULL


# Bytes by how common they are in shape JSON, most common first: a needle is searched for by
# its rarest byte (memchr), then compared whole.
cdef bytes _COMMON = b'"e:,ast{}oiTrnplcdumSPgNyf1/0-hk.bwFv2R3x_4q5'


cdef Py_ssize_t rare_at(bytes needle):
    """Index of the byte of `needle` least common in shape JSON (see `_COMMON`)."""
    cdef Py_ssize_t best = 0, rank, best_rank = -1, k
    for k in range(len(needle)):
        rank = _COMMON.find(needle[k:k + 1])
        rank = 1000 if rank < 0 else rank
        if rank > best_rank:
            best, best_rank = k, rank
    return best


cdef const char* find_at(const char* hay, Py_ssize_t n, const char* needle, Py_ssize_t m, Py_ssize_t j) noexcept:
    """First `needle` in `hay`, found through its byte at index `j` (memchr, then memcmp)."""
    cdef const char* p = hay + j
    cdef const char* end = hay + n - m + j + 1
    while p < end:
        p = <const char*>memchr(p, needle[j], end - p)
        if p == NULL:
            return NULL
        if memcmp(p - j, needle, m) == 0:
            return p - j
        p += 1
    return NULL


cdef int replace_at(Buf* out, const char* src, Py_ssize_t n, const char* old, Py_ssize_t m, Py_ssize_t j,
                    const char* new, Py_ssize_t k) except -1:
    """`replace_into`, searching through byte `j` of `old` (see `find_at`)."""
    cdef const char* p = src
    cdef const char* end = src + n
    cdef const char* hit
    out.len = 0
    while p < end:
        hit = find_at(p, end - p, old, m, j)
        if hit == NULL:
            break
        buf_put(out, p, hit - p)
        buf_put(out, new, k)
        p = hit + m
    buf_put(out, p, end - p)
    return 0


cdef int replace_into(Buf* out, const char* src, Py_ssize_t n, const char* old, Py_ssize_t m,
                      const char* new, Py_ssize_t k) except -1:
    """`out` = src with every non-overlapping `old` replaced by `new`, left to right (`str.replace`)."""
    cdef const char* p = src
    cdef const char* end = src + n
    cdef const char* hit
    out.len = 0
    while p < end:
        hit = <const char*>memmem(p, end - p, old, m)
        if hit == NULL:
            break
        buf_put(out, p, hit - p)
        buf_put(out, new, k)
        p = hit + m
    buf_put(out, p, end - p)
    return 0


cdef class StructInfo:
    """Where a msgspec Struct type keeps its fields, and how its JSON names them.

    `supported` is False for what the writer does not reproduce itself (array_like or tagged
    Structs, defaults other than None, fields that are not plain slots): such values are left to
    the reference implementation.
    """

    cdef readonly bint supported
    cdef bint omit                  # omit_defaults: a None field (default None) is left out
    cdef Py_ssize_t n
    cdef Py_ssize_t first_default   # fields from here on have a default (None)
    cdef Py_ssize_t* offsets
    cdef list keys                  # per field: b'"jsonName":'
    cdef dict index                 # JSON name -> field position
    # Positions of the fields the compact rules single out (-1: the type has no such field).
    cdef Py_ssize_t i_id, i_name, i_display, i_boundary, i_children, i_outbound
    cdef Py_ssize_t i_started, i_finished, i_host, i_res, i_inputs, i_outputs
    cdef Py_ssize_t i_parameters, i_result, i_value

    def __cinit__(self):
        self.offsets = NULL

    def __dealloc__(self):
        PyMem_Free(self.offsets)

    def __init__(self, cls):
        cdef Py_ssize_t i
        cdef object descr
        cdef Buf key
        self.supported = False
        self.keys = []
        self.index = {}
        config = getattr(cls, "__struct_config__", None)
        if config is None or config.array_like or config.tag is not None:
            return
        fields = cls.__struct_fields__
        names = cls.__struct_encode_fields__
        defaults = cls.__struct_defaults__
        if any(d is not None for d in defaults):
            return
        self.n = len(fields)
        self.first_default = self.n - len(defaults)
        self.omit = config.omit_defaults
        self.offsets = <Py_ssize_t*>PyMem_Malloc(max(self.n, 1) * sizeof(Py_ssize_t))
        if self.offsets == NULL:
            raise MemoryError()
        for i in range(self.n):
            descr = getattr(cls, fields[i], None)
            if type(descr) is not _MemberDescriptor:
                return
            member = (<PyMemberDescrObject*>descr).d_member
            if member.type != T_OBJECT_EX and member.type != T_OBJECT:
                return
            self.offsets[i] = member.offset
            buf_init(&key, 32)
            try:
                buf_json_str(&key, names[i])
                buf_byte(&key, b':')
                self.keys.append(PyBytes_FromStringAndSize(key.data, key.len))
            finally:
                PyMem_Free(key.data)
            self.index[names[i]] = i
            if b"\\" in self.keys[i]:
                return  # a key with escapes could spell a hole; the reference counts holes in the text
        self.i_id, self.i_name, self.i_display = self.at("id"), self.at("name"), self.at("displayName")
        self.i_boundary, self.i_children = self.at("boundaryID"), self.at("children")
        self.i_outbound, self.i_started = self.at("outboundNodes"), self.at("startedAt")
        self.i_finished, self.i_host = self.at("finishedAt"), self.at("hostNodeName")
        self.i_res, self.i_inputs, self.i_outputs = self.at("resourcesDuration"), self.at("inputs"), self.at("outputs")
        self.i_parameters, self.i_result, self.i_value = self.at("parameters"), self.at("result"), self.at("value")
        self.supported = True

    cdef Py_ssize_t at(self, str json_name) except? -2:
        cdef object i = self.index.get(json_name)
        return -1 if i is None else <Py_ssize_t>i

    cdef inline PyObject* get(self, object obj, Py_ssize_t i) noexcept:
        """Field `i` of `obj` (borrowed; NULL when unset), read straight from its slot."""
        return (<PyObject**>((<char*><PyObject*>obj) + self.offsets[i]))[0]

    cdef inline bint skipped(self, PyObject* value, Py_ssize_t i) noexcept:
        """Left out of the JSON: unset, msgspec.UNSET, or None where omit_defaults leaves
        defaults out."""
        return (value == NULL or value == <PyObject*>_UNSET
                or (<object>value is None and self.omit and i >= self.first_default))
