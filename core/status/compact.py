"""The compact status form: tiphys-only, 20-30x denser than node JSON, for huge workflows.

Most of a node's JSON is implied by the rest of the status: its ID is a hash of its name, its
displayName follows from its boundary's name, its children are other nodes, and type, phase,
template, scope, progress, exit code, artifact layout... repeat across thousands of siblings.
The compact form stores only what is left, column by column, and lets zstd (with a dictionary
trained on realistic statuses, `nodes.zdict`) squeeze the columns.

Per node, in breadth-first order from the roots (siblings adjacent, children mostly `i+1`):

* **name** front-coded against the previous node's name (shared prefix length + suffix);
* **id** and **displayName** dropped when they equal what `ids` derives (kept otherwise);
* **boundaryID**, **children**, **outboundNodes** as node indices (a child list equal to the
  previous node's is one marker); **startedAt** as seconds since the previous node's start,
  **finishedAt** as seconds since its own start, when they are canonical RFC3339 seconds;
* **hostNodeName** as an index into a host table; **resourcesDuration** values as multiples of
  the node's run time when they are (they are requests x time);
* the **strings** that vary per node (parameter values, `outputs.result`), a repeat within a
  node as a back-reference;
* everything else — the node's *shape* — as JSON text interned in a shape table, with the
  node's own hash and the workflow name replaced by markers (artifact keys contain them).

Anything that does not fit a rule simply stays in the shape, so every node round-trips
exactly. Decoding rebuilds each node's JSON from its shape's fragments and decodes the whole
map in one typed msgspec pass.

Envelope: `COMPACT_PREFIX` + base64(zstd frame with the dictionary's ID in its header) of a
msgpack array whose first item is the layout version. The prefix is not base64, so Argo's
readers refuse the string instead of misreading it.
"""
from __future__ import annotations

import base64
import binascii
import importlib.resources
import calendar
import struct
import time
from collections import deque
from collections.abc import Mapping
from json.encoder import encode_basestring  # C-accelerated JSON string escaping
from typing import Any, Generic, TypeVar

import msgspec
import zstandard

from tiphys.core.status import ids
from tiphys.core.status.codec import COMPACT_PREFIX, DEFAULT_DECODE_LIMIT, paused_gc
from tiphys.core.status.errors import CorruptStatus

__all__ = ["CompactCodec", "LAYOUT_VERSION", "load_dictionary"]

N = TypeVar("N", bound=msgspec.Struct)

LAYOUT_VERSION = 1
_LEVEL = 9

# Shape flags: which specialised fields were taken out of the node into columns.
_F_ID, _F_DISPLAY, _F_BOUNDARY, _F_CHILDREN, _F_OUTBOUND = 1, 2, 4, 8, 16
_F_STARTED, _F_FINISHED, _F_HOST, _F_RESOURCES, _F_NAME = 32, 64, 128, 256, 512
_SAME_AS_PREVIOUS = -1  # a children/outbound count: the same list as the previous node's

# Markers inside shape JSON; JSON-escaped NULs cannot collide with a real value's text
# unless it holds a literal NUL, which the encoder checks for.
_HASH_MARK = "\x00h"
_WF_MARK = "\x00w"
_HOLE = "\x00s"
_HOLE_JSON = '"\\u0000s"'


