"""The compact form's decoder: columns back into node Structs (see `compact` for the rules).

Each distinct shape is decoded once, typed, into a prototype node; a node is its prototype
with the column fields set by `msgspec.structs.replace` (C-level, no validation needed: every
column was type-checked when the layout was decoded), and its string holes — parameter values
and `outputs.result` — filled in the order the encoder cut them out. A shape that carries the
node's own hash (artifact keys hold the pod name) cannot be shared: such nodes decode their
shape text individually: the hash goes back into the text *before* it is split at the holes,
as the encoder cut the holes out before it marked the hash (a hash's digits may occur inside a
hole's own JSON, `"\\u0000s"`, which ID `<workflow>-0` once turned into an unreadable status).
"""
from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from json.encoder import encode_basestring  # C-accelerated JSON string escaping
from typing import Any

import msgspec

from tiphys.core.status import _compact_layout as L
from tiphys.core.status import _compact_native as _native
from tiphys.core.status import ids

__all__ = ["rebuild"]

_replace = msgspec.structs.replace


@functools.lru_cache(maxsize=256)
def _fields(struct_type: type) -> tuple[tuple[str, str], ...]:
    """(attribute, JSON name) of a Struct type; cached, as `structs.fields` re-evaluates hints."""
    return tuple((f.name, f.encode_name) for f in msgspec.structs.fields(struct_type))

_ALL_FLAGS = (L.F_ID | L.F_DISPLAY | L.F_BOUNDARY | L.F_CHILDREN | L.F_OUTBOUND | L.F_STARTED | L.F_FINISHED
              | L.F_HOST | L.F_RESOURCES | L.F_NAME)

# Encoded timestamps are 4-digit years (< 2^38 s): anything past 2^40 is corruption (the
# Cython loops bound every int column there before summing in C).
_SECONDS_BOUND = 1 << 40

# Columns' JSON names → attribute names are looked up per node type (generic over the type).
_COLUMN_FIELDS = ("id", "name", "displayName", "boundaryID", "children", "outboundNodes", "startedAt",
                  "finishedAt", "hostNodeName", "resourcesDuration")


# One entry of the shape table, ready to stamp out nodes (a plain tuple, so that the Cython
# loops read it too): flags, resource keys, prototype node (None when the shape holds the node's
# hash: such nodes decode their own text), that shape text with HASH_MARK still in it (hashed
# shapes only), hole plan (see `_hole_plan`), hole count.
_Shape = tuple[int, list[str], Any, "str | None", list, int]


def _hole_plan(proto: Any, holes: int) -> list[tuple[str, list[tuple[str, list[int] | None]]]]:
    """Where the prototype holds its holes, in the encoder's order (field order, then lists)."""
    plan = []
    found = 0
    for top, top_json in _fields(type(proto)):  # the encoder met them in field order too
        if top_json not in ("inputs", "outputs"):
            continue
        io = getattr(proto, top)
        if io is None:
            continue
        subs: list[tuple[str, list[int] | None]] = []
        for name, json_name in _fields(type(io)):
            value = getattr(io, name)
            if json_name == "parameters" and value:
                idx = [j for j, p in enumerate(value) if getattr(p, "value", None) == L.HOLE]
                if idx:
                    subs.append((name, idx))
                    found += len(idx)
            elif json_name == "result" and top_json == "outputs" and value == L.HOLE:
                subs.append((name, None))
                found += 1
        if subs:
            plan.append((top, subs))
    if found != holes:
        raise ValueError(f"shape declares {holes} holes, its prototype has {found}")
    return plan


def _fill(proto: Any, plan: list, values: list[str]) -> dict[str, Any]:
    """The replaced `inputs`/`outputs` of one node, holes filled from `values`."""
    it = iter(values)
    out = {}
    for top, subs in plan:
        io = getattr(proto, top)
        changes: dict[str, Any] = {}
        for attr, idx in subs:
            if idx is None:
                changes[attr] = next(it)
            else:
                params = list(getattr(io, attr))
                for j in idx:
                    params[j] = _replace(params[j], value=next(it))
                changes[attr] = params
        out[top] = _replace(io, **changes)
    return out


