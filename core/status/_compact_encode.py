"""The compact form's encoder: a node map into columns (see `compact` for the rules).

Works on each node as JSON builtins (`msgspec.to_builtins`, encode names), so it serves any
node Struct type; each rule applies only where a value has the expected form, and the rest
stays in the node's shape — every node round-trips exactly.

Two phases per node. The *row* depends on the node alone (and the workflow name): its name,
ID hash, timestamps, host, resources, string holes and shape text, with the reference fields
(boundaryID, displayName, children, outboundNodes) cut out tentatively. Rows are cached by
node object (`RowCache`): nodes are frozen and replaced on change, so a write re-derives only
the rows of replaced nodes. The *placement* depends on the neighbours: front-coded names,
deltas, node indices, and the interned shape — a reference that does not resolve to a node
(or a displayName that is not the derived one) goes back into that node's shape text.

This module is the specification: `tiphys.core._fast._compact` does the same rows (read from
the Struct's slots rather than from builtins), order and placement in C, asks `_row` here for
any node it does not handle itself, and writes the same bytes (`layout(..., native=True)`).
"""
from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping
from json.encoder import encode_basestring  # C-accelerated JSON string escaping
from typing import Any, NamedTuple

import msgspec

from tiphys.core.status import _compact_layout as L
from tiphys.core.status import _compact_native as _native
from tiphys.core.status import ids
from tiphys.core.status._compact_layout import (F_BOUNDARY, F_CHILDREN, F_DISPLAY, F_FINISHED, F_HOST, F_ID,
                                                F_NAME, F_OUTBOUND, F_RESOURCES, F_STARTED, HASH_MARK, HOLE,
                                                HOLE_JSON, SAME_AS_PREVIOUS, WF_MARK)

__all__ = ["layout", "RowCache"]

_JSON = msgspec.json.Encoder()
_LAYOUT_ENCODER = msgspec.msgpack.Encoder()
_ABSENT = object()
_INT_ONLY = {int}
# resourcesDuration values become 2v or 2q+1 (q <= v) in a msgpack int column: only values
# within ±2^62 fit int64 doubled; others stay in the shape (encoding raised OverflowError).
_RES_BOUND = 1 << 62
_new_row = tuple.__new__


class _Row(NamedTuple):
    """What a node contributes, before it is placed among its neighbours."""

    name: str | None         # set iff F_NAME
    flags: int               # F_NAME, F_ID, F_STARTED, F_FINISHED, F_HOST, F_RESOURCES
    hash: int | None         # the ID's number (F_ID, not the root)
    other_id: str | None     # the ID as stored (not F_ID)
    digits: str | None       # str(hash), replaced by HASH_MARK in the shape
    refs: tuple              # raw boundaryID, displayName, children, outboundNodes (or _ABSENT)
    started: int | None
    finished: int | None
    host: str | None
    rkeys: tuple
    rvals: tuple
    strings: list
    text: str                # shape JSON without the reference fields, markers applied
    holes: int


class RowCache:
    """Rows of the last encode, keyed by node ID and valid while the node object is the same."""

    __slots__ = ("workflow", "rows", "native")

    def __init__(self) -> None:
        self.workflow: str | None = None
        self.rows: dict[str, tuple[Any, _Row]] = {}
        # The Cython loops' own form: (keys, nodes, rows) of the last call, parallel lists.
        self.native: tuple[list[str], list[Any], list[Any]] | None = None


def _common_prefix(a: str, b: str, guess: int) -> int:
    """Length of the common prefix of `a` and `b`; siblings usually share `guess` chars again."""
    limit = min(len(a), len(b))
    n = min(guess, limit)
    if a[:n] == b[:n]:
        while n < limit and a[n] == b[n]:
            n += 1
        return n
    lo, hi = 0, n - 1  # the answer is < n: binary search on C-level slice compares
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _markers(text: str, digits: str | None, wf_json: str) -> str:
    # Raw NULs never occur in JSON text, so the markers are unambiguous and reversible.
    if digits is not None:
        text = text.replace(digits, HASH_MARK)
    if wf_json:
        text = text.replace(wf_json, WF_MARK)
    return text


