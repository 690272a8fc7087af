# Decoding of `_compact` (included): the per-node loops of `_compact_decode.rebuild`, in C.
#
# Every index read from the columns is checked before use (the extension is built without
# bounds checks): a damaged layout raises IndexError/ValueError, which the codec reports as
# CorruptStatus, exactly where the reference raises.


cdef long long _INT_BOUND = 1LL << 40
cdef str _HOLE_TEXT = HOLE_JSON[:HOLE_JSON_LEN].decode()


cdef class _Column:
    """A column read front to back; running past its end is an IndexError naming it."""

    cdef list items
    cdef Py_ssize_t at
    cdef str name

    def __init__(self, list items, str name):
        self.items = items
        self.at = 0
        self.name = name

    cdef inline object next(self):
        if self.at >= len(self.items):
            raise IndexError(f"column {self.name} is shorter than its nodes use")
        self.at += 1
        return self.items[self.at - 1]

    cdef inline long long next_int(self) except? -1:
        """The next value as a C integer. Every int column of a valid layout (indices, deltas,
        seconds) stays far below 2^40; larger values are corruption, refused before C sums them."""
        cdef object x = self.next()
        if not -_INT_BOUND < x < _INT_BOUND:
            raise ValueError(f"column {self.name}: value {x} out of range")
        return x

    cdef inline bint done(self):
        return self.at == len(self.items)


cdef object fill(object proto, list plan, list values, object replace):
    """`_compact_decode._fill`: the replaced `inputs`/`outputs` of one node (a dict of kwargs)."""
    cdef dict out = {}
    cdef dict changes
    cdef list params
    cdef Py_ssize_t at = 0
    for top, subs in plan:
        io = getattr(proto, top)
        changes = {}
        for attr, idx in subs:
            if idx is None:
                if at >= len(values):
                    raise ValueError("a shape has more holes than strings")
                changes[attr] = values[at]
                at += 1
            else:
                params = list(getattr(io, attr))
                for j in idx:
                    if at >= len(values):
                        raise ValueError("a shape has more holes than strings")
                    params[j] = replace(params[j], value=values[at])
                    at += 1
                changes[attr] = params
        out[top] = replace(io, **changes)
    return out


