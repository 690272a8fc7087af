# Per-node rows of `_compact` (included): `tiphys.core.status._compact_encode._row`, read
# straight from the node Struct's slots instead of from `msgspec.to_builtins` of it.
#
# The reference sees the node as builtins; this reads the Struct. The two agree wherever the
# value has the type the Struct field declares (exact str, list, dict, int). Anything else that
# the builtins conversion would change — a str or int subclass, a tuple for a list, a dict node,
# a Struct type this module cannot walk, an unset slot — makes `RowWriter.row` return FALLBACK, and
# the caller asks the reference for that node's row, so both always write the same bytes.

cdef object FALLBACK = object()
cdef object _RES_BOUND = 1 << 62  # `_compact_encode._RES_BOUND`
# Values the builtins conversion leaves as they are (and msgspec writes as JSON scalars).
cdef frozenset _SCALARS = frozenset({str, int, float, bool, type(None)})


cdef class RowWriter:
    """One encode's context: workflow name, marker bytes, buffers, the Struct layouts met."""

    cdef str workflow
    cdef str prefix                 # workflow + "-"
    cdef Py_ssize_t prefix_bytes    # its UTF-8 length
    cdef tuple last_rkeys           # the previous node's resource keys (usually the same: shared)
    cdef bytes wf_json              # the workflow name JSON-escaped, UTF-8
    cdef Py_ssize_t wf_rare         # the index of its rarest byte (see `find_at`)
    cdef object absent              # the reference's marker for a field the node does not have
    cdef object encoder             # msgspec.json.Encoder(): every value not written here
    cdef dict infos                 # Struct type -> StructInfo
    cdef Buf text
    cdef Buf swap
    cdef list holes
    cdef bint nul                   # the text may spell a hole (a NUL was escaped somewhere)
    cdef dict texts                 # hash of a shape text's bytes -> that text as a str, shared

    def __cinit__(self):
        self.text.data = NULL
        self.swap.data = NULL

    def __dealloc__(self):
        PyMem_Free(self.text.data)
        PyMem_Free(self.swap.data)

    def __init__(self, str workflow, str wf_json, object absent, object encoder, dict infos):
        self.workflow = workflow
        self.prefix = workflow + "-"
        self.prefix_bytes = len(self.prefix.encode())
        self.last_rkeys = ()
        self.wf_json = wf_json.encode()
        self.wf_rare = rare_at(self.wf_json)
        self.absent = absent
        self.encoder = encoder
        self.infos = infos
        self.texts = {}
        buf_init(&self.text, 1024)
        buf_init(&self.swap, 1024)

    cdef StructInfo info_of(self, object value):
        """The layout of `value`'s Struct type, or None when it is not a Struct."""
        cdef object cls = type(value)
        cdef PyObject* hit = PyDict_GetItem(self.infos, cls)
        if hit != NULL:
            return <StructInfo><object>hit if <object>hit is not None else None
        info = StructInfo(cls) if hasattr(cls, "__struct_fields__") else None
        self.infos[cls] = info
        return info

    cdef object row(self, str key, object node):
        """The reference's `_row(key, to_builtins(node), ...)`, or FALLBACK."""
        cdef StructInfo info
        cdef PyObject* v
        cdef Py_ssize_t i, k, n
        cdef int flags = 0
        cdef bint first = True
        cdef object name = None, node_id, hash_ = None, other = None
        cdef const char* dptr = NULL    # the ID's digits (UTF-8), when F_ID with a hash
        cdef Py_ssize_t dlen = 0
        cdef object host = None, rkeys = (), rvals = ()
        cdef object boundary, shown, children, outbound, res
        cdef unsigned long long h = 0
        cdef long long st = 0, fi = 0
        cdef const char* s
        cdef Py_ssize_t slen
        cdef list packed
        info = self.info_of(node)
        if info is None or not info.supported or info.i_id < 0:
            return FALLBACK
        for i in range(info.n):
            if info.get(node, i) == NULL:
                return FALLBACK
        # name and id: always out of the text (a name that is not a clean str: the reference).
        if info.i_name >= 0:
            v = info.get(node, info.i_name)
            if <object>v is not None:
                if type(<object>v) is not str or "\x00" in <str>v:
                    return FALLBACK
                name = <object>v
                flags |= F_NAME
        node_id = <object>info.get(node, info.i_id)
        if type(node_id) is not str or node_id != key:
            return FALLBACK  # the reference raises the caller's error
        if name is not None and name == self.workflow:
            if node_id == name:
                flags |= F_ID
        elif (<str>node_id).startswith(self.prefix):
            s = PyUnicode_AsUTF8AndSize(node_id, &slen)
            s += self.prefix_bytes
            slen -= self.prefix_bytes
            if 0 < slen <= 10 and (s[0] != b'0' or slen == 1):
                h = 0
                for k in range(slen):
                    if not (b'0' <= s[k] <= b'9'):
                        h = 1 << 40
                        break
                    h = h * 10 + <unsigned long long>(s[k] - 48)
                if h <= 0xFFFFFFFF:
                    flags |= F_ID
                    hash_ = True
                    dptr, dlen = s, slen
        if not flags & F_ID:
            other = node_id
        boundary = self.ref(info, node, info.i_boundary, False)
        shown = self.ref(info, node, info.i_display, False)
        children = self.ref(info, node, info.i_children, True)
        outbound = self.ref(info, node, info.i_outbound, True)
        if boundary is FALLBACK or shown is FALLBACK or children is FALLBACK or outbound is FALLBACK:
            return FALLBACK
        if info.i_started >= 0:
            k = epoch_c(<object>info.get(node, info.i_started), &st)
            if k < 0:
                return FALLBACK
            if k:
                flags |= F_STARTED
        if info.i_finished >= 0:
            k = epoch_c(<object>info.get(node, info.i_finished), &fi)
            if k < 0:
                return FALLBACK
            if k:
                flags |= F_FINISHED
        if info.i_host >= 0:
            v = info.get(node, info.i_host)
            if type(<object>v) is str and "\x00" not in <str>v:
                host = <object>v
                flags |= F_HOST
            elif isinstance(<object>v, str):
                return FALLBACK
        if info.i_res >= 0:
            res = <object>info.get(node, info.i_res)
            if res is not None:
                if type(res) is not dict:
                    return FALLBACK
                fits = True
                for rk, rv in (<dict>res).items():
                    if type(rk) is not str or type(rv) is not int:
                        return FALLBACK
                    # Doubled in an int64 column (2v or 2q+1): beyond ±2^62 the dict stays in
                    # the shape, as in `_compact_encode._row`.
                    if not -_RES_BOUND <= rv < _RES_BOUND:
                        fits = False
                if res and fits:
                    flags |= F_RESOURCES
                    rkeys = self.last_rkeys
                    if len(<tuple>rkeys) == len(<dict>res):
                        k = 0
                        for rk in <dict>res:
                            if (<tuple>rkeys)[k] != rk:
                                rkeys = None
                                break
                            k += 1
                    else:
                        rkeys = None
                    if rkeys is None:
                        rkeys = self.last_rkeys = tuple(res)
                    rvals = tuple((<dict>res).values())
        # The shape text: every field the rules above did not take, in field order.
        self.text.len = 0
        self.holes = []
        self.nul = False
        buf_byte(&self.text, b'{')
        for i in range(info.n):
            if (i == info.i_id or i == info.i_name or i == info.i_boundary or i == info.i_display
                    or i == info.i_children or i == info.i_outbound
                    or (i == info.i_started and flags & F_STARTED)
                    or (i == info.i_finished and flags & F_FINISHED)
                    or (i == info.i_host and flags & F_HOST)
                    or (i == info.i_res and flags & F_RESOURCES)):
                continue
            v = info.get(node, i)
            if info.skipped(v, i):
                continue
            if not first:
                buf_byte(&self.text, b',')
            first = False
            buf_bytes(&self.text, <bytes>info.keys[i])
            if (i == info.i_inputs or i == info.i_outputs) and <object>v is not None:
                if self.info_of(<object>v) is not None:
                    if json_io(self, <object>v, i == info.i_outputs):
                        return FALLBACK
                    continue
                if type(<object>v) is not list and type(<object>v) not in _SCALARS:
                    return FALLBACK  # a dict, or what the builtins conversion makes one
            json_value(self, <object>v)
        n = len(self.holes)
        if first:
            text = ""
        else:
            buf_byte(&self.text, b'}')
            if n and self.nul and count_of(self.text.data, self.text.len, HOLE_JSON, HOLE_JSON_LEN) != n:
                return FALLBACK  # another value spells a hole: the reference keeps strings in the shape
            text = self.markers(dptr, dlen)
        packed = [] if n else None
        for k in range(n):
            sv = self.holes[k]
            for i in range(k):
                if self.holes[i] == sv:
                    packed.append(i)
                    break
            else:
                packed.append(sv)
        cdef Row r = Row.__new__(Row)
        r.name, r.flags, r.other_id = name, flags, other
        r.has_hash = hash_ is not None
        r.hash = h if r.has_hash else 0
        r.boundary, r.shown, r.children, r.outbound = boundary, shown, children, outbound
        r.started = st
        r.finished = fi
        r.host, r.rkeys, r.rvals, r.strings, r.text, r.holes = host, rkeys, rvals, packed, text, n
        return r

    cdef object ref(self, StructInfo info, object node, Py_ssize_t i, bint is_list):
        """A reference field as the reference's builtins hold it: absent, or the value itself."""
        cdef PyObject* v
        if i < 0:
            return self.absent
        v = info.get(node, i)
        if info.skipped(v, i):
            return self.absent
        if <object>v is None or type(<object>v) is str:
            return <object>v
        if is_list and type(<object>v) is list:
            for item in <list>v:
                if isinstance(item, str) and type(item) is not str:
                    return FALLBACK
                if not (type(item) is str or item is None or type(item) is int or type(item) is bool):
                    return FALLBACK
            return <object>v
        return FALLBACK

    cdef str markers(self, const char* d, Py_ssize_t dn):
        """The text with the node's hash (digits `d`, if any) and the workflow name replaced by
        their markers."""
        cdef Buf* src = &self.text
        cdef Buf* dst = &self.swap
        cdef Buf* t
        if d != NULL:
            if find(src.data, src.len, d, dn) != NULL:
                replace_into(dst, src.data, src.len, d, dn, HASH_MARK, 2)
                t = src; src = dst; dst = t
        if len(self.wf_json) and find_at(src.data, src.len, PyBytes_AS_STRING(self.wf_json),
                                         PyBytes_GET_SIZE(self.wf_json), self.wf_rare) != NULL:
            replace_at(dst, src.data, src.len, PyBytes_AS_STRING(self.wf_json), PyBytes_GET_SIZE(self.wf_json),
                       self.wf_rare, WF_MARK, 2)
            t = src; src = dst; dst = t
        return self.shared(src.data, src.len)

    cdef str shared(self, const char* data, Py_ssize_t n):
        """The text of `data` as a str, one object per distinct text: thousands of nodes share a
        few dozen shapes, and a shared str is decoded and hashed once, then compared by identity."""
        cdef unsigned long long h = 0x9E3779B97F4A7C15ULL ^ <unsigned long long>n, w
        cdef Py_ssize_t i = 0, m
        cdef const char* have
        while i + 8 <= n:
            memcpy(&w, data + i, 8)
            h = (h ^ w) * 0x9E3779B97F4A7C15ULL
            h ^= h >> 29
            i += 8
        w = 0
        memcpy(&w, data + i, n - i)
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 32
        key = h
        hit = self.texts.get(key)
        if hit is not None:
            have = PyUnicode_AsUTF8AndSize(hit, &m)
            if m == n and memcmp(have, data, n) == 0:
                return <str>hit
            return PyUnicode_DecodeUTF8(data, n, NULL)  # a hash collision: correct, just not shared
        text = PyUnicode_DecodeUTF8(data, n, NULL)
        self.texts[key] = text
        return text