def _row(key: str, d: Any, workflow: str, wf_json: str) -> _Row:
    """The node-local part of a node's encoding (consumes `d`, a fresh builtins dict)."""
    if type(d) is not dict or d.get("id") != key:
        # The map key is the node's ID (`status.nodes` is keyed so); disagreement is a bug.
        got = d.get("id") if type(d) is dict else type(d).__name__
        raise ValueError(f"compact layout: node at key {key!r} has id {got!r}")
    flags = 0
    name = d.pop("name", None)
    if type(name) is str and "\x00" not in name:
        flags |= F_NAME
    elif name is not None:
        d["name"] = name
        name = None
    node_id = d.pop("id")
    digits = hash_ = other = None
    # Store the ID's hash rather than recompute FNV-1a per node in Python (~3 us each):
    # 4 incompressible bytes a node buy a 2x faster decode.
    if name == workflow:
        if node_id == name:
            flags |= F_ID
    elif node_id.startswith(workflow + "-"):
        tail = node_id[len(workflow) + 1:]
        if tail.isdigit() and tail.isascii() and str(int(tail)) == tail and int(tail) <= 0xFFFFFFFF:
            flags |= F_ID
            digits, hash_ = tail, int(tail)
    if not flags & F_ID:
        other = node_id
    pop = d.pop
    refs = (pop("boundaryID", _ABSENT), pop("displayName", _ABSENT), pop("children", _ABSENT),
            pop("outboundNodes", _ABSENT))
    started = L.epoch(d.get("startedAt"))
    if started is not None:
        del d["startedAt"]
        flags |= F_STARTED
    finished = L.epoch(d.get("finishedAt"))
    if finished is not None:
        del d["finishedAt"]
        flags |= F_FINISHED
    host = d.get("hostNodeName")
    if type(host) is str and "\x00" not in host:
        del d["hostNodeName"]
        flags |= F_HOST
    else:
        host = None
    rkeys: tuple = ()
    rvals: tuple = ()
    res = d.get("resourcesDuration")
    if (type(res) is dict and res and set(map(type, res.values())) == _INT_ONLY
            and all(-_RES_BOUND <= v < _RES_BOUND for v in res.values())):
        del d["resourcesDuration"]
        flags |= F_RESOURCES
        rkeys, rvals = tuple(res), tuple(res.values())
    # Holes are filled in JSON text order, which is the dicts' key order.
    holes: list[tuple[dict, str, str]] = []
    for part, io in d.items():
        if (part != "outputs" and part != "inputs") or type(io) is not dict:
            continue
        for field, value in io.items():
            if field == "parameters" and type(value) is list:
                for p in value:
                    v = p.get("value") if type(p) is dict else None
                    if type(v) is str:
                        holes.append((p, "value", v))
            elif field == "result" and part == "outputs" and type(value) is str:
                holes.append((io, "result", value))
    strings = [v for _, _, v in holes]
    for container, field, _ in holes:
        container[field] = HOLE
    text = _JSON.encode(d).decode() if d else ""
    if holes and text.count(HOLE_JSON) != len(holes):
        # Some other value spells a hole's JSON: this node keeps its strings in its shape.
        for container, field, v in holes:
            container[field] = v
        text = _JSON.encode(d).decode()
        strings = []
    packed: list[Any] = []
    for k, s in enumerate(strings):
        try:
            packed.append(strings.index(s, 0, k))
        except ValueError:
            packed.append(s)
    # tuple.__new__ skips NamedTuple's Python-level __new__ (a third of a row's cost otherwise).
    return _new_row(_Row, (name, flags, hash_, other, digits, refs, started, finished, host, rkeys, rvals,
                           packed, _markers(text, digits, wf_json) if text else "", len(strings)))


