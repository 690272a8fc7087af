# Order and placement of `_compact` (included): `_compact_encode._order` and `_place`, in C.


cdef int epoch_c(object text, long long* out) except -2:
    """`_compact_layout.epoch`: 1 and the seconds of a canonical `YYYY-MM-DDTHH:MM:SSZ` in
    `out`, 0 for anything else, -1 for a str subclass (the builtins conversion makes it a str)."""
    cdef Py_ssize_t n
    cdef const char* s
    cdef int k, year, month, day, hour, minute, second, mdays
    cdef long long days, y, era, yoe, doy, doe, mp
    if type(text) is not str:
        return -1 if isinstance(text, str) else 0
    s = PyUnicode_AsUTF8AndSize(text, &n)
    if n != 20 or s[4] != b'-' or s[7] != b'-' or s[10] != b'T' or s[13] != b':' or s[16] != b':' or s[19] != b'Z':
        return 0
    for k in range(19):
        # every position but the separators 4, 7, 10, 13, 16 holds a digit
        if k != 4 and k != 7 and k != 10 and k != 13 and k != 16 and not (48 <= s[k] <= 57):
            return 0
    year = (s[0] - 48) * 1000 + (s[1] - 48) * 100 + (s[2] - 48) * 10 + (s[3] - 48)
    month = (s[5] - 48) * 10 + (s[6] - 48)
    day = (s[8] - 48) * 10 + (s[9] - 48)
    hour = (s[11] - 48) * 10 + (s[12] - 48)
    minute = (s[14] - 48) * 10 + (s[15] - 48)
    second = (s[17] - 48) * 10 + (s[18] - 48)
    # strftime writes years < 1000 unpadded, so the reference's round-trip check refuses them.
    if year < 1000 or month < 1 or month > 12 or hour > 23 or minute > 59 or second > 59:
        return 0
    mdays = _MDAYS[month - 1]
    if month == 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        mdays = 29
    if day < 1 or day > mdays:
        return 0
    # days_from_civil (H. Hinnant), proleptic Gregorian, as timegm.
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    out[0] = days * 86400 + hour * 3600 + minute * 60 + second
    return 1


cdef int[12] _MDAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef Py_ssize_t display_start(str name, object boundary_name):
    """Where `ids.display_name(name, boundary_name)` starts in `name` (0: the full name)."""
    cdef Py_ssize_t nb, nn, close, k
    cdef Py_UCS4 c
    if boundary_name is None or type(boundary_name) is not str or not boundary_name:
        return 0
    if not name.startswith(<str>boundary_name):
        return 0
    nb = len(<str>boundary_name)
    nn = len(name)
    if nb >= nn:
        return 0
    c = name[nb]
    if c == u'.':
        return 0 if nb + 1 == nn else nb + 1
    if c == u'[':
        close = name.find(u"]", nb)
        if close > nb + 1 and close + 1 < nn and name[close + 1] == u'.':
            for k in range(nb + 1, close):
                if not (u'0' <= name[k] <= u'9'):
                    return nb
            return 0 if close + 2 == nn else close + 2
    return nb


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


cdef bint resolve(object value, dict pos, Ints* out) except -1:
    """Positions of a reference list into `out`; False if it is not a list of known node IDs
    (what `_put_refs` puts back into the shape). Known IDs are pushed either way."""
    cdef bint ok = type(value) is list
    cdef PyObject* hit
    if not ok:
        return False
    for v in <list>value:
        if type(v) is not str:
            ok = False
            continue
        hit = PyDict_GetItem(pos, v)
        if hit == NULL:
            ok = False
            continue
        ints_push(out, <int><object>hit)
    return ok