def rows(list keys, list nodes, str workflow, str wf_json, object absent, object encoder, object fallback,
         tuple cache=None):
    """Rows of `nodes` (parallel to `keys`) and the next `cache`, (keys, nodes, rows) of this call.

    A node that is the very object the cache holds for its key keeps its row. A write usually
    replaces a few values of the same map, so keys are matched by position first and through
    a dict only when the map's order changed. `fallback(key, node)` is the reference's row for
    a node this module does not walk itself."""
    cdef RowWriter w = RowWriter(workflow, wf_json, absent, encoder, _INFOS)
    cdef Py_ssize_t i, j, n = len(keys), m = 0
    cdef list out = [None] * n
    cdef list old_keys = None, old_nodes = None, old_rows = None
    cdef dict where = None
    cdef PyObject* hit
    if len(nodes) != n:
        raise ValueError("rows: keys and nodes differ in length")
    if cache is not None:
        old_keys, old_nodes, old_rows = cache
        m = len(old_keys)
    for i in range(n):
        key = keys[i]
        node = nodes[i]
        r = None
        if m:
            j = -1
            if i < m and (old_keys[i] is key or old_keys[i] == key):
                j = i
            else:
                if where is None:
                    where = {k: at for at, k in enumerate(old_keys)}
                hit = PyDict_GetItem(where, key)
                if hit != NULL:
                    j = <object>hit
            if j >= 0 and old_nodes[j] is node:
                r = old_rows[j]
        if r is None:
            r = w.row(key, node)
            if r is FALLBACK:
                r = row_of(fallback(key, node))
        out[i] = r
    return out, (keys, nodes, out)