def _with_fields(text: str, extra: list[tuple[str, Any]], digits: str | None, wf_json: str) -> str:
    """A shape text with reference fields that did not resolve put back (JSON key order is free)."""
    body = ",".join(encode_basestring(k) + ":" + _JSON.encode(v).decode() for k, v in extra)
    body = _markers(body, digits, wf_json)
    if not text:
        return "{" + body + "}"
    return text[:-1] + ("," if text != "{}" else "") + body + "}"


def _order(keys: list[str], rows: dict[str, _Row]) -> list[str]:
    """Breadth-first from the roots (nodes nobody lists as a child), then any leftovers.

    Siblings end up adjacent (names front-code well) and children are mostly `i+1` deltas.
    """
    children = {k: [c for c in r.refs[2] if type(c) is str] if type(r.refs[2]) is list else []
                for k, r in rows.items()}
    referenced = {c for cs in children.values() for c in cs}
    seen: set[str] = set()
    order: list[str] = []
    ordered = sorted(keys)
    for pending in (deque(k for k in ordered if k not in referenced), deque(ordered)):
        while pending:
            key = pending.popleft()
            if key in seen or key not in rows:
                continue
            seen.add(key)
            order.append(key)
            pending.extend(children[key])
    return order


def _name_of(node: Any) -> Any:
    if type(node) is dict:
        return node.get("name")
    return getattr(node, "name", None)


def layout(nodes: Mapping[str, Any], /, *, workflow_name: str | None = None, cache: RowCache | None = None,
           native: bool = False) -> bytes:
    """The uncompressed msgpack columns of `nodes`; `cache` carries rows from call to call.

    `native` runs the per-node loops in `tiphys.core._fast._compact` (same bytes; the caller
    checks that it is built).
    """
    if not isinstance(nodes, Mapping):
        raise TypeError("compact layout: nodes must be a mapping of node id to node")
    workflow = workflow_name
    if workflow is None:
        # The root's ID equals its name (`Workflow.NodeID`).
        workflow = next((k for k, n in nodes.items() if _name_of(n) == k), "")
    wf_json = encode_basestring(workflow)[1:-1]
    cache = cache if cache is not None else RowCache()
    if cache.workflow != workflow:
        cache.workflow, cache.rows, cache.native = workflow, {}, None
    fast = _native.native if native else None
    if fast is not None:
        return _layout_native(fast, nodes, workflow, wf_json, cache)
    old = cache.rows
    rows: dict[str, _Row] = {}
    missing: list[str] = []
    for key, node in nodes.items():
        hit = old.get(key)
        if hit is not None and hit[0] is node:
            rows[key] = hit[1]
        else:
            missing.append(key)
    # One C call converts every replaced node (per-node calls cost more than the conversion).
    for key, d in zip(missing, msgspec.to_builtins([nodes[k] for k in missing])):
        rows[key] = _row(key, d, workflow, wf_json)
    cache.rows = {key: (node, rows[key]) for key, node in nodes.items()}
    order = _order(list(nodes), rows)
    columns = _place(order, rows, workflow, wf_json)
    return _LAYOUT_ENCODER.encode(L.Layout(L.LAYOUT_VERSION, workflow, len(order), *columns))


def _layout_native(fast: Any, nodes: Mapping[str, Any], workflow: str, wf_json: str, cache: RowCache) -> bytes:
    """`layout` with the per-node loops in `tiphys.core._fast._compact` (same bytes)."""
    keys = list(nodes)

    def reference_row(key: str, node: Any) -> tuple:  # for the nodes the extension leaves to us
        return _row(key, msgspec.to_builtins(node), workflow, wf_json)

    rows, cache.native = fast.rows(keys, list(nodes.values()), workflow, wf_json, _ABSENT, _JSON, reference_row,
                                   cache.native)
    columns = fast.columns(keys, rows, workflow, _ABSENT,
                           lambda text, back, digits: _with_fields(text, back, digits, wf_json), msgspec.Raw)
    # Layout's int columns arrive as msgpack already (msgspec.Raw); the Struct does not check
    # types on construction, and the encoder copies Raw values verbatim.
    return _LAYOUT_ENCODER.encode(L.Layout(L.LAYOUT_VERSION, workflow, len(keys), *columns))


