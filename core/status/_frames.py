"""Compression frames for the node-status blob: zstd and gzip, detected by magic bytes.

Argo's readers (v4.1 `util/file`) look at the first bytes of the decoded `compressedNodes`:
gzip `1f 8b`, zstd `28 b5 2f fd`, anything else brotli. We write zstd (or gzip for older Argo
tools), read both, and refuse brotli with a typed error since no brotli codec ships here.

Both readers accept concatenated frames/members, as Go's readers do, and refuse to inflate
past a size limit: a hostile or corrupt blob must not take the controller's memory with it.
The compressor objects are module-level and reused (msgspec's and zstd's first performance
rule); they are not thread-safe, and the controller encodes from one thread.
"""
from __future__ import annotations

import enum
import gzip
import zlib

import zstandard

from tiphys.core.status.errors import CorruptStatus

__all__ = ["Algorithm", "ZSTD_MAGIC", "GZIP_MAGIC", "compress", "decompress", "detect"]

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


class Algorithm(enum.StrEnum):
    """`WORKFLOW_COMPRESSION_ALGORITHM` values we write (brotli is read by Argo only)."""

    ZSTD = "zstd"
    GZIP = "gzip"


# Level 1 is both smaller than gzip-6 and ~10x faster on node JSON (performance.md §5.2); a
# 256 KiB window loses <0.5% against the default and is measurably faster on 1-50 MiB inputs.
# Swept on the 5,000-node benchmark status (benchmarks/codec/README.md): hash/chain logs 12-16,
# min match 4-7, windows 2^17-2^20 and the dfast strategy all land within noise of this or
# slower; negative levels save at most ~20% of the time but stop Huffman-coding literals (even
# -1 is 23% larger than gzip-6); splitting into frames or streaming costs time. Level 1 runs at the
# library's own speed here (zstd -b1: ~870 MB/s), so this is the floor of the default form.
_ZSTD_LEVEL = 1
_zstd_compressors: dict[int, zstandard.ZstdCompressor] = {}
_zstd_decompressor = zstandard.ZstdDecompressor()


def _zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    compressor = _zstd_compressors.get(level)
    if compressor is None:
        params = zstandard.ZstdCompressionParameters.from_level(level, window_log=18, write_content_size=True)
        compressor = _zstd_compressors[level] = zstandard.ZstdCompressor(compression_params=params)
    return compressor


def compress(data: bytes, /, *, algorithm: Algorithm = Algorithm.ZSTD, level: int | None = None) -> bytes:
    """One zstd frame (default level 1) or one gzip member (default level 6, Argo's)."""
    if algorithm == Algorithm.ZSTD:
        return _zstd_compressor(_ZSTD_LEVEL if level is None else level).compress(data)
    if algorithm == Algorithm.GZIP:
        # mtime=0 keeps the output a pure function of the input.
        return gzip.compress(data, compresslevel=6 if level is None else level, mtime=0)
    raise ValueError(f"compress: unknown algorithm {algorithm!r}")


def detect(data: bytes, /) -> str:
    """Name of the codec whose magic bytes start `data`: "zstd", "gzip" or "brotli" (Argo's rule)."""
    if data.startswith(ZSTD_MAGIC):
        return "zstd"
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    return "brotli"


def decompress(data: bytes, /, *, limit: int) -> bytes:
    """Inflate a blob written by Argo or tiphys; at most `limit` bytes of output."""
    kind = detect(data)
    if kind == "zstd":
        return _zstd_decompress(data, limit)
    if kind == "gzip":
        return _gzip_decompress(data, limit)
    raise CorruptStatus("codec", "not a zstd or gzip stream; brotli-compressed status is not supported")


def _zstd_decompress(data: bytes, limit: int) -> bytes:
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise CorruptStatus("zstd", f"bad frame header: {exc}") from None
    if declared > limit:
        raise CorruptStatus("zstd", f"declared size {declared} exceeds the limit {limit}")
    try:
        if declared >= 0:
            # Fast path: one frame with its size in the header (what we write).
            out = _zstd_decompressor.decompress(data, allow_extra_data=False)
            return out
    except zstandard.ZstdError:
        pass  # more than one frame, or corrupt: the general loop below tells which
    return _zstd_frames(data, limit)


def _zstd_frames(data: bytes, limit: int) -> bytes:
    """Concatenated frames, sizes possibly unknown (Go's streaming writer omits them)."""
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        obj = _zstd_decompressor.decompressobj()
        try:
            chunk = obj.decompress(rest)
        except zstandard.ZstdError as exc:
            raise CorruptStatus("zstd", str(exc)) from None
        if not obj.eof:
            raise CorruptStatus("zstd", "truncated frame")
        total += len(chunk)
        if total > limit:
            raise CorruptStatus("zstd", f"inflated size exceeds the limit {limit}")
        out.append(chunk)
        rest = obj.unused_data
    return b"".join(out)


def _gzip_decompress(data: bytes, limit: int) -> bytes:
    """Every gzip member in turn (Go's gzip.Reader is multistream by default)."""
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(rest, limit - total + 1)
        except zlib.error as exc:
            raise CorruptStatus("gzip", str(exc)) from None
        total += len(chunk)
        if total > limit or inflater.unconsumed_tail:
            raise CorruptStatus("gzip", f"inflated size exceeds the limit {limit}")
        if not inflater.eof:
            raise CorruptStatus("gzip", "truncated stream")
        out.append(chunk)
        rest = inflater.unused_data
    return b"".join(out)
