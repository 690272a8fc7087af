# Order and placement of `_compact` (included): `_compact_encode._order` and `_place`, in C.


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


def columns(list keys, list rows, str workflow, object absent, object with_fields, object raw):
    """`_compact_encode._order` then `_place`, over `rows` parallel to `keys`: the Layout's
    columns from `lcp` on, in breadth-first order. `with_fields(text, back, digits)` puts
    references that do not resolve back into a shape. The int columns come as `raw(msgpack)`
    (msgspec.Raw: the encoder copies them verbatim)."""
    cdef Py_ssize_t n = len(keys), i, p, q, head, tail, e
    cdef dict pos = {}
    cdef int* bpos = NULL           # per position: its boundary's position, or -1
    cdef int* koff = NULL           # per position: its known children in kids.data[koff[p]:koff[p+1]]
    cdef unsigned char* kok = NULL  # per position: children is a list of known IDs only
    cdef unsigned char* seen = NULL # per position: referenced as a child, then: placed
    cdef int* queue = NULL
    cdef int* at = NULL             # per position: its index in the order
    cdef int* order = NULL
    cdef Ints kids
    cdef Py_ssize_t norder = 0
    cdef PyObject* hit
    kids.data = NULL
    kids.len = kids.cap = 0
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