class _Layout(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """The columns; `version` first so a reader can refuse a layout it does not know."""

    version: int
    workflow: str
    count: int
    lcp: list[int]             # per node: shared prefix with the previous name (-1: no name)
    suffix: list[str]          # per named node: the rest of its name
    shape: list[int]           # per node: index into `shapes`
    shapes: list[list[Any]]    # [flags, resource keys, shape JSON, number of string holes]
    boundary: list[int]        # per node with _F_BOUNDARY: index of its boundary node
    kids: list[int]            # children then outbound, per flag: count (or -1) and deltas
    started: list[int]         # per _F_STARTED node: seconds since the previous start
    finished: list[int]        # per _F_FINISHED node: seconds since its start (or the previous start)
    host: list[int]            # per _F_HOST node: index into `hosts`
    hosts: list[str]
    resources: list[int]       # per _F_RESOURCES node, per key: 2q+1 (q x run time) or 2v
    strings: list[Any]         # per hole: a string, or an int back-reference within the node
    other_ids: list[str]       # per node without _F_ID: its ID as stored
    hashes: bytes              # per _F_ID node but the root: the ID's number, uint32 little-endian


def load_dictionary() -> zstandard.ZstdCompressionDict | None:
    """The trained dictionary shipped as `nodes.zdict`, or None if it is not installed."""
    try:
        data = importlib.resources.files("tiphys.core.status").joinpath("nodes.zdict").read_bytes()
    except (FileNotFoundError, OSError):
        return None
    return zstandard.ZstdCompressionDict(data)


_DICT = load_dictionary()
_COMPRESSOR = zstandard.ZstdCompressor(level=_LEVEL, dict_data=_DICT, write_dict_id=True)
_PLAIN_COMPRESSOR = zstandard.ZstdCompressor(level=_LEVEL)
_DECOMPRESSOR = zstandard.ZstdDecompressor(dict_data=_DICT) if _DICT else zstandard.ZstdDecompressor()
_LAYOUT_ENCODER = msgspec.msgpack.Encoder()
_LAYOUT_DECODER = msgspec.msgpack.Decoder(_Layout)
_JSON = msgspec.json.Encoder()

_epoch_cache: dict[str, int] = {}
_text_cache: dict[int, str] = {}


def _epoch(text: Any) -> int | None:
    """Seconds of a canonical `YYYY-MM-DDTHH:MM:SSZ`, else None (the value stays in the shape)."""
    value = _epoch_cache.get(text)
    if value is not None:
        return value
    if type(text) is not str or len(text) != 20 or text[10] != "T" or text[19] != "Z":
        return None
    try:
        value = calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None
    if _rfc3339(value) != text:  # e.g. a year < 1000 that strftime would pad differently
        return None
    if len(_epoch_cache) > 1 << 16:
        _epoch_cache.clear()
    _epoch_cache[text] = value
    return value


def _rfc3339(epoch: int) -> str:
    text = _text_cache.get(epoch)
    if text is None:
        if len(_text_cache) > 1 << 16:
            _text_cache.clear()
        text = _text_cache[epoch] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return text


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
            flags |= _F_NAME
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
                flags |= _F_ID
        elif node_id.startswith(self.id_prefix):
            digits = node_id[len(self.id_prefix):]
            if digits.isdigit() and digits.isascii() and str(int(digits)) == digits \
                    and int(digits) <= 0xFFFFFFFF:
                flags |= _F_ID
                self.hashes.append(int(digits))
            else:
                digits = None
        if not flags & _F_ID:
            cols["other_ids"].append(node_id)
        boundary = d.get("boundaryID")
        b = self.index.get(boundary) if type(boundary) is str else None
        if b is not None:
            del d["boundaryID"]
            flags |= _F_BOUNDARY
            cols["boundary"].append(b - self.prev_boundary)
            self.prev_boundary = b
        if name is not None:
            shown = d.get("displayName")
            if shown is not None and shown == ids.display_name(name, self.names[b] if b is not None else None):
                del d["displayName"]
                flags |= _F_DISPLAY
        for field, flag in (("children", _F_CHILDREN), ("outboundNodes", _F_OUTBOUND)):
            refs = self.refs(d.get(field))
            if refs is not None:
                del d[field]
                flags |= flag
                kids = cols["kids"]
                if refs == self.prev_lists[field]:
                    kids.append(_SAME_AS_PREVIOUS)
                else:
                    kids.append(len(refs))
                    last = i
                    for r in refs:
                        kids.append(r - last)
                        last = r
                self.prev_lists[field] = refs
        started = _epoch(d.get("startedAt"))
        if started is not None:
            del d["startedAt"]
            flags |= _F_STARTED
            cols["started"].append(started - self.prev_start)
            self.prev_start = started
        finished = _epoch(d.get("finishedAt"))
        if finished is not None:
            del d["finishedAt"]
            flags |= _F_FINISHED
            cols["finished"].append(finished - self.prev_start)
        host = d.get("hostNodeName")
        if type(host) is str and "\x00" not in host:
            del d["hostNodeName"]
            flags |= _F_HOST
            h = self.hosts.get(host)
            if h is None:
                h = self.hosts[host] = len(self.hosts)
            cols["host"].append(h)
        rkeys: tuple = ()
        res = d.get("resourcesDuration")
        if type(res) is dict and res and all(type(v) is int for v in res.values()):
            del d["resourcesDuration"]
            flags |= _F_RESOURCES
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
            container[key] = _HOLE
        text = _JSON.encode(d).decode() if d else ""
        if holes and text.count(_HOLE_JSON) != len(holes):
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
                text = text.replace(digits, _HASH_MARK)
            if self.wf_json:
                text = text.replace(self.wf_json, _WF_MARK)
        key = (flags, rkeys, text, len(strings))
        s = self.shapes.get(key)
        if s is None:
            s = self.shapes[key] = len(self.shapes)
        cols["shape"].append(s)


def _fragments(text: str) -> list[str]:
    """Split a shape's JSON (markers restored to JSON escapes) at its string holes."""
    return text.split(_HOLE_JSON)


class CompactCodec(Generic[N]):
    """Encode and decode the compact form for one node Struct type."""

    def __init__(self, node_type: type[N], /, *, decode_limit: int = DEFAULT_DECODE_LIMIT,
                 level: int = _LEVEL) -> None:
        self.node_type = node_type
        self.decode_limit = decode_limit
        self._decoder = msgspec.json.Decoder(list[node_type])
        self._compressor = (zstandard.ZstdCompressor(level=level, dict_data=_DICT, write_dict_id=True)
                            if level != _LEVEL else _COMPRESSOR)

    # -- encode ----------------------------------------------------------------------------------

    def layout(self, nodes: Mapping[str, N], /, *, workflow_name: str | None = None) -> bytes:
        """The uncompressed msgpack columns (exposed for training the dictionary)."""
        plain = msgspec.to_builtins(nodes)
        if not isinstance(plain, dict):
            raise TypeError("CompactCodec: nodes must be a mapping of node id to node")
        workflow = workflow_name if workflow_name is not None else _guess_workflow(plain)
        order = _order(plain)
        index = {k: i for i, k in enumerate(order)}
        names = [n if type(n) is str and "\x00" not in n else None
                 for n in (plain[k].get("name") for k in order)]
        enc = _Encoder(workflow, index, names)
        for i, key in enumerate(order):
            d = plain[key]
            if d.get("id") != key:
                # The map key is the node's ID; a node whose `id` disagrees keeps both.
                raise ValueError(f"CompactCodec: node at key {key!r} has id {d.get('id')!r}")
            enc.node(i, d)
        cols = enc.cols
        layout = _Layout(
            version=LAYOUT_VERSION, workflow=workflow, count=len(order),
            shapes=[[f, list(r), t, h] for (f, r, t, h) in enc.shapes], hosts=list(enc.hosts),
            hashes=struct.pack(f"<{len(enc.hashes)}I", *enc.hashes),
            **cols)
        return _LAYOUT_ENCODER.encode(layout)

    def encode(self, nodes: Mapping[str, N], /, *, workflow_name: str | None = None) -> str:
        """The compact `compressedNodes` string of `nodes`."""
        packed = self._compressor.compress(self.layout(nodes, workflow_name=workflow_name))
        return COMPACT_PREFIX + base64.b64encode(packed).decode("ascii")

    # -- decode ----------------------------------------------------------------------------------

    def decode(self, text: str, /) -> dict[str, N]:
        """Nodes of a compact string; CorruptStatus names the stage that failed."""
        if not text.startswith(COMPACT_PREFIX):
            raise CorruptStatus("envelope", f"compact status must start with {COMPACT_PREFIX!r}")
        try:
            raw = base64.b64decode(text[len(COMPACT_PREFIX):], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CorruptStatus("base64", str(exc)) from None
        try:
            params = zstandard.get_frame_parameters(raw)
        except zstandard.ZstdError as exc:
            raise CorruptStatus("zstd", f"bad frame header: {exc}") from None
        if params.dict_id and (_DICT is None or params.dict_id != _DICT.dict_id()):
            raise CorruptStatus("zstd", f"written with dictionary {params.dict_id}, which this build "
                                        f"does not ship")
        if params.content_size > self.decode_limit:
            raise CorruptStatus("zstd", f"declared size {params.content_size} exceeds the limit")
        try:
            data = _DECOMPRESSOR.decompress(raw, allow_extra_data=False)
        except zstandard.ZstdError as exc:
            raise CorruptStatus("zstd", str(exc)) from None
        try:
            layout = _LAYOUT_DECODER.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise CorruptStatus("layout", str(exc)) from None
        if layout.version != LAYOUT_VERSION:
            raise CorruptStatus("layout", f"unknown compact layout version {layout.version}")
        try:
            texts, keys = _rebuild(layout)
        except (IndexError, KeyError, ValueError, TypeError, StopIteration) as exc:
            raise CorruptStatus("layout", f"inconsistent columns: {exc!r}") from None
        try:
            with paused_gc():
                nodes = self._decoder.decode("[" + ",".join(texts) + "]")
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise CorruptStatus("json", str(exc)) from None
        return dict(zip(keys, nodes))


def _guess_workflow(plain: Mapping[str, Any]) -> str:
    """The workflow's name: the root's ID equals its name (`Workflow.NodeID`)."""
    for key, node in plain.items():
        if type(node) is dict and node.get("name") == key:
            return key
    return ""


def _rebuild(layout: _Layout) -> tuple[list[str], list[str]]:
    """Each node's JSON text and ID, in stored order."""
    wf = layout.workflow
    wf_json = encode_basestring(wf)[1:-1]
    count = layout.count
    shape_of = layout.shape
    if len(shape_of) != count:
        raise ValueError("shape column length")
    shapes = []
    for flags, rkeys, text, holes in layout.shapes:
        text = text.replace(_WF_MARK, wf_json)
        frags = text[1:-1].split(_HOLE_JSON) if holes else [text[1:-1]]
        if len(frags) != holes + 1:
            raise ValueError(f"shape with {holes} holes has {len(frags) - 1}")
        shapes.append((flags, [encode_basestring(k) for k in rkeys], frags, _HASH_MARK in text))
    node_flags = [shapes[s][0] for s in shape_of]

    # Pass 1: names and IDs, which every other field may refer to.
    names: list[str | None] = [None] * count
    ids_: list[str] = [""] * count
    lcp, suffix, other = iter(layout.lcp), iter(layout.suffix), iter(layout.other_ids)
    if len(layout.hashes) % 4:
        raise ValueError("hash column length")
    hashes = iter(struct.unpack(f"<{len(layout.hashes) // 4}I", layout.hashes))
    digits: list[str | None] = [None] * count
    prev_name = ""
    prefix = wf + "-"
    for i, flags in enumerate(node_flags):
        name = None
        if flags & _F_NAME:
            name = names[i] = prev_name = prev_name[:next(lcp)] + next(suffix)
        if flags & _F_ID:
            if name == wf:
                ids_[i] = wf
            else:
                digits[i] = h = str(next(hashes))
                ids_[i] = prefix + h
        else:
            ids_[i] = next(other)
    id_json = [encode_basestring(x) for x in ids_]

    # Pass 2: each node's JSON text.
    boundary, kids, started, finished = (iter(layout.boundary), iter(layout.kids), iter(layout.started),
                                         iter(layout.finished))
    host, resources, strings = iter(layout.host), iter(layout.resources), iter(layout.strings)
    hosts = [encode_basestring(h) for h in layout.hosts]
    texts: list[str] = [""] * count
    prev_start = prev_boundary = 0
    prev_lists: list[str] = ["", ""]
    display_name = ids.display_name
    for i in range(count):
        flags, rkeys, frags, has_hash = shapes[shape_of[i]]
        name = names[i]
        parts: list[str] = ['"id":' + id_json[i]]
        if name is not None:
            parts.append('"name":' + encode_basestring(name))
        b = None
        if flags & _F_BOUNDARY:
            b = prev_boundary = prev_boundary + next(boundary)
            if b < 0:
                raise IndexError(f"node {i}: boundary index {b}")
            parts.append('"boundaryID":' + id_json[b])
        if flags & _F_DISPLAY:
            parts.append('"displayName":' + encode_basestring(display_name(name, names[b] if b is not None
                                                                             else None)))
        for flag, field, key in ((_F_CHILDREN, 0, '"children":['), (_F_OUTBOUND, 1, '"outboundNodes":[')):
            if flags & flag:
                n = next(kids)
                if n == _SAME_AS_PREVIOUS:
                    listed = prev_lists[field]
                else:
                    refs, last = [], i
                    for _ in range(n):
                        last += next(kids)
                        if last < 0:
                            raise IndexError(f"node {i}: reference {last}")
                        refs.append(id_json[last])
                    listed = prev_lists[field] = ",".join(refs)
                parts.append(key + listed + "]")
        start = finish = None
        if flags & _F_STARTED:
            start = prev_start = prev_start + next(started)
            parts.append('"startedAt":"' + _rfc3339(start) + '"')
        if flags & _F_FINISHED:
            finish = prev_start + next(finished)
            parts.append('"finishedAt":"' + _rfc3339(finish) + '"')
        if flags & _F_HOST:
            parts.append('"hostNodeName":' + hosts[next(host)])
        if flags & _F_RESOURCES:
            run = finish - start if start is not None and finish is not None else 0
            items = []
            for k in rkeys:
                x = next(resources)
                items.append(k + ":" + str((x >> 1) * run if x & 1 else x >> 1))
            parts.append('"resourcesDuration":{' + ",".join(items) + "}")
        if len(frags) > 1:
            vals: list[str] = []
            body = [frags[0]]
            for frag in frags[1:]:
                s = next(strings)
                if type(s) is int:
                    s = vals[s]
                vals.append(s)
                body.append(encode_basestring(s))
                body.append(frag)
            shape_text = "".join(body)
        else:
            shape_text = frags[0]
        if has_hash:
            h = digits[i]
            if h is None:
                raise ValueError(f"node {i}: hash marker without a hashed ID")
            shape_text = shape_text.replace(_HASH_MARK, h)
        if shape_text:
            parts.append(shape_text)
        texts[i] = "{" + ",".join(parts) + "}"
    for column in (lcp, suffix, other, hashes, boundary, kids, started, finished, host, resources, strings):
        if next(column, None) is not None:
            raise ValueError("a column is longer than its nodes use")
    return texts, ids_
