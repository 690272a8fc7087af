"""The status codec: `status.nodes` as plain JSON, as Argo's `compressedNodes`, or compact.

Three forms of the same map node ID → NodeStatus:

* **plain** — the JSON object Argo keeps in `status.nodes`: keys sorted (Go sorts map keys),
  empty fields omitted (`omit_defaults`), as msgspec encodes the node Struct.
* **default** — `compressedNodes` readable by Argo's CLI/UI/server: base64 (std, padded) of a
  zstd frame (v4.1 reads zstd; option: a gzip member for older Argo) of exactly the plain JSON.
* **compact** — tiphys only, for workflows beyond Argo's reach: see `compact.py`. Its string
  starts with `COMPACT_PREFIX`, which is not base64, so Argo's readers fail loudly on it
  instead of misreading it, and ours tell the forms apart without a separate field.

`NodeCodec` is compiled once per node type (msgspec encoder/decoder, STYLE §7) and remembers
its last output with the byte length of each node's entry. Nodes are frozen Structs that change
only by replacement, so "same object as last time" (`is`) proves "same bytes as last time": a
write re-encodes only replaced and new nodes and copies the runs of unchanged entries between
them from the last output. The result is byte-identical to a full encode — tests hold that. A
first write is one msgspec call over the whole map with no bookkeeping beyond a snapshot: a cold
default-form write then costs msgspec + zstd-1 + base64 and nothing else (benchmarks/codec).
Decoding runs with the cyclic GC paused: a status decode allocates tens of thousands of
objects and nothing in it can form a cycle (performance.md §5.1: 1.5-3.9x).
"""
from __future__ import annotations

import base64
import binascii
import bisect
import gc
import itertools
import operator
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
    """Plain and default (Argo-readable) forms of a node map, for one node Struct type.

    Keep one codec per workflow: it remembers that workflow's last output. Shared between
    workflows it stays correct (every call then looks mostly changed and encodes in full) but
    loses the splice. The splice trusts that a node object it has seen is never mutated —
    true of the frozen spec Structs; a mutable node type must be replaced, not changed in place.
    """

    def __init__(self, node_type: type[N], /, *, decode_limit: int = DEFAULT_DECODE_LIMIT) -> None:
        self.node_type = node_type
        self.decode_limit = decode_limit
        self._encoder = msgspec.json.Encoder(order="deterministic")
        self._decoder = msgspec.json.Decoder(dict[str, node_type])
        self._raw_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
        self.forget()

    # -- plain JSON ------------------------------------------------------------------------------
    #
    # The last output is `{E0,E1,...}` with entry Ei = json(key_i) ":" json(node_i), keys sorted.
    # Invariants between calls: `_order` lists the keys of `_nodes` sorted; `_klen[i]`/`_vlen[i]`
    # are the byte lengths of json(key_i)/json(node_i) in `_last`, or `_klen` is empty when the
    # last call was a full encode (lengths are then read back lazily from `_last`).

    def encode_json(self, nodes: Mapping[str, N], /) -> bytes:
        """The plain JSON object of `nodes`, re-encoding only nodes replaced since the last call.

        Byte-identical to `msgspec.json.encode(nodes, order="deterministic")`: unchanged nodes
        are copied from the last output as whole runs of bytes, changed and new ones encoded.
        """
        prev = self._nodes
        if not prev:
            # Cold (first write, or after `forget`): nothing to splice against, so no scan either.
            return self._encode_full(nodes)
        keys = list(nodes)
        if keys == self._keys:
            # Same IDs in the same order (most writes): compare node objects pairwise in C.
            changed = list(itertools.compress(keys, map(operator.is_not, nodes.values(), prev.values())))
            removed: list[str] = []
        else:
            changed = [k for k, v in nodes.items() if prev.get(k) is not v]
            added = sum(1 for k in changed if k not in prev)
            removed = [k for k in prev if k not in nodes] if len(prev) + added != len(nodes) else []
        if not changed and not removed:
            return self._last
        if (len(changed) + len(removed)) * 4 > len(nodes):
            return self._encode_full(nodes)  # mostly new: one C-level pass beats any splicing
        if not self._klen:
            self._index_last()
        out = self._splice(nodes, changed, removed)
        self._nodes, self._keys = dict(nodes), keys
        return out

    def _encode_full(self, nodes: Mapping[str, N]) -> bytes:
        """One msgspec pass over the whole map; entry lengths are indexed lazily if a splice follows."""
        out = self._encoder.encode(nodes)
        self._nodes = dict(nodes)
        self._keys = list(self._nodes)
        self._last, self._order, self._klen, self._vlen = out, [], [], []
        return out

    def _index_last(self) -> None:
        """Byte lengths of every entry of `_last` (after a full encode), read with one C pass."""
        raw = self._raw_decoder.decode(self._last)
        encode = self._encoder.encode
        self._order = list(raw)  # already sorted: we wrote it
        self._klen = [len(encode(k)) for k in self._order]
        self._vlen = [len(v) for v in raw.values()]

    def _splice(self, nodes: Mapping[str, N], changed: list[str], removed: list[str]) -> bytes:
        order, klen, vlen, last = self._order, self._klen, self._vlen, memoryview(self._last)
        pos = {k: i for i, k in enumerate(order)} if len(changed) + len(removed) > 64 else None
        encode = self._encoder.encode

        def where(key: str) -> int:
            if pos is not None:
                return pos.get(key, -1)
            i = bisect.bisect_left(order, key)
            return i if i < len(order) and order[i] == key else -1

        # Events at old entry positions: (position, 0=insert before | 1=replace | 2=drop, key).
        events: list[tuple[int, int, str]] = []
        for key in changed:
            i = where(key)
            events.append((bisect.bisect_left(order, key), 0, key) if i < 0 else (i, 1, key))
        events.extend((where(key), 2, key) for key in removed)
        events.sort()
        starts = list(itertools.accumulate([k + v + 2 for k, v in zip(klen, vlen)], initial=1))
        pieces: list[Any] = []
        new_order: list[str] = []
        new_klen: list[int] = []
        new_vlen: list[int] = []
        cur = 0
        for at, kind, key in events:
            if at > cur:
                # Unchanged entries cur..at-1 as one run of bytes (commas inside included).
                pieces.append(last[starts[cur]:starts[at] - 1])
                new_order += order[cur:at]
                new_klen += klen[cur:at]
                new_vlen += vlen[cur:at]
                cur = at
            if kind == 2:
                cur = at + 1
                continue
            k, v = encode(key), encode(nodes[key])
            pieces.append(k + b":" + v)
            new_order.append(key)
            new_klen.append(len(k))
            new_vlen.append(len(v))
            if kind == 1:
                cur = at + 1
        if cur < len(order):
            pieces.append(last[starts[cur]:starts[-1] - 1])
            new_order += order[cur:]
            new_klen += klen[cur:]
            new_vlen += vlen[cur:]
        out = b"{" + b",".join(pieces) + b"}"
        self._order, self._klen, self._vlen, self._last = new_order, new_klen, new_vlen, out
        return out

    def forget(self) -> None:
        """Drop the cached encoding (e.g. when the workflow leaves the informer's cache)."""
        self._nodes: dict[str, Any] = {}
        self._keys: list[str] = []  # the keys of `_nodes`, in its order
        self._last = b""
        self._order: list[str] = []
        self._klen: list[int] = []
        self._vlen: list[int] = []

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