cdef Py_ssize_t common_prefix(str a, str b):
    cdef Py_ssize_t n = min(len(a), len(b))
    cdef Py_ssize_t i
    cdef const char* x
    cdef const char* y
    if PyUnicode_IS_ASCII(a) and PyUnicode_IS_ASCII(b):
        x = <const char*>PyUnicode_DATA(a)
        y = <const char*>PyUnicode_DATA(b)
        for i in range(n):
            if x[i] != y[i]:
                return i
        return n
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def columns(list keys, list rows, str workflow, object absent, object with_fields, object raw):
    """`_compact_encode._order` then `_place`, over `rows` parallel to `keys`: the Layout's
    columns from `lcp` on, in breadth-first order. `with_fields(text, back, digits)` puts
    references that do not resolve back into a shape. The int columns come as `raw(msgpack)`
    (msgspec.Raw: the encoder copies them verbatim)."""
    cdef Py_ssize_t n = len(keys), i, p, q, k, head, tail, e
    cdef dict pos = {}
    cdef int* bpos = NULL           # per position: its boundary's position, or -1
    cdef int* koff = NULL           # per position: its known children in kids.data[koff[p]:koff[p+1]]
    cdef unsigned char* kok = NULL  # per position: children is a list of known IDs only
    cdef unsigned char* seen = NULL # per position: referenced as a child, then: placed
    cdef int* queue = NULL
    cdef int* at = NULL             # per position: its index in the order
    cdef int* order = NULL
    cdef Ints kids, out, prev0, prev1, cur
    cdef Py_ssize_t norder = 0
    cdef PyObject* hit
    kids.data = out.data = prev0.data = prev1.data = cur.data = NULL
    kids.len = kids.cap = out.len = out.cap = prev0.len = prev0.cap = prev1.len = prev1.cap = cur.len = cur.cap = 0
    if len(rows) != n:
        raise ValueError("columns: keys and rows differ in length")
    for i in range(n):
        pos[keys[i]] = i
    try:
        bpos = <int*>PyMem_Malloc((n + 1) * sizeof(int))
        koff = <int*>PyMem_Malloc((n + 1) * sizeof(int))
        at = <int*>PyMem_Malloc((n + 1) * sizeof(int))
        order = <int*>PyMem_Malloc((n + 1) * sizeof(int))
        kok = <unsigned char*>PyMem_Malloc(n + 1)
        seen = <unsigned char*>PyMem_Malloc(n + 1)
        if bpos == NULL or koff == NULL or at == NULL or order == NULL or kok == NULL or seen == NULL:
            raise MemoryError()
        memset(seen, 0, n + 1)
        for p in range(n):
            boundary = (<Row>rows[p]).boundary
            bpos[p] = -1
            if type(boundary) is str:
                hit = PyDict_GetItem(pos, boundary)
                if hit != NULL:
                    bpos[p] = <int><object>hit
            koff[p] = <int>kids.len
            kok[p] = resolve((<Row>rows[p]).children, pos, &kids)
        koff[n] = <int>kids.len
        for e in range(kids.len):
            seen[kids.data[e]] = 1  # referenced: not a root

        # _order: breadth-first from the roots (sorted), then from every node (sorted).
        sorted_pos = [pos[key] for key in sorted(keys)]
        queue = <int*>PyMem_Malloc((n + kids.len + 1) * sizeof(int))
        if queue == NULL:
            raise MemoryError()
        for pass_ in range(2):
            tail = 0
            for q in sorted_pos:
                if pass_ == 1 or not seen[q]:
                    queue[tail] = <int>q
                    tail += 1
            if pass_ == 0:
                memset(seen, 0, n + 1)
            head = 0
            while head < tail:
                p = queue[head]
                head += 1
                if seen[p]:
                    continue
                seen[p] = 1
                at[p] = <int>norder
                order[norder] = <int>p
                norder += 1
                for e in range(koff[p], koff[p + 1]):
                    if not seen[kids.data[e]]:  # pushing a placed node only to skip it changes nothing
                        queue[tail] = kids.data[e]
                        tail += 1
        return place_in(order, norder, at, bpos, koff, kok, &kids, rows, pos, absent, with_fields, raw)
    finally:
        PyMem_Free(bpos)
        PyMem_Free(koff)
        PyMem_Free(kok)
        PyMem_Free(seen)
        PyMem_Free(queue)
        PyMem_Free(at)
        PyMem_Free(order)
        PyMem_Free(kids.data)


cdef int put_refs(Ints* kids_in, Py_ssize_t lo, Py_ssize_t hi, const int* at, Py_ssize_t i, Longs* kids_col,
                  Ints* prev, Ints* cur) except -1:
    """`_compact_encode._put_refs` for a list already known to resolve: positions lo..hi of kids_in."""
    cdef Py_ssize_t k, last
    cdef bint same = prev.len == hi - lo and prev.len >= 0
    cur.len = 0
    for k in range(lo, hi):
        ints_push(cur, at[kids_in.data[k]])
    if same and prev.data != NULL:
        same = memcmp(prev.data, cur.data, cur.len * sizeof(int)) == 0
    elif same:
        same = cur.len == 0
    if same:
        longs_push(kids_col, SAME_AS_PREVIOUS)
    else:
        longs_push(kids_col, cur.len)
        last = i
        for k in range(cur.len):
            longs_push(kids_col, cur.data[k] - last)
            last = cur.data[k]
    # prev := cur
    prev.len = 0
    for k in range(cur.len):
        ints_push(prev, cur.data[k])
    return 0


