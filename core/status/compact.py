"""The compact status form: tiphys-only, 20-30x denser than node JSON, for huge workflows.

Most of a node's JSON is implied by the rest of the status: its ID is a hash of its name, its
displayName follows from its boundary's name, its children are other nodes, and type, phase,
template, scope, progress, exit code, artifact layout... repeat across thousands of siblings.
The compact form stores only what is left, column by column, and lets zstd (with a dictionary
trained on realistic statuses, `nodes.zdict`) squeeze the columns.

Per node, in breadth-first order from the roots (siblings adjacent, children mostly `i+1`):

* **name** front-coded against the previous node's name (shared prefix length + suffix);
* **id** as its 32-bit number when it has Argo's `wf-<n>` form (4 raw bytes: deriving it from
  the name again would make a Python decode twice as slow); **displayName** dropped when it
  equals what `ids.display_name` derives;
* **boundaryID**, **children**, **outboundNodes** as node indices (a child list equal to the
  previous node's is one marker); **startedAt** as seconds since the previous node's start,
  **finishedAt** as seconds since its own start, when they are canonical RFC3339 seconds;
* **hostNodeName** as an index into a host table; **resourcesDuration** values as multiples of
  the node's run time when they are (they are requests x time), all within ±2^62 (doubled in
  an int64 column);
* the **strings** that vary per node (parameter values, `outputs.result`), a repeat within a
  node as a back-reference;
* everything else — the node's *shape* — as JSON text interned in a shape table, with the
  node's own hash and the workflow name replaced by markers (artifact keys contain them).

Anything that does not fit a rule simply stays in the shape, so every node round-trips
exactly. Decoding stamps each node out of its shape's prototype (decoded once, typed) with
`msgspec.structs.replace`; decoded nodes may therefore share nested values (an `outputs` with
no per-node strings, an artifact list) — like every Struct from a cache, they are not mutated.

Modules: `_compact_layout` (columns, markers), `_compact_encode` (per-node rows cached by node
object, then placement), `_compact_decode`. Those two are the specification; their per-node
loops also exist in Cython (`tiphys.core._fast._compact`, byte-identical output), which the
codec uses when it is built (`native=`; one warning at import when it is not).

Envelope: `COMPACT_PREFIX` + base64(zstd frame with the dictionary's ID in its header) of a
msgpack array whose first item is the layout version. The prefix is not base64, so Argo's
readers refuse the string instead of misreading it.
"""
from __future__ import annotations

import base64
import binascii
import importlib.resources
from collections.abc import Mapping
from typing import Generic, TypeVar

import msgspec
import zstandard

from tiphys.core.status import _compact_decode, _compact_encode, _compact_native
from tiphys.core.status._compact_layout import LAYOUT_VERSION, Layout
from tiphys.core.status.codec import COMPACT_PREFIX, DEFAULT_DECODE_LIMIT, paused_gc
from tiphys.core.status.errors import CorruptStatus

__all__ = ["CompactCodec", "LAYOUT_VERSION", "load_dictionary"]

N = TypeVar("N", bound=msgspec.Struct)

# zstd level 2. On the 5,000-node benchmark status (benchmarks/codec, `test_compact_levels`):
# level 2 writes 24.0 B/node in 0.15 µs/node, level 9 23.5 B/node in 0.9 µs/node — 2% of size
# for a quarter of the encode budget (≤ 3 µs/node). Levels 3-5 are both slower and larger than 2
# on these columns; the dictionary still shrinks small statuses (~3x at 12 nodes).
_LEVEL = 2


def load_dictionary() -> zstandard.ZstdCompressionDict | None:
    """The trained dictionary shipped as `nodes.zdict` (see `_train`), or None if not installed."""
    try:
        data = importlib.resources.files("tiphys.core.status").joinpath("nodes.zdict").read_bytes()
    except (FileNotFoundError, OSError):
        return None
    return zstandard.ZstdCompressionDict(data)


_DICT = load_dictionary()
_COMPRESSOR = zstandard.ZstdCompressor(level=_LEVEL, dict_data=_DICT, write_dict_id=True)
_DECOMPRESSOR = zstandard.ZstdDecompressor(dict_data=_DICT) if _DICT else zstandard.ZstdDecompressor()
_LAYOUT_DECODER = msgspec.msgpack.Decoder(Layout)


class CompactCodec(Generic[N]):
    """Encode and decode the compact form for one node Struct type."""

    def __init__(self, node_type: type[N], /, *, decode_limit: int = DEFAULT_DECODE_LIMIT,
                 level: int = _LEVEL, native: bool | None = None) -> None:
        """`native`: run the per-node loops in Cython (None: when the extension is built;
        True without it is an ImportError)."""
        if native is None:
            native = _compact_native.native is not None
        elif native and _compact_native.native is None:
            raise ImportError("tiphys.core._fast._compact is not built")
        self.native = native
        self.node_type = node_type
        self.decode_limit = decode_limit
        self._decoder = msgspec.json.Decoder(node_type)
        self._compressor = (_COMPRESSOR if level == _LEVEL else
                            zstandard.ZstdCompressor(level=level, dict_data=_DICT, write_dict_id=True))
        # Per-node rows of the last encode: a write re-derives only replaced nodes' rows.
        self._rows = _compact_encode.RowCache()

    def layout(self, nodes: Mapping[str, N], /, *, workflow_name: str | None = None) -> bytes:
        """The uncompressed msgpack columns (exposed for training the dictionary)."""
        # A row per node and the columns are thousands of acyclic objects: the cyclic GC would
        # only walk them (and the whole heap, in a full pass) for nothing — as in decode.
        with paused_gc():
            return _compact_encode.layout(nodes, workflow_name=workflow_name, cache=self._rows,
                                          native=self.native)

    def encode(self, nodes: Mapping[str, N], /, *, workflow_name: str | None = None) -> str:
        """The compact `compressedNodes` string of `nodes`.

        `workflow_name` (default: the root node's, whose ID is its name) only steers compression.
        """
        packed = self._compressor.compress(self.layout(nodes, workflow_name=workflow_name))
        return COMPACT_PREFIX + base64.b64encode(packed).decode("ascii")

    def forget(self) -> None:
        """Drop the per-node rows kept for the next encode."""
        self._rows = _compact_encode.RowCache()

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
            with paused_gc():
                keys, nodes = _compact_decode.rebuild(layout, self.node_type, self._decoder.decode,
                                                      native=self.native)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise CorruptStatus("json", f"a node shape: {exc}") from None
        # OverflowError/OSError: a timestamp column past what gmtime can render.
        except (IndexError, KeyError, ValueError, TypeError, StopIteration, OverflowError, OSError) as exc:
            raise CorruptStatus("layout", f"inconsistent columns: {exc!r}") from None
        if len(set(keys)) != len(keys):
            raise CorruptStatus("layout", "two nodes share an ID")
        return dict(zip(keys, nodes))
