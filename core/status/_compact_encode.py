"""The compact form's encoder: a node map into columns (see `compact` for the rules).

Works on the node map as JSON builtins (`msgspec.to_builtins`, encode names), so it serves
any node Struct type; each rule applies only where a value has the expected form, and the
rest stays in the node's shape — every node round-trips exactly.
"""
from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping
from json.encoder import encode_basestring  # C-accelerated JSON string escaping
from typing import Any

import msgspec

from tiphys.core.status import _compact_layout as L
from tiphys.core.status._compact_layout import (F_BOUNDARY, F_CHILDREN, F_DISPLAY, F_FINISHED, F_HOST, F_ID,
                                                F_NAME, F_OUTBOUND, F_RESOURCES, F_STARTED, HASH_MARK, HOLE,
                                                HOLE_JSON, SAME_AS_PREVIOUS, WF_MARK)
from tiphys.core.status import ids

__all__ = ["layout"]

_JSON = msgspec.json.Encoder()
_LAYOUT_ENCODER = msgspec.msgpack.Encoder()


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


def _order(nodes: Mapping[str, Any]) -> list[str]:
    """Breadth-first from the roots (nodes nobody lists as a child), then any leftovers."""
    referenced = {c for n in nodes.values() for c in (n.get("children") or ())}
    seen: set[str] = set()
    order: list[str] = []
    queue = deque(k for k in sorted(nodes) if k not in referenced)
    for pending in (queue, deque(sorted(nodes))):
        while pending:
            key = pending.popleft()
            if key in seen or key not in nodes:
                continue
            seen.add(key)
            order.append(key)
            pending.extend(c for c in (nodes[key].get("children") or ()) if type(c) is str)
    return order