def _put_refs(value: Any, i: int, index: dict[str, int], kids_col: list[int],
              prev_lists: list[list[int] | None], which: int) -> bool:
    """Append a children/outboundNodes list as indices; False if it does not resolve to nodes."""
    if type(value) is not list:
        return False
    refs = [index.get(v) if type(v) is str else None for v in value]
    if None in refs:
        return False
    if refs == prev_lists[which]:
        kids_col.append(SAME_AS_PREVIOUS)
    else:
        kids_col.append(len(refs))
        last = i
        for r in refs:
            kids_col.append(r - last)
            last = r
    prev_lists[which] = refs
    return True


def _place(order: list[str], rows: dict[str, _Row], workflow: str, wf_json: str) -> tuple:
    """The neighbour-dependent pass: the Layout's columns from `lcp` on, in `order`."""
    index = {k: i for i, k in enumerate(order)}
    names = [rows[k].name for k in order]
    lcp_col, suffix_col, shape_col, boundary_col, kids_col = [], [], [], [], []
    started_col, finished_col, host_col, res_col, strings_col, other_col = [], [], [], [], [], []
    hashes: list[int] = []
    shapes: dict[tuple, int] = {}
    hosts: dict[str, int] = {}
    prev_name, prev_lcp, prev_start, prev_boundary = "", 0, 0, 0
    prev_lists: list[list[int] | None] = [None, None]
    display_name = ids.display_name
    for i, key in enumerate(order):
        (name, flags, hash_, other_id, digits, refs, started, finished, host, rkeys, rvals, strings, text,
         holes) = rows[key]
        if name is not None:
            n = prev_lcp = _common_prefix(prev_name, name, prev_lcp)
            lcp_col.append(n)
            suffix_col.append(name[n:])
            prev_name = name
        if hash_ is not None:
            hashes.append(hash_)
        elif other_id is not None:
            other_col.append(other_id)
        boundary, shown, children, outbound = refs
        back: list[tuple[str, Any]] = []  # reference fields that must stay in the shape
        b = index.get(boundary) if type(boundary) is str else None
        if b is not None:
            flags |= F_BOUNDARY
            boundary_col.append(b - prev_boundary)
            prev_boundary = b
        elif boundary is not _ABSENT:
            back.append(("boundaryID", boundary))
        if shown is not _ABSENT:
            if name is not None and shown == display_name(name, names[b] if b is not None else None):
                flags |= F_DISPLAY
            else:
                back.append(("displayName", shown))
        if children is not _ABSENT:
            if _put_refs(children, i, index, kids_col, prev_lists, 0):
                flags |= F_CHILDREN
            else:
                back.append(("children", children))
        if outbound is not _ABSENT:
            if _put_refs(outbound, i, index, kids_col, prev_lists, 1):
                flags |= F_OUTBOUND
            else:
                back.append(("outboundNodes", outbound))
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
            for v in rvals:
                # Resource durations are requests x run time: store the multiple when exact.
                res_col.append(2 * (v // run) + 1 if run > 0 and v >= 0 and v % run == 0 else 2 * v)
        if strings:
            strings_col.extend(strings)
        if back:
            text = _with_fields(text, back, digits, wf_json)
        shape_key = (flags, rkeys, text, holes)
        s = shapes.get(shape_key)
        if s is None:
            s = shapes[shape_key] = len(shapes)
        shape_col.append(s)
    return (lcp_col, suffix_col, shape_col, [(f, list(r), t, h) for (f, r, t, h) in shapes], boundary_col,
            kids_col, started_col, finished_col, host_col, list(hosts), res_col, strings_col, other_col,
            struct.pack(f"<{len(hashes)}I", *hashes))