cdef tuple place_in(const int* order, Py_ssize_t count, const int* at, const int* bpos, const int* koff,
                    const unsigned char* kok, Ints* kids, list rows, dict pos, object absent, object with_fields,
                    object raw):
    """`_compact_encode._place` over positions."""
    cdef Py_ssize_t i, n, b, prev_boundary = 0, nhash = 0, p
    cdef long long prev_start = 0, run, st = 0, fi = 0
    cdef list suffix_col = [], res_col = [], strings_col = [], other_col = []
    # The int columns, written as msgpack here (c_* index the array below).
    cdef Longs cols[7]
    cdef Longs* lcp_col = &cols[0]
    cdef Longs* shape_col = &cols[1]
    cdef Longs* boundary_col = &cols[2]
    cdef Longs* kids_col = &cols[3]
    cdef Longs* started_col = &cols[4]
    cdef Longs* finished_col = &cols[5]
    cdef Longs* host_col = &cols[6]
    cdef list back
    cdef dict shapes = {}, hosts = {}
    cdef int flags
    cdef str prev_name = ""
    cdef Row row
    cdef long long x
    cdef unsigned char* hashes
    cdef unsigned long v
    cdef Ints outb, prev0, prev1, cur
    prev0.data = prev1.data = cur.data = outb.data = NULL
    prev0.len = prev0.cap = prev1.len = prev1.cap = cur.len = cur.cap = outb.len = outb.cap = 0
    prev0.len = prev1.len = -1  # "no previous list": never equal to a real one
    for i in range(7):
        cols[i].data = NULL
        cols[i].len = cols[i].cap = 0
    hashes = <unsigned char*>PyMem_Malloc(4 * count + 1)
    if hashes == NULL:
        raise MemoryError()
    try:
        for i in range(count):
            p = order[i]
            row = <Row>rows[p]
            flags = row.flags
            name = row.name
            if name is not None:
                n = common_prefix(prev_name, <str>name)
                longs_push(lcp_col, n)
                suffix_col.append((<str>name)[n:])
                prev_name = <str>name
            if row.has_hash:
                v = row.hash
                hashes[4 * nhash] = v & 255
                hashes[4 * nhash + 1] = (v >> 8) & 255
                hashes[4 * nhash + 2] = (v >> 16) & 255
                hashes[4 * nhash + 3] = (v >> 24) & 255
                nhash += 1
            elif row.other_id is not None:
                other_col.append(row.other_id)
            back = None
            b = -1
            if bpos[p] >= 0:
                b = at[bpos[p]]
                flags |= F_BOUNDARY
                longs_push(boundary_col, b - prev_boundary)
                prev_boundary = b
            elif row.boundary is not absent:
                back = [("boundaryID", row.boundary)]
            shown = row.shown
            if shown is not absent:
                if name is not None and type(shown) is str and shown_matches(
                        <str>name, <str>shown, (<Row>rows[bpos[p]]).name if b >= 0 else None):
                    flags |= F_DISPLAY
                else:
                    back = (back or []) + [("displayName", shown)]
            if row.children is not absent:
                if kok[p]:
                    put_refs(kids, koff[p], koff[p + 1], at, i, kids_col, &prev0, &cur)
                    flags |= F_CHILDREN
                else:
                    back = (back or []) + [("children", row.children)]
            if row.outbound is not absent:
                outb.len = 0
                if resolve(row.outbound, pos, &outb):
                    put_refs(&outb, 0, outb.len, at, i, kids_col, &prev1, &cur)
                    flags |= F_OUTBOUND
                else:
                    back = (back or []) + [("outboundNodes", row.outbound)]
            if flags & F_STARTED:
                st = row.started
                longs_push(started_col, st - prev_start)
                prev_start = st
            if flags & F_FINISHED:
                fi = row.finished
                longs_push(finished_col, fi - prev_start)
            if flags & F_HOST:
                h = hosts.get(row.host)
                if h is None:
                    h = hosts[row.host] = len(hosts)
                longs_push(host_col, <Py_ssize_t>h)
            if flags & F_RESOURCES:
                run = fi - st if flags & F_STARTED and flags & F_FINISHED else 0
                for rv in row.rvals:
                    # Resource durations are requests x run time: store the multiple when exact.
                    if type(rv) is int and run > 0 and 0 <= <object>rv < (1 << 62):
                        x = rv
                        res_col.append(2 * (x // run) + 1 if x % run == 0 else 2 * x)
                    elif run > 0 and rv >= 0 and rv % run == 0:
                        res_col.append(2 * (rv // run) + 1)
                    else:
                        res_col.append(2 * rv)
            if row.strings:
                strings_col.extend(row.strings)
            text = row.text
            if back:
                text = with_fields(text, back, str(row.hash) if row.has_hash else None)
            key = (flags, row.rkeys, text, row.holes)
            s = shapes.get(key)
            if s is None:
                s = shapes[key] = len(shapes)
            longs_push(shape_col, <Py_ssize_t>s)
        hash_bytes = PyBytes_FromStringAndSize(<char*>hashes, 4 * nhash)
        packed = [msgpack_ints(&cols[i]) for i in range(7)]
    finally:
        PyMem_Free(hashes)
        for i in range(7):
            PyMem_Free(cols[i].data)
        PyMem_Free(prev0.data)
        PyMem_Free(prev1.data)
        PyMem_Free(cur.data)
        PyMem_Free(outb.data)
    lcp_b, shape_b, boundary_b, kids_b, started_b, finished_b, host_b = [raw(chunk) for chunk in packed]
    return (lcp_b, suffix_col, shape_b, [(f, list(r), t, h) for (f, r, t, h) in shapes], boundary_b,
            kids_b, started_b, finished_b, host_b, list(hosts), res_col, strings_col, other_col, hash_bytes)


cdef bint shown_matches(str name, str shown, object boundary_name):
    """`shown == ids.display_name(name, boundary_name)`, without building the display name."""
    cdef Py_ssize_t start = display_start(name, boundary_name)
    if len(shown) != len(name) - start:
        return False
    return name.endswith(shown) if start else shown == name