class _Encoder:
    """One compact encode: fills the columns node by node."""

    def __init__(self, workflow: str, index: dict[str, int], names: list[Any]) -> None:
        self.workflow = workflow
        self.index = index
        self.names = names
        self.shapes: dict[tuple, int] = {}
        self.hosts: dict[str, int] = {}
        self.cols: dict[str, list[Any]] = {
            k: [] for k in ("lcp", "suffix", "shape", "boundary", "kids", "started", "finished",
                            "host", "resources", "strings", "other_ids")}
        self.hashes: list[int] = []
        self.id_prefix = workflow + "-"
        self.prev_boundary = 0
        self.wf_json = encode_basestring(workflow)[1:-1]
        self.prev_name = ""
        self.prev_lcp = 0
        self.prev_start = 0
        self.prev_lists: dict[str, list[int] | None] = {"children": None, "outboundNodes": None}

    def refs(self, value: Any) -> list[int] | None:
        index = self.index
        if type(value) is not list:
            return None
        out = []
        for item in value:
            i = index.get(item) if type(item) is str else None
            if i is None:
                return None
            out.append(i)
        return out

    def node(self, i: int, d: dict[str, Any]) -> None:
        cols = self.cols
        flags = 0
        name = d.pop("name", None)
        if type(name) is str and "\x00" not in name:
            flags |= F_NAME
            prev = self.prev_name
            n = _common_prefix(prev, name, self.prev_lcp)
            self.prev_lcp = n
            cols["lcp"].append(n)
            cols["suffix"].append(name[n:])
            self.prev_name = name
        elif name is not None:
            d["name"] = name
            name = None
        node_id = d.pop("id")
        digits = None
        # Store the ID's hash rather than recompute FNV-1a per node in Python (~3 us each):
        # 4 incompressible bytes a node buys a 2x faster decode.
        if name == self.workflow:
            if node_id == name:
                flags |= F_ID
        elif node_id.startswith(self.id_prefix):
            digits = node_id[len(self.id_prefix):]
            if digits.isdigit() and digits.isascii() and str(int(digits)) == digits \
                    and int(digits) <= 0xFFFFFFFF:
                flags |= F_ID
                self.hashes.append(int(digits))
            else:
                digits = None
        if not flags & F_ID:
            cols["other_ids"].append(node_id)
        boundary = d.get("boundaryID")
        b = self.index.get(boundary) if type(boundary) is str else None
        if b is not None:
            del d["boundaryID"]
            flags |= F_BOUNDARY
            cols["boundary"].append(b - self.prev_boundary)
            self.prev_boundary = b
        if name is not None:
            shown = d.get("displayName")
            if shown is not None and shown == ids.display_name(name, self.names[b] if b is not None else None):
                del d["displayName"]
                flags |= F_DISPLAY
        for field, flag in (("children", F_CHILDREN), ("outboundNodes", F_OUTBOUND)):
            refs = self.refs(d.get(field))
            if refs is not None:
                del d[field]
                flags |= flag
                kids = cols["kids"]
                if refs == self.prev_lists[field]:
                    kids.append(SAME_AS_PREVIOUS)
                else:
                    kids.append(len(refs))
                    last = i
                    for r in refs:
                        kids.append(r - last)
                        last = r
                self.prev_lists[field] = refs
        started = L.epoch(d.get("startedAt"))
        if started is not None:
            del d["startedAt"]
            flags |= F_STARTED
            cols["started"].append(started - self.prev_start)
            self.prev_start = started
        finished = L.epoch(d.get("finishedAt"))
        if finished is not None:
            del d["finishedAt"]
            flags |= F_FINISHED
            cols["finished"].append(finished - self.prev_start)
        host = d.get("hostNodeName")
        if type(host) is str and "\x00" not in host:
            del d["hostNodeName"]
            flags |= F_HOST
            h = self.hosts.get(host)
            if h is None:
                h = self.hosts[host] = len(self.hosts)
            cols["host"].append(h)
        rkeys: tuple = ()
        res = d.get("resourcesDuration")
        if type(res) is dict and res and {type(v) for v in res.values()} == {int}:
            del d["resourcesDuration"]
            flags |= F_RESOURCES
            rkeys = tuple(res)
            run = finished - started if started is not None and finished is not None else 0
            out = cols["resources"]
            for v in res.values():
                out.append(2 * (v // run) + 1 if run > 0 and v >= 0 and v % run == 0 else 2 * v)
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
        for container, key, _ in holes:
            container[key] = HOLE
        text = _JSON.encode(d).decode() if d else ""
        if holes and text.count(HOLE_JSON) != len(holes):
            # Some other value spells a hole's JSON: this node keeps its strings in its shape.
            for container, key, v in holes:
                container[key] = v
            text = _JSON.encode(d).decode()
            strings = []
        out = cols["strings"]
        for k, s in enumerate(strings):
            try:
                out.append(strings.index(s, 0, k))
            except ValueError:
                out.append(s)
        if text:
            # Raw NULs never occur in JSON text, so the markers are unambiguous and reversible.
            if digits is not None:
                text = text.replace(digits, HASH_MARK)
            if self.wf_json:
                text = text.replace(self.wf_json, WF_MARK)
        key = (flags, rkeys, text, len(strings))
        s = self.shapes.get(key)
        if s is None:
            s = self.shapes[key] = len(self.shapes)
        cols["shape"].append(s)


def layout(nodes: Mapping[str, Any], /, *, workflow_name: str | None = None) -> bytes:
    """The uncompressed msgpack columns (exposed for training the dictionary)."""
    plain = msgspec.to_builtins(nodes)
    if not isinstance(plain, dict):
        raise TypeError("compact layout: nodes must be a mapping of node id to node")
    workflow = workflow_name if workflow_name is not None else _guess_workflow(plain)
    order = _order(plain)
    index = {k: i for i, k in enumerate(order)}
    names = [n if type(n) is str and "\x00" not in n else None
             for n in (plain[k].get("name") for k in order)]
    enc = _Encoder(workflow, index, names)
    for i, key in enumerate(order):
        d = plain[key]
        if type(d) is not dict or d.get("id") != key:
            # The map key is the node's ID (`status.nodes` is keyed so); disagreement is a bug.
            raise ValueError(f"compact layout: node at key {key!r} has id {d.get('id')!r}")
        enc.node(i, d)
    cols = enc.cols
    columns = L.Layout(
        version=L.LAYOUT_VERSION, workflow=workflow, count=len(order),
        shapes=[[f, list(r), t, h] for (f, r, t, h) in enc.shapes], hosts=list(enc.hosts),
        hashes=struct.pack(f"<{len(enc.hashes)}I", *enc.hashes),
        **cols)
    return _LAYOUT_ENCODER.encode(columns)


def _guess_workflow(plain: Mapping[str, Any]) -> str:
    """The workflow's name: the root's ID equals its name (`Workflow.NodeID`)."""
    for key, node in plain.items():
        if type(node) is dict and node.get("name") == key:
            return key
    return ""
