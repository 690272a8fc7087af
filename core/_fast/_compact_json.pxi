# The shape-text writer of `_compact` (included): a node's remaining fields as JSON, with its
# string holes cut out, byte for byte as the reference writes them (see `_compact_write.pxi`).
# Functions of a RowWriter, kept apart from it for size.


cdef int json_value(RowWriter self, object v) except -1:
    """Append one JSON value as msgspec writes it: strings, literals, ints, lists, str-keyed
    dicts and walkable Structs here, anything else (floats, tagged Structs...) by msgspec."""
    cdef bytes chunk
    cdef StructInfo info
    cdef Py_ssize_t i, k
    cdef PyObject* f
    cdef bint first
    cdef long long x
    cdef int overflow
    cdef char digits[24]
    if type(v) is str:
        if buf_json_str(&self.text, <str>v):
            self.nul = True
        return 0
    if v is None:
        buf_put(&self.text, b"null", 4)
        return 0
    if v is True:
        buf_put(&self.text, b"true", 4)
        return 0
    if v is False:
        buf_put(&self.text, b"false", 5)
        return 0
    if type(v) is int:
        x = PyLong_AsLongLongAndOverflow(v, &overflow)
        if not overflow:
            k = 24
            neg = x < 0
            ux = <unsigned long long>(-x) if neg else <unsigned long long>x
            while True:
                k -= 1
                digits[k] = <char>(48 + ux % 10)
                ux //= 10
                if ux == 0:
                    break
            if neg:
                k -= 1
                digits[k] = b'-'
            buf_put(&self.text, digits + k, 24 - k)
            return 0
    elif type(v) is list:
        buf_byte(&self.text, b'[')
        for i in range(len(<list>v)):
            if i:
                buf_byte(&self.text, b',')
            json_value(self, (<list>v)[i])
        buf_byte(&self.text, b']')
        return 0
    elif type(v) is dict:
        for key in <dict>v:
            if type(key) is not str:
                break
        else:
            buf_byte(&self.text, b'{')
            first = True
            for key, item in (<dict>v).items():
                if not first:
                    buf_byte(&self.text, b',')
                first = False
                if buf_json_str(&self.text, <str>key):
                    self.nul = True
                buf_byte(&self.text, b':')
                json_value(self, item)
            buf_byte(&self.text, b'}')
            return 0
    else:
        info = self.info_of(v)
        if info is not None and info.supported:
            buf_byte(&self.text, b'{')
            first = True
            for i in range(info.n):
                f = info.get(v, i)
                if f == NULL:
                    break  # unset: msgspec says what it thinks of that
                if info.skipped(f, i):
                    continue
                if not first:
                    buf_byte(&self.text, b',')
                first = False
                buf_bytes(&self.text, <bytes>info.keys[i])
                json_value(self, <object>f)
            else:
                buf_byte(&self.text, b'}')
                return 0
            raise ValueError("a Struct with an unset field")
    chunk = self.encoder.encode(v)
    if memchr(PyBytes_AS_STRING(chunk), 92, PyBytes_GET_SIZE(chunk)) != NULL:  # a backslash
        self.nul = True
    buf_bytes(&self.text, chunk)
    return 0

cdef int json_io(RowWriter self, object io, bint outputs) except -1:
    """An `inputs`/`outputs` Struct with its parameter values (and `result`) cut out as holes.
    Returns 1 when the reference must handle the node."""
    cdef StructInfo info = self.info_of(io)
    cdef StructInfo pinfo
    cdef Py_ssize_t i, j, k
    cdef PyObject* v
    cdef PyObject* pv
    cdef bint first = True, pfirst
    cdef list params
    if not info.supported:
        return 1
    buf_byte(&self.text, b'{')
    for i in range(info.n):
        v = info.get(io, i)
        if v == NULL:
            return 1
        if info.skipped(v, i):
            continue
        if not first:
            buf_byte(&self.text, b',')
        first = False
        buf_bytes(&self.text, <bytes>info.keys[i])
        if i == info.i_parameters and <object>v is not None:
            if type(<object>v) is not list:
                return 1
            params = <list>v
            buf_byte(&self.text, b'[')
            for j in range(len(params)):
                if j:
                    buf_byte(&self.text, b',')
                p = params[j]
                pinfo = self.info_of(p)
                if pinfo is None:
                    if type(p) not in _SCALARS:
                        return 1  # a dict, or what the builtins conversion makes one
                    json_value(self, p)
                    continue
                if not pinfo.supported:
                    return 1
                buf_byte(&self.text, b'{')
                pfirst = True
                for k in range(pinfo.n):
                    pv = pinfo.get(p, k)
                    if pv == NULL:
                        return 1
                    if pinfo.skipped(pv, k):
                        continue
                    if not pfirst:
                        buf_byte(&self.text, b',')
                    pfirst = False
                    buf_bytes(&self.text, <bytes>pinfo.keys[k])
                    if k == pinfo.i_value and isinstance(<object>pv, str):
                        if type(<object>pv) is not str:
                            return 1
                        self.holes.append(<object>pv)
                        buf_put(&self.text, HOLE_JSON, HOLE_JSON_LEN)
                    else:
                        json_value(self, <object>pv)
                buf_byte(&self.text, b'}')
            buf_byte(&self.text, b']')
        elif outputs and i == info.i_result and isinstance(<object>v, str):
            if type(<object>v) is not str:
                return 1
            self.holes.append(<object>v)
            buf_put(&self.text, HOLE_JSON, HOLE_JSON_LEN)
        else:
            json_value(self, <object>v)
    buf_byte(&self.text, b'}')
    return 0