def rebuild(layout: L.Layout, node_type: type, decode_one: Callable[[str], Any], *,
            native: bool = False) -> tuple[list[str], list[Any]]:
    """IDs and nodes, in stored order. Raises ValueError/IndexError/KeyError/StopIteration on
    inconsistent columns (the caller turns them into CorruptStatus). `native` stamps the nodes
    in `tiphys.core._fast._compact` (the caller checks that it is built)."""
    attrs = _column_attrs(node_type)
    if layout.count != len(layout.shape):
        raise ValueError("shape column length")
    shapes = _shapes(layout, node_type, decode_one)
    fast = _native.native if native else None
    if fast is not None:
        return fast.stamp(layout, shapes, attrs, _replace, decode_one, L.rfc3339, L._text_cache, L.HASH_MARK)
    return _stamp(layout, shapes, attrs, decode_one)


@functools.lru_cache(maxsize=256)
def _column_attrs(node_type: type) -> tuple[str, ...]:
    """The node type's attribute names of the column fields ("" for a field it lacks)."""
    attr = {json_name: name for name, json_name in _fields(node_type)}
    return tuple(attr.get(k, "") for k in _COLUMN_FIELDS)


def _shapes(layout: L.Layout, node_type: type, decode_one: Callable[[str], Any]) -> list[_Shape]:
    """The shape table, each shape decoded once into a typed prototype (unless it is hashed)."""
    wf_json = encode_basestring(layout.workflow)[1:-1]
    shapes: list[_Shape] = []
    for flags, rkeys, text, holes in layout.shapes:
        flags &= _ALL_FLAGS  # unknown bits mean nothing, in either implementation
        text = text.replace(L.WF_MARK, wf_json)
        if L.HASH_MARK in text:
            # Split per node (`_hashed_text`): the holes are only countable once the hash is back.
            shapes.append((flags, rkeys, None, text, [], holes))
        else:
            proto = decode_one(text) if text else node_type()
            shapes.append((flags, rkeys, proto, None, _hole_plan(proto, holes) if holes else [], holes))
    return shapes