def stamp(layout, list shapes, tuple attrs, object replace, object decode_one, object rfc3339, dict text_cache,
          str hash_mark):
    """IDs and nodes of a layout; `shapes[i]` = (flags, rkeys, proto, hashed text, plan, holes) of shape i,
    `attrs` = the node type's attribute names for id, name, displayName, boundaryID, children,
    outboundNodes, startedAt, finishedAt, hostNodeName, resourcesDuration."""
    cdef str a_id, a_name, a_display, a_boundary, a_children, a_outbound, a_started, a_finished, a_host, a_res
    a_id, a_name, a_display, a_boundary, a_children, a_outbound, a_started, a_finished, a_host, a_res = attrs
    cdef str wf = layout.workflow
    cdef Py_ssize_t count = layout.count, nshapes = len(shapes), i, s, k, b, last, m
    cdef list shape_of = layout.shape
    cdef list node_shapes, names, ids_, digits, nodes, hosts = layout.hosts, values, refs, rkeys
    cdef tuple shape
    cdef int flags
    cdef str prev_name = "", prefix = wf + "-"
    cdef bytes hashes = layout.hashes
    cdef const unsigned char* hp
    cdef Py_ssize_t nhash, hat = 0
    cdef long long prev_start = 0, start = 0, finish = 0
    cdef Py_ssize_t prev_boundary = 0
    cdef dict kw
    cdef list prev_lists = [[], []]
    cdef _Column lcp, suffix, other, boundary, kids, started, finished, host, resources, strings
    if count < 0 or len(shape_of) != count:
        raise ValueError("shape column length")
    if len(hashes) % 4:
        raise ValueError("hash column length")
    hp = <const unsigned char*>PyBytes_AS_STRING(hashes)
    nhash = len(hashes) // 4
    node_shapes = [None] * count
    for i in range(count):
        s = shape_of[i]
        if s < 0 or s >= nshapes:
            raise IndexError(f"node {i}: shape {s}")
        node_shapes[i] = shapes[s]

    # Pass 1: names and IDs, which every other field may refer to.
    names = [None] * count
    ids_ = [""] * count
    digits = [None] * count
    lcp, suffix, other = _Column(layout.lcp, "lcp"), _Column(layout.suffix, "suffix"), _Column(layout.other_ids, "other_ids")
    for i in range(count):
        flags = (<tuple>node_shapes[i])[0]
        name = None
        if flags & F_NAME:
            k = lcp.next_int()
            if k < 0 or k > len(prev_name):
                raise IndexError(f"node {i}: name prefix {k}")
            name = prev_name[:k] + <str>suffix.next()
            names[i] = prev_name = name
        if flags & F_ID:
            if name == wf:
                ids_[i] = wf
            else:
                if hat >= nhash:
                    raise IndexError("column hashes is shorter than its nodes use")
                h = str(<unsigned long>hp[4 * hat] | (<unsigned long>hp[4 * hat + 1] << 8)
                        | (<unsigned long>hp[4 * hat + 2] << 16) | (<unsigned long>hp[4 * hat + 3] << 24))
                hat += 1
                digits[i] = h
                ids_[i] = prefix + h
        else:
            ids_[i] = other.next()

    # Pass 2: each node from its shape and the columns.
    boundary, kids = _Column(layout.boundary, "boundary"), _Column(layout.kids, "kids")
    started, finished = _Column(layout.started, "started"), _Column(layout.finished, "finished")
    host, resources = _Column(layout.host, "host"), _Column(layout.resources, "resources")
    strings = _Column(layout.strings, "strings")
    nodes = [None] * count
    for i in range(count):
        shape = <tuple>node_shapes[i]
        flags = shape[0]
        name = names[i]
        kw = {a_id: ids_[i]}
        if name is not None:
            kw[a_name] = name
        b = -1
        if flags & F_BOUNDARY:
            b = prev_boundary = prev_boundary + boundary.next_int()
            if b < 0 or b >= count:
                raise IndexError(f"node {i}: boundary index {b}")
            kw[a_boundary] = ids_[b]
        if flags & F_DISPLAY:
            if name is None:
                raise ValueError(f"node {i}: a derived displayName without a name")
            kw[a_display] = display_of(name, names[b] if b >= 0 else None)
        for which in range(2):
            if not flags & (F_CHILDREN if which == 0 else F_OUTBOUND):
                continue
            m = kids.next_int()
            if m == SAME_AS_PREVIOUS:
                refs = list(prev_lists[which])
            else:
                if m < 0:
                    raise IndexError(f"node {i}: {m} references")
                refs = []
                last = i
                for k in range(m):
                    last += kids.next_int()
                    if last < 0 or last >= count:
                        raise IndexError(f"node {i}: reference {last}")
                    refs.append(ids_[last])
                prev_lists[which] = refs
                refs = list(refs)
            kw[a_children if which == 0 else a_outbound] = refs
        has_start = has_finish = False
        if flags & F_STARTED:
            start = prev_start = prev_start + started.next_int()
            if not -_INT_BOUND < start < _INT_BOUND:
                raise ValueError(f"node {i}: start {start} out of range")
            has_start = True
            t = text_cache.get(start)
            kw[a_started] = t if t is not None else rfc3339(start)
        if flags & F_FINISHED:
            finish = prev_start + finished.next_int()
            if not -_INT_BOUND < finish < _INT_BOUND:
                raise ValueError(f"node {i}: finish {finish} out of range")
            has_finish = True
            t = text_cache.get(finish)
            kw[a_finished] = t if t is not None else rfc3339(finish)
        if flags & F_HOST:
            k = host.next_int()
            if k < 0 or k >= len(hosts):
                raise IndexError(f"node {i}: host {k}")
            kw[a_host] = hosts[k]
        if flags & F_RESOURCES:
            run = finish - start if has_start and has_finish else 0  # a Python int: values are unbounded
            res = {}
            rkeys = shape[1]
            for rk in rkeys:
                x = resources.next()
                res[rk] = (x >> 1) * run if x & 1 else x >> 1
            kw[a_res] = res
        m = shape[5]
        values = []
        for k in range(m):
            sv = strings.next()
            if type(sv) is int:
                if sv < 0 or sv >= len(values):
                    raise IndexError(f"node {i}: string back-reference {sv}")
                values.append(values[<Py_ssize_t>sv])
            else:
                values.append(sv)
        proto = shape[2]
        if proto is not None:
            if values:
                kw.update(fill(proto, shape[4], values, replace))
            nodes[i] = replace(proto, **kw)
        else:
            h = digits[i]
            if h is None:
                raise ValueError(f"node {i}: hash marker without a hashed ID")
            nodes[i] = replace(decode_one(hashed_text(<str>shape[3], hash_mark, <str>h, values, i)), **kw)
    if hat != nhash:
        raise ValueError("a column is longer than its nodes use")
    for column in (lcp, suffix, other, boundary, kids, started, finished, host, resources, strings):
        if not (<_Column>column).done():
            raise ValueError("a column is longer than its nodes use")
    return ids_, nodes


cdef str hashed_text(str text, str hash_mark, str digits, list values, Py_ssize_t i):
    """`_compact_decode._hashed_text`: the hash back first, then the first `m` HOLE_JSONs
    filled (the digits may occur inside a hole's JSON, so splitting first can miscount; fields
    put back at placement come after the holes and may spell HOLE_JSON too)."""
    cdef Py_ssize_t k, m = len(values)
    cdef list frags, body
    text = text.replace(hash_mark, digits)
    if not m:  # a shape without holes may spell HOLE_JSON (the encoder kept the strings)
        return text
    frags = text.split(_HOLE_TEXT, m)
    if len(frags) != m + 1:
        raise ValueError(f"node {i}: shape with {m} holes has {len(frags) - 1}")
    body = [frags[0]]
    for k in range(m):
        body.append(_encode_basestring(values[k]))
        body.append(frags[k + 1])
    return "".join(body)


cdef str display_of(object name, object boundary_name):
    cdef Py_ssize_t start = display_start(<str>name, boundary_name)
    return (<str>name)[start:] if start else <str>name
