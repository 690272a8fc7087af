"""Choosing how `status.nodes` is stored, and reading back whichever form was stored.

Argo's packer (`workflow/packer/packer.go`) keeps nodes plain until the marshalled workflow
passes `MAX_WORKFLOW_SIZE`, then compresses them into `compressedNodes`, then offloads or fails.
tiphys adds a denser tier before failing:

    object size with plain nodes      <= compress_above  ->  plain `status.nodes`
    object size with default form     <= compact_above   ->  `compressedNodes`, Argo-readable
    object size with compact form     <= hard_limit      ->  `compressedNodes`, tiphys-only
    otherwise                                            ->  StatusTooLarge (workflow Error)

"Object size" is `base_size` — the bytes of the workflow without its nodes, which the caller
measures from what it is about to send — plus the node payload. Nothing is marshalled only to
be measured (STYLE anti-pattern 8): each tier's bytes are the bytes written if it is chosen.
Thresholds are settings passed in, never read from the environment (anti-pattern 5).

`Packer.unpack` is the one reader: plain nodes, zstd or gzip `compressedNodes` (Argo's or
ours) and the compact form, told apart by the string's prefix and magic bytes.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

from tiphys.core.status._frames import Algorithm
from tiphys.core.status.codec import COMPACT_PREFIX, DEFAULT_DECODE_LIMIT, NodeCodec
from tiphys.core.status.compact import CompactCodec
from tiphys.core.status.errors import CorruptStatus, StatusTooLarge

__all__ = ["Form", "SizeSettings", "Packed", "Packer", "ARGO_MAX_WORKFLOW_SIZE", "decode_nodes"]

N = TypeVar("N", bound=msgspec.Struct)

ARGO_MAX_WORKFLOW_SIZE = 1024 * 1024
# `,"nodes":` or `,"compressedNodes":""` around the payload inside the status object.
_NODES_FIELD_OVERHEAD = len(',"nodes":')
_COMPRESSED_FIELD_OVERHEAD = len(',"compressedNodes":""')


class Form(enum.StrEnum):
    """Which form a status was packed in."""

    PLAIN = "plain"
    DEFAULT = "default"
    COMPACT = "compact"


class SizeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Size thresholds of the packer, in bytes of the serialised workflow object.

    The defaults are Argo's: one `MAX_WORKFLOW_SIZE` (1 MiB) for every tier. `hard_limit` may be
    raised towards etcd's 1.5 MiB request limit; past that the API server refuses the write.
    `allow_compact=False` keeps every status readable by Argo's own tools (fail instead).
    """

    compress_above: int = ARGO_MAX_WORKFLOW_SIZE
    compact_above: int = ARGO_MAX_WORKFLOW_SIZE
    hard_limit: int = ARGO_MAX_WORKFLOW_SIZE
    algorithm: Algorithm = Algorithm.ZSTD
    allow_compact: bool = True
    decode_limit: int = DEFAULT_DECODE_LIMIT

    def __post_init__(self) -> None:
        if not 0 < self.compress_above <= self.compact_above <= self.hard_limit:
            raise ValueError(f"SizeSettings: need 0 < compress_above ({self.compress_above}) <= compact_above "
                             f"({self.compact_above}) <= hard_limit ({self.hard_limit})")


class Packed(msgspec.Struct, frozen=True, kw_only=True):
    """The packer's decision: set exactly one of `nodes` (raw JSON) or `compressed_nodes`."""

    form: Form
    nodes: msgspec.Raw | None = None
    compressed_nodes: str | None = None
    size: int  # bytes of the whole object with this payload


