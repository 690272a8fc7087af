# Order and placement of `_compact` (included): `_compact_encode._order` and `_place`, in C.


cdef object epoch_of(object text):
    """`_compact_layout.epoch`: seconds of a canonical `YYYY-MM-DDTHH:MM:SSZ`, else None
    (FALLBACK for a str subclass, which the builtins conversion would have made a str)."""
    cdef Py_ssize_t n
    cdef const char* s
    cdef int k, year, month, day, hour, minute, second, mdays
    cdef long long days, y, era, yoe, doy, doe, mp
    if type(text) is not str:
        return FALLBACK if isinstance(text, str) else None
    s = PyUnicode_AsUTF8AndSize(text, &n)
    if n != 20 or s[4] != b'-' or s[7] != b'-' or s[10] != b'T' or s[13] != b':' or s[16] != b':' or s[19] != b'Z':
        return None
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        if not (b'0' <= s[k] <= b'9'):
            return None
    year = (s[0] - 48) * 1000 + (s[1] - 48) * 100 + (s[2] - 48) * 10 + (s[3] - 48)
    month = (s[5] - 48) * 10 + (s[6] - 48)
    day = (s[8] - 48) * 10 + (s[9] - 48)
    hour = (s[11] - 48) * 10 + (s[12] - 48)
    minute = (s[14] - 48) * 10 + (s[15] - 48)
    second = (s[17] - 48) * 10 + (s[18] - 48)
    # strftime writes years < 1000 unpadded, so the reference's round-trip check refuses them.
    if year < 1000 or month < 1 or month > 12 or hour > 23 or minute > 59 or second > 59:
        return None
    mdays = _MDAYS[month - 1]
    if month == 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        mdays = 29
    if day < 1 or day > mdays:
        return None
    # days_from_civil (H. Hinnant), proleptic Gregorian, as timegm.
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hour * 3600 + minute * 60 + second


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


cdef Py_ssize_t common_prefix(str a, str b):
    cdef Py_ssize_t n = min(len(a), len(b))
    cdef Py_ssize_t i
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def order(list keys, dict rows):
    """`_compact_encode._order`: breadth-first from the roots, then leftovers."""
    cdef dict children = {}
    cdef set referenced = set()
    cdef set seen = set()
    cdef list result = []
    cdef list ordered, queue, kids
    cdef Py_ssize_t head
    for k, r in rows.items():
        raw = (<tuple>r)[5][2]
        if type(raw) is list:
            kids = [c for c in <list>raw if type(c) is str]
            referenced.update(kids)
        else:
            kids = []
        children[k] = kids
    ordered = sorted(keys)
    for pass_ in range(2):
        queue = [k for k in ordered if k not in referenced] if pass_ == 0 else list(ordered)
        head = 0
        while head < len(queue):
            key = queue[head]
            head += 1
            if key in seen or key not in rows:
                continue
            seen.add(key)
            result.append(key)
            queue.extend(<list>children[key])
    return result


cdef bint put_refs(object value, Py_ssize_t i, dict index, list kids_col, list prev_lists, int which) except -1:
    """`_compact_encode._put_refs`."""
    cdef list refs
    cdef Py_ssize_t last
    if type(value) is not list:
        return False
    refs = []
    for v in <list>value:
        r = index.get(v) if type(v) is str else None
        if r is None:
            return False
        refs.append(r)
    if refs == prev_lists[which]:
        kids_col.append(SAME_AS_PREVIOUS)
    else:
        kids_col.append(len(refs))
        last = i
        for r in refs:
            kids_col.append(<Py_ssize_t>r - last)
            last = r
    prev_lists[which] = refs
    return True