def _stamp(layout: L.Layout, shapes: list[_Shape], attrs: tuple[str, ...],
           decode_one: Callable[[str], Any]) -> tuple[list[str], list[Any]]:
    """The per-node loops (the specification of `_fast._compact.stamp`)."""
    a_id, a_name, a_display, a_boundary, a_children, a_outbound, a_started, a_finished, a_host, a_res = attrs
    wf = layout.workflow
    count = layout.count
    shape_of = layout.shape
    if len(shape_of) != count:
        raise ValueError("shape column length")
    node_shapes = []
    for i, s in enumerate(shape_of):
        if not 0 <= s < len(shapes):
            raise IndexError(f"node {i}: shape {s}")
        node_shapes.append(shapes[s])

    # Pass 1: names and IDs, which every other field may refer to.
    names: list[str | None] = [None] * count
    ids_: list[str] = [""] * count
    digits: list[str | None] = [None] * count
    lcp, suffix, other = iter(layout.lcp), iter(layout.suffix), iter(layout.other_ids)
    if len(layout.hashes) % 4:
        raise ValueError("hash column length")
    hashes = iter(struct.unpack(f"<{len(layout.hashes) // 4}I", layout.hashes))
    prev_name = ""
    prefix = wf + "-"
    for i, shape in enumerate(node_shapes):
        flags = shape[0]
        name = None
        if flags & L.F_NAME:
            k = next(lcp)
            if not 0 <= k <= len(prev_name):
                raise IndexError(f"node {i}: name prefix {k}")
            name = names[i] = prev_name = prev_name[:k] + next(suffix)
        if flags & L.F_ID:
            if name == wf:
                ids_[i] = wf
            else:
                digits[i] = h = str(next(hashes))
                ids_[i] = prefix + h
        else:
            ids_[i] = next(other)

    # Pass 2: each node from its shape and the columns.
    boundary, kids, started, finished = (iter(layout.boundary), iter(layout.kids), iter(layout.started),
                                         iter(layout.finished))
    host, resources, strings = iter(layout.host), iter(layout.resources), iter(layout.strings)
    hosts = layout.hosts
    nodes: list[Any] = [None] * count
    prev_start = prev_boundary = 0
    prev_lists: list[list[str]] = [[], []]
    display_name = ids.display_name
    rfc3339, text_cache = L.rfc3339, L._text_cache
    # Locals, not module attributes, in the hot loop.
    f_boundary, f_display, f_children, f_outbound = L.F_BOUNDARY, L.F_DISPLAY, L.F_CHILDREN, L.F_OUTBOUND
    f_started, f_finished, f_host, f_resources = L.F_STARTED, L.F_FINISHED, L.F_HOST, L.F_RESOURCES
    for i, (flags, rkeys, proto, hashed, plan, holes) in enumerate(node_shapes):
        name = names[i]
        kw: dict[str, Any] = {a_id: ids_[i]}
        if name is not None:
            kw[a_name] = name
        b = None
        if flags & f_boundary:
            b = prev_boundary = prev_boundary + next(boundary)
            if not 0 <= b < count:
                raise IndexError(f"node {i}: boundary index {b}")
            kw[a_boundary] = ids_[b]
        if flags & f_display:
            if name is None:
                raise ValueError(f"node {i}: a derived displayName without a name")
            kw[a_display] = display_name(name, names[b] if b is not None else None)
        if flags & f_children:
            kw[a_children] = _refs(kids, i, ids_, prev_lists, 0)
        if flags & f_outbound:
            kw[a_outbound] = _refs(kids, i, ids_, prev_lists, 1)
        start = finish = None
        if flags & f_started:
            start = prev_start = prev_start + next(started)
            if not -_SECONDS_BOUND < start < _SECONDS_BOUND:
                raise ValueError(f"node {i}: start {start} out of range")
            kw[a_started] = text_cache.get(start) or rfc3339(start)
        if flags & f_finished:
            finish = prev_start + next(finished)
            if not -_SECONDS_BOUND < finish < _SECONDS_BOUND:
                raise ValueError(f"node {i}: finish {finish} out of range")
            kw[a_finished] = text_cache.get(finish) or rfc3339(finish)
        if flags & f_host:
            h = next(host)
            if not 0 <= h < len(hosts):
                raise IndexError(f"node {i}: host {h}")
            kw[a_host] = hosts[h]
        if flags & f_resources:
            run = finish - start if start is not None and finish is not None else 0
            res = {}
            for k in rkeys:
                x = next(resources)
                res[k] = (x >> 1) * run if x & 1 else x >> 1
            kw[a_res] = res
        values: list[str] = []
        for _ in range(holes):
            s = next(strings)
            if type(s) is int:
                if not 0 <= s < len(values):
                    raise IndexError(f"node {i}: string back-reference {s}")
                s = values[s]
            values.append(s)
        if proto is not None:
            if values:
                kw.update(_fill(proto, plan, values))
            nodes[i] = _replace(proto, **kw)
        else:
            h = digits[i]
            if h is None:
                raise ValueError(f"node {i}: hash marker without a hashed ID")
            nodes[i] = _replace(decode_one(_hashed_text(hashed, h, values, i)), **kw)
    for column in (lcp, suffix, other, hashes, boundary, kids, started, finished, host, resources, strings):
        if next(column, None) is not None:
            raise ValueError("a column is longer than its nodes use")
    return ids_, nodes


def _hashed_text(text: str, digits: str, values: list[str], i: int) -> str:
    """A hashed shape's JSON for one node: its hash put back, then its strings in the holes.

    The encoder cut the holes (on the node's plain JSON) before it replaced the hash's digits,
    so that order is undone in reverse: restoring the digits first gives back exactly the text
    whose `HOLE_JSON`s it counted (digits such as "0" also match inside `"\\u0000s"`).

    That count covers the row's text only: reference fields put back at placement (a dangling
    boundaryID, a displayName that is not the derived one) are appended after it and may spell
    HOLE_JSON themselves, so only the first `len(values)` occurrences are holes."""
    text = text.replace(L.HASH_MARK, digits)
    if not values:  # a shape without holes may spell HOLE_JSON (the encoder kept the strings)
        return text
    frags = text.split(L.HOLE_JSON, len(values))
    if len(frags) != len(values) + 1:
        raise ValueError(f"node {i}: shape with {len(values)} holes has {len(frags) - 1}")
    body = [frags[0]]
    for value, frag in zip(values, frags[1:]):
        body.append(encode_basestring(value))
        body.append(frag)
    return "".join(body)


def _refs(kids: Any, i: int, ids_: list[str], prev_lists: list[list[str]], which: int) -> list[str]:
    n = next(kids)
    if n == L.SAME_AS_PREVIOUS:
        return list(prev_lists[which])
    if n < 0:
        raise IndexError(f"node {i}: {n} references")
    refs, last = [], i
    for _ in range(n):
        last += next(kids)
        if not 0 <= last < len(ids_):
            raise IndexError(f"node {i}: reference {last}")
        refs.append(ids_[last])
    prev_lists[which] = refs
    return list(refs)
