"""The status codec: `status.nodes` as plain JSON, as Argo's `compressedNodes`, or compact.

Three forms of the same map node ID → NodeStatus:

* **plain** — the JSON object Argo keeps in `status.nodes`: keys sorted (Go sorts map keys),
  empty fields omitted (`omit_defaults`), as msgspec encodes the node Struct.
* **default** — `compressedNodes` readable by Argo's CLI/UI/server: base64 (std, padded) of a
  zstd frame (v4.1 reads zstd; option: a gzip member for older Argo) of exactly the plain JSON.
* **compact** — tiphys only, for workflows beyond Argo's reach: see `compact.py`. Its string
  starts with `COMPACT_PREFIX`, which is not base64, so Argo's readers fail loudly on it
  instead of misreading it, and ours tell the forms apart without a separate field.

`NodeCodec` is compiled once per node type (msgspec encoder/decoder, STYLE §7) and keeps the
encoded bytes of each node keyed by node ID. Nodes are frozen Structs that change only by
replacement, so "same object as last time" (`is`) proves "same bytes as last time"; a changed
node is re-encoded and spliced in. The spliced output is byte-identical to a full encode —
tests hold that. Decoding runs with the cyclic GC paused: a status decode allocates tens of
thousands of objects and nothing in it can form a cycle (performance.md §5.1: 1.5-3.9x).
"""
from __future__ import annotations

import base64
import binascii
import gc
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

from tiphys.core.status import _frames
from tiphys.core.status._frames import Algorithm
from tiphys.core.status.errors import CorruptStatus

__all__ = ["NodeCodec", "Algorithm", "COMPACT_PREFIX", "DEFAULT_DECODE_LIMIT", "paused_gc"]

N = TypeVar("N", bound=msgspec.Struct)

COMPACT_PREFIX = "tiphys-compact-v1:"
# Largest inflated node JSON we agree to read back (a status is bounded by etcd's 1.5 MiB
# compressed; 512 MiB of JSON is ~700k nodes, far past anything the compact form can hold).
DEFAULT_DECODE_LIMIT = 512 * 1024 * 1024


class paused_gc:
    """Context manager: the cyclic GC off for a bulk decode, restored as it was found."""

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()


class NodeCodec(Generic[N]):
    """Plain and default (Argo-readable) forms of a node map, for one node Struct type."""

    def __init__(self, node_type: type[N], /, *, decode_limit: int = DEFAULT_DECODE_LIMIT) -> None:
        self.node_type = node_type
        self.decode_limit = decode_limit
        self._encoder = msgspec.json.Encoder(order="deterministic")
        self._decoder = msgspec.json.Decoder(dict[str, node_type])
        self._raw_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
        # The last map encoded (id -> node object) and its output; every node still the same
        # object is still the same bytes. `_values` holds those bytes per id once split out.
        self._nodes: dict[str, Any] = {}
        self._last = b""
        self._values: dict[str, Any] | None = None
        self._prefixes: dict[str, bytes] = {}
        self._order: list[str] = []

    # -- plain JSON ------------------------------------------------------------------------------

    def encode_json(self, nodes: Mapping[str, N], /) -> bytes:
        """The plain JSON object of `nodes`, re-encoding only nodes replaced since the last call.

        Byte-identical to `msgspec.json.encode(nodes, order="deterministic")`.
        """
        prev = self._nodes
        changed = [k for k, v in nodes.items() if prev.get(k) is not v]
        resized = len(nodes) != len(prev)
        if not changed and not resized:
            return self._last
        if len(changed) * 4 > len(nodes) or not prev:
            # Mostly new: one C-level pass beats splicing (it is ~1.5x faster than node by node).
            out = self._encoder.encode(nodes)
            self._nodes, self._last, self._values, self._order = dict(nodes), out, None, []
            return out
        values = self._values
        if values is None:
            # Split the last output into per-node slices once; Raw slices copy nothing.
            values = self._values = self._raw_decoder.decode(self._last)
        encode = self._encoder.encode
        for key in changed:
            values[key] = encode(nodes[key])
        order = self._order
        if not order or resized or any(k not in prev for k in changed):
            # The key set changed (or was never sorted): re-sort, drop slices of removed nodes.
            if resized or len(values) != len(nodes):
                values = self._values = {k: values[k] for k in nodes}
            order = self._order = sorted(nodes)
            prefixes = self._prefixes
            for key in order:
                if key not in prefixes:
                    prefixes[key] = b"," + encode(key) + b":"
        prefixes = self._prefixes
        parts: list[Any] = []
        extend = parts.extend
        for key in order:
            extend((prefixes[key], values[key]))
        if parts:
            parts[0] = b'{' + parts[0][1:]
        else:
            parts.append(b"{")
        parts.append(b"}")
        out = b"".join(parts)
        self._nodes, self._last = dict(nodes), out
        return out

    def forget(self) -> None:
        """Drop the cached encoding (e.g. when the workflow leaves the informer's cache)."""
        self._nodes, self._last, self._values, self._prefixes, self._order = {}, b"", None, {}, []

    def decode_json(self, data: bytes | str, /) -> dict[str, N]:
        """Typed decode of a plain node map; errors name the JSON path."""
        try:
            with paused_gc():
                return self._decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise CorruptStatus("json", str(exc)) from None

    # -- default compressed form -----------------------------------------------------------------

    def compress(self, nodes: Mapping[str, N], /, *, algorithm: Algorithm = Algorithm.ZSTD,
                 level: int | None = None) -> str:
        """`compressedNodes`: base64(zstd|gzip(plain JSON)), readable by Argo's tools."""
        return self.compress_json(self.encode_json(nodes), algorithm=algorithm, level=level)

    @staticmethod
    def compress_json(data: bytes, /, *, algorithm: Algorithm = Algorithm.ZSTD, level: int | None = None) -> str:
        """`compressedNodes` of already-encoded plain JSON (the size policy encodes once)."""
        return base64.b64encode(_frames.compress(data, algorithm=algorithm, level=level)).decode("ascii")

    def inflate(self, text: str, /) -> bytes:
        """The plain JSON inside a default-form `compressedNodes` string."""
        if text.startswith(COMPACT_PREFIX):
            raise CorruptStatus("envelope", "compact status given to the default-form reader")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CorruptStatus("base64", str(exc)) from None
        return _frames.decompress(raw, limit=self.decode_limit)

    def decompress(self, text: str, /) -> dict[str, N]:
        """Decode a default-form `compressedNodes` (zstd or gzip, as Argo or tiphys wrote it)."""
        return self.decode_json(self.inflate(text))