def place(list order, dict rows, str workflow, object absent, object with_fields):
    """`_compact_encode._place` up to the Layout: its columns, as a tuple in Layout field order
    from `lcp` on. `with_fields(text, back, digits)` puts unresolved references back in a shape."""
    cdef Py_ssize_t count = len(order), i, n, b, prev_lcp = 0, prev_boundary = 0, shown_at
    cdef long long prev_start = 0, run, v
    cdef dict index = {}
    cdef list names = [None] * count
    cdef list lcp_col = [], suffix_col = [], shape_col = [], boundary_col = [], kids_col = []
    cdef list started_col = [], finished_col = [], host_col = [], res_col = [], strings_col = [], other_col = []
    cdef list prev_lists = [None, None]
    cdef list back
    cdef dict shapes = {}, hosts = {}
    cdef int flags
    cdef str prev_name = ""
    cdef tuple row
    cdef unsigned char* hashes
    cdef Py_ssize_t nhash = 0
    for i in range(count):
        index[order[i]] = i
        names[i] = (<tuple>rows[order[i]])[0]
    hashes = <unsigned char*>PyMem_Malloc(4 * count + 1)
    if hashes == NULL:
        raise MemoryError()
    try:
        for i in range(count):
            row = <tuple>rows[order[i]]
            (name, flags, hash_, other_id, digits, refs, started, finished, host, rkeys, rvals, strings, text,
             holes) = row
            if name is not None:
                n = common_prefix(prev_name, <str>name)
                prev_lcp = n
                lcp_col.append(n)
                suffix_col.append((<str>name)[n:])
                prev_name = <str>name
            if hash_ is not None:
                v = hash_
                hashes[4 * nhash] = v & 255
                hashes[4 * nhash + 1] = (v >> 8) & 255
                hashes[4 * nhash + 2] = (v >> 16) & 255
                hashes[4 * nhash + 3] = (v >> 24) & 255
                nhash += 1
            elif other_id is not None:
                other_col.append(other_id)
            boundary, shown, children, outbound = refs
            back = None
            bi = index.get(boundary) if type(boundary) is str else None
            if bi is not None:
                b = bi
                flags |= F_BOUNDARY
                boundary_col.append(b - prev_boundary)
                prev_boundary = b
            elif boundary is not absent:
                back = [("boundaryID", boundary)]
            if shown is not absent:
                if name is not None and type(shown) is str and shown_matches(<str>name, <str>shown,
                        names[bi] if bi is not None else None):
                    flags |= F_DISPLAY
                else:
                    back = (back or []) + [("displayName", shown)]
            if children is not absent:
                if put_refs(children, i, index, kids_col, prev_lists, 0):
                    flags |= F_CHILDREN
                else:
                    back = (back or []) + [("children", children)]
            if outbound is not absent:
                if put_refs(outbound, i, index, kids_col, prev_lists, 1):
                    flags |= F_OUTBOUND
                else:
                    back = (back or []) + [("outboundNodes", outbound)]
            if flags & F_STARTED:
                started_col.append(started - prev_start)
                prev_start = started
            if flags & F_FINISHED:
                finished_col.append(finished - prev_start)
            if flags & F_HOST:
                h = hosts.get(host)
                if h is None:
                    h = hosts[host] = len(hosts)
                host_col.append(h)
            if flags & F_RESOURCES:
                run = finished - started if flags & F_STARTED and flags & F_FINISHED else 0
                for rv in rvals:
                    # Resource durations are requests x run time: store the multiple when exact.
                    if run > 0 and rv >= 0 and rv % run == 0:
                        res_col.append(2 * (rv // run) + 1)
                    else:
                        res_col.append(2 * rv)
            if strings:
                strings_col.extend(strings)
            if back:
                text = with_fields(text, back, digits)
            key = (flags, rkeys, text, holes)
            s = shapes.get(key)
            if s is None:
                s = shapes[key] = len(shapes)
            shape_col.append(s)
        hash_bytes = PyBytes_FromStringAndSize(<char*>hashes, 4 * nhash)
    finally:
        PyMem_Free(hashes)
    return (lcp_col, suffix_col, shape_col, [(f, list(r), t, h) for (f, r, t, h) in shapes], boundary_col,
            kids_col, started_col, finished_col, host_col, list(hosts), res_col, strings_col, other_col, hash_bytes)


cdef bint shown_matches(str name, str shown, object boundary_name):
    """`shown == ids.display_name(name, boundary_name)`, without building the display name."""
    cdef Py_ssize_t start = display_start(name, boundary_name)
    if len(shown) != len(name) - start:
        return False
    return name.endswith(shown) if start else shown == name