class Packer(Generic[N]):
    """Packs a node map by the size policy and unpacks any stored form, for one node type.

    Keep one packer per workflow: its codecs remember the last write to re-encode only what
    changed (see `NodeCodec`).
    """

    def __init__(self, node_type: type[N], /, *, settings: SizeSettings = SizeSettings()) -> None:
        self.settings = settings
        self.json = NodeCodec(node_type, decode_limit=settings.decode_limit)
        self.compact = CompactCodec(node_type, decode_limit=settings.decode_limit)

    def pack(self, nodes: Mapping[str, N], /, *, base_size: int, workflow_name: str | None = None) -> Packed:
        """The smallest-necessary form for `nodes` in an object of `base_size` other bytes.

        `base_size` is the length of the workflow serialised without `nodes`/`compressedNodes`
        — bytes the caller sends anyway; it splices the payload in (`Packed.nodes` is raw JSON).
        """
        s = self.settings
        plain = self.json.encode_json(nodes)
        size = base_size + _NODES_FIELD_OVERHEAD + len(plain)
        if size <= s.compress_above:
            return Packed(form=Form.PLAIN, nodes=msgspec.Raw(plain), size=size)
        text = self.json.compress_json(plain, algorithm=s.algorithm)
        size = base_size + _COMPRESSED_FIELD_OVERHEAD + len(text)
        if size <= s.compact_above:
            return Packed(form=Form.DEFAULT, compressed_nodes=text, size=size)
        if not s.allow_compact:
            if size <= s.hard_limit:
                return Packed(form=Form.DEFAULT, compressed_nodes=text, size=size)
            raise StatusTooLarge(size, s.hard_limit, form=Form.DEFAULT)
        text = self.compact.encode(nodes, workflow_name=workflow_name)
        size = base_size + _COMPRESSED_FIELD_OVERHEAD + len(text)
        if size <= s.hard_limit:
            return Packed(form=Form.COMPACT, compressed_nodes=text, size=size)
        raise StatusTooLarge(size, s.hard_limit, form=Form.COMPACT)

    def unpack(self, *, nodes: Any = None, compressed_nodes: str | None = None) -> dict[str, N]:
        """Node map from whichever form the status holds (never both, as Argo guarantees).

        `nodes` may be a map of node Structs (returned as a dict), a map of JSON builtins, or
        raw JSON bytes/str; `compressed_nodes` a default-form (zstd/gzip) or compact string.
        """
        if nodes and compressed_nodes:
            raise CorruptStatus("envelope", "both status.nodes and status.compressedNodes are set")
        if compressed_nodes:
            if compressed_nodes.startswith(COMPACT_PREFIX):
                return self.compact.decode(compressed_nodes)
            return self.json.decompress(compressed_nodes)
        if nodes is None:
            return {}
        if isinstance(nodes, (bytes, bytearray, memoryview, str, msgspec.Raw)):
            return self.json.decode_json(bytes(nodes) if isinstance(nodes, msgspec.Raw) else nodes)
        if isinstance(nodes, Mapping):
            node_type = self.json.node_type
            if all(type(v) is node_type for v in nodes.values()):
                return dict(nodes)
            try:
                return msgspec.convert(nodes, dict[str, node_type])
            except msgspec.ValidationError as exc:
                raise CorruptStatus("nodes", str(exc)) from None
        raise CorruptStatus("nodes", f"expected a node map or JSON, got {type(nodes).__name__}")

    @staticmethod
    def form_of(compressed_nodes: str | None, /) -> Form:
        """Which form a status holds, from its `compressedNodes` alone."""
        if not compressed_nodes:
            return Form.PLAIN
        return Form.COMPACT if compressed_nodes.startswith(COMPACT_PREFIX) else Form.DEFAULT


_readers: dict[type, Packer[Any]] = {}


def decode_nodes(*, nodes: Any = None, compressed_nodes: str | None = None,
                 node_type: type | None = None) -> dict[str, Any]:
    """Node map of a stored status in any form, with a shared reader per node type.

    `node_type` defaults to `tiphys.core.spec.NodeStatus`. For writing, keep a `Packer` per
    workflow instead: reading needs no per-workflow state, writing does.
    """
    if node_type is None:
        from tiphys.core.spec import NodeStatus  # the spec model: imported on first use only
        node_type = NodeStatus
    reader = _readers.get(node_type)
    if reader is None:
        reader = _readers[node_type] = Packer(node_type)
    return reader.unpack(nodes=nodes, compressed_nodes=compressed_nodes)
