"""Status codec benchmarks on a realistic 5,000-node status (`tiphys.core.status.synth`).

Baseline, measured in the same run on the same data: stdlib `json.dumps` + gzip-6 + base64, what
Argo writes (Go field order, sorted ids). Candidates: the default form (msgspec + zstd + base64,
Argo-readable), cold and with 5 nodes changed since the last write; the compact form.

`test_gate_codec` asserts the targets of the "Native hot paths" issue as ratios:
default smaller than gzip-6 and faster to encode, cold and with 5 nodes changed since the last
write (gated at about half the measured ratios; the 8x target is in README.md); compact <= 1/20 of
the plain JSON and >= 25,000 nodes per MiB. Absolute µs/node figures are recorded, not gated.
`test_gate_compact` gates the compact form's speed against the baseline and its Cython loops
against the pure-Python reference; `test_compact_levels` records the zstd level trade-off.
"""
from __future__ import annotations

import base64

import msgspec
import pytest

from tiphys.core.spec import NodeStatus
from tiphys.core.status import CompactCodec, NodeCodec, _frames

from .conftest import COUNT, argo_decode, argo_encode

MIB = 1 << 20


def changed(nodes: dict[str, NodeStatus], n: int = 5) -> dict[str, NodeStatus]:
    """The map after a reconcile that finished `n` pods."""
    out = dict(nodes)
    for key in list(out)[100:100 + n]:
        out[key] = msgspec.structs.replace(out[key], phase="Failed", message="Error (exit code 1)")
    return out


def warm_codec(nodes):
    codec = NodeCodec(NodeStatus)
    codec.encode_json(nodes)
    codec.encode_json(changed(nodes, 1))  # splits the output into per-node slices once
    return codec


# -- pytest-benchmark: absolute figures ------------------------------------------------------------------

@pytest.mark.benchmark(group="codec-encode")
def test_encode_argo_baseline(benchmark, argo_nodes):
    benchmark(argo_encode, argo_nodes)


@pytest.mark.benchmark(group="codec-encode")
def test_encode_default_cold(benchmark, nodes):
    benchmark(lambda: NodeCodec(NodeStatus).compress(nodes))


@pytest.mark.benchmark(group="codec-encode")
def test_encode_default_5_changed(benchmark, nodes):
    codec, after = warm_codec(nodes), changed(nodes)

    def run():
        codec.encode_json(nodes)  # back to the base map (also a splice), then the timed change
        return codec.compress(after)
    benchmark(run)


@pytest.mark.benchmark(group="codec-encode")
def test_encode_compact_cold(benchmark, nodes):
    benchmark(lambda: CompactCodec(NodeStatus).encode(nodes))


@pytest.mark.benchmark(group="codec-encode")
def test_encode_compact_5_changed(benchmark, nodes):
    codec, after = CompactCodec(NodeStatus), changed(nodes)
    codec.encode(nodes)

    def run():
        codec.encode(nodes)  # back to the base map, then the timed change
        return codec.encode(after)
    benchmark(run)


@pytest.mark.benchmark(group="codec-decode")
def test_decode_argo_baseline(benchmark, argo_nodes):
    text = argo_encode(argo_nodes)
    benchmark(argo_decode, text)


@pytest.mark.benchmark(group="codec-decode")
def test_decode_default(benchmark, nodes):
    codec = NodeCodec(NodeStatus)
    text = codec.compress(nodes)
    assert codec.decompress(text) == nodes
    benchmark(codec.decompress, text)


@pytest.mark.benchmark(group="codec-decode")
def test_decode_compact(benchmark, nodes):
    codec = CompactCodec(NodeStatus)
    text = codec.encode(nodes)
    assert codec.decode(text) == nodes
    benchmark(codec.decode, text)


# -- the gate -----------------------------------------------------------------------------------------

def test_gate_codec(nodes, argo_nodes, measure, gate, record):
    """Sizes and speed ratios against stdlib json + gzip-6 + base64, same run, same data."""
    plain = msgspec.json.encode(nodes, order="deterministic")
    argo_text = argo_encode(argo_nodes)
    default_text = NodeCodec(NodeStatus).compress(nodes)
    compact = CompactCodec(NodeStatus)
    compact_text = compact.encode(nodes)
    per = len(compact_text) / COUNT
    record("codec plain JSON", f"{len(plain):,} B ({len(plain) / COUNT:.0f} B/node)")
    record("codec gzip-6 (Argo)", f"{len(argo_text):,} B ({len(argo_text) / COUNT:.1f} B/node, "
                                  f"{MIB * COUNT // len(argo_text):,} nodes/MiB)")
    record("codec default (zstd)", f"{len(default_text):,} B ({len(default_text) / COUNT:.1f} B/node, "
                                   f"{len(default_text) / len(argo_text):.0%} of gzip-6, "
                                   f"{MIB * COUNT // len(default_text):,} nodes/MiB)")
    record("codec compact", f"{len(compact_text):,} B ({per:.1f} B/node, 1/{len(plain) / len(compact_text):.1f} "
                            f"of plain JSON, {MIB / per:,.0f} nodes/MiB)")

    def warm_compact():
        codec = CompactCodec(NodeStatus)
        codec.encode(nodes)
        return codec

    (argo_enc, default_enc, default_warm, compact_enc, compact_warm, argo_dec, default_dec,
     compact_dec) = measure(
        lambda _: argo_encode(argo_nodes),
        lambda codec: codec.compress(nodes),
        lambda codec: codec.compress(changed(nodes)),
        lambda codec: codec.encode(nodes),
        lambda codec: codec.encode(changed(nodes)),
        lambda _: argo_decode(argo_text),
        lambda codec: codec.decompress(default_text),
        lambda _: compact.decode(compact_text),
        setups=(None, lambda: NodeCodec(NodeStatus), lambda: warm_codec(nodes), lambda: CompactCodec(NodeStatus),
                warm_compact, None, lambda: NodeCodec(NodeStatus), None),
        repeat=7)
    us = 1e6 / COUNT
    record("codec encode µs/node", f"argo {argo_enc * us:.2f}, default {default_enc * us:.2f} "
                                   f"(5 changed: {default_warm * us:.2f}), compact {compact_enc * us:.2f} "
                                   f"(5 changed: {compact_warm * us:.2f})")
    record("codec decode µs/node", f"argo {argo_dec * us:.2f}, default {default_dec * us:.2f}, "
                                   f"compact {compact_dec * us:.2f}")

    assert len(default_text) < len(argo_text), "default form must be smaller than gzip-6"
    assert len(compact_text) * 20 <= len(plain), "compact form must be <= 1/20 of the plain JSON"
    assert MIB / per >= 25_000, "compact form must fit >= 25,000 such nodes in 1 MiB"
    # Gates at about half the ratios measured under CI's load (benchmarks/conftest.py), not the
    # quiet machine's: 10.6-11.9x with 5 nodes changed (quiet: 9.6-10.4x); cold 5.3-6.0x and once
    # 4.7x (quiet 7.9-9.0x; msgspec ~42%, zstd-1 ~52%, base64 ~5%: the libraries' own speed, see
    # README.md); decode 1.7x in every CI run. The gates sat at 4.0x cold and 1.5x decode, 15-25%
    # under what loaded runs measure: noise could fail them. The 8x target itself is recorded in
    # README.md, not asserted.
    gate("codec default encode, 5 changed, vs json+gzip-6", argo_enc, default_warm, minimum=4.5)
    gate("codec default encode, cold, vs json+gzip-6", argo_enc, default_enc, minimum=2.5)
    gate("codec default decode vs json+gunzip", argo_dec, default_dec, minimum=0.85)


def test_default_cold_breakdown(nodes, measure, record):
    """Where a cold default encode goes: msgspec, zstd-1, base64, and the codec's own bookkeeping
    (the whole minus the parts). Recorded for README.md, not gated."""
    encoder = msgspec.json.Encoder(order="deterministic")
    plain = encoder.encode(nodes)
    frame = _frames.compress(plain)
    whole, json_s, zstd_s, b64_s = measure(
        lambda codec: codec.compress(nodes),
        lambda _: encoder.encode(nodes),
        lambda _: _frames.compress(plain),
        lambda _: base64.b64encode(frame).decode("ascii"),
        setups=(lambda: NodeCodec(NodeStatus), None, None, None), repeat=9)
    assert NodeCodec(NodeStatus).compress(nodes) == base64.b64encode(frame).decode("ascii")
    parts = {"msgspec": json_s, "zstd-1": zstd_s, "base64": b64_s, "bookkeeping": whole - json_s - zstd_s - b64_s}
    record("codec default cold breakdown", f"{whole * 1e3:.2f} ms = " + ", ".join(
        f"{name} {sec * 1e3:.2f} ms ({sec / whole:.0%})" for name, sec in parts.items()))


# -- the compact form: native loops vs the pure-Python reference, and the zstd level ---------------------

def test_gate_compact(nodes, argo_nodes, measure, gate, record):
    """Compact encode (cold) and decode against json+gzip-6 and against the pure-Python reference,
    same run, same data. The issue's targets (encode <= 3 µs/node, decode <= 5 µs/node) are
    recorded; the gates sit at about half the measured ratios."""
    from tiphys.core.status import _compact_native

    if _compact_native.native is None:
        pytest.skip("tiphys.core._fast._compact is not built: only the reference runs")
    argo_text = argo_encode(argo_nodes)
    text = CompactCodec(NodeStatus).encode(nodes)
    assert CompactCodec(NodeStatus, native=False).encode(nodes) == text
    native, reference = CompactCodec(NodeStatus, native=True), CompactCodec(NodeStatus, native=False)
    argo_enc, fast_enc, ref_enc, argo_dec, fast_dec, ref_dec = measure(
        lambda _: argo_encode(argo_nodes),
        lambda codec: codec.encode(nodes),
        lambda codec: codec.encode(nodes),
        lambda _: argo_decode(argo_text),
        lambda _: native.decode(text),
        lambda _: reference.decode(text),
        setups=(None, lambda: CompactCodec(NodeStatus, native=True), lambda: CompactCodec(NodeStatus, native=False),
                None, None, None),
        repeat=7)
    us = 1e6 / COUNT
    record("codec compact µs/node", f"encode cold {fast_enc * us:.2f} (reference {ref_enc * us:.2f}, "
                                    f"{ref_enc / fast_enc:.1f}x), decode {fast_dec * us:.2f} (reference "
                                    f"{ref_dec * us:.2f}, {ref_dec / fast_dec:.1f}x); targets 3 and 5")
    # Measured on the shared 2-vCPU machine (README.md): encode 4.1-4.3x json+gzip-6 and 5-6x the
    # reference; decode 1.7x json+gunzip and 1.7-2.0x the reference. Under CI's load: encode
    # 2.6-3.5x json+gzip-6 and 3.4-4.4x the reference, decode 1.3-1.4x json+gunzip and 1.4-1.5x the
    # reference, so the gates sit at about half of those (they sat at 2.0, 2.5, 0.85 and 0.9: 23-36%
    # under a loaded run's figure).
    gate("codec compact encode, cold, vs json+gzip-6", argo_enc, fast_enc, minimum=1.3)
    gate("codec compact decode vs json+gunzip", argo_dec, fast_dec, minimum=0.65)
    gate("codec compact encode, native vs reference", ref_enc, fast_enc, minimum=1.8)
    gate("codec compact decode, native vs reference", ref_dec, fast_dec, minimum=0.7)


def test_compact_levels(nodes, measure, record):
    """The zstd level trade-off on the compact columns (why the codec uses level 2): size and
    time per level, same layout bytes. Recorded, not gated."""
    import zstandard

    from tiphys.core.status import compact

    layout = CompactCodec(NodeStatus).layout(nodes)
    levels = (1, 2, 3, 5, 7, 9)
    compressors = [zstandard.ZstdCompressor(level=lvl, dict_data=compact._DICT, write_dict_id=True) for lvl in levels]
    times = measure(*[lambda _, c=c: c.compress(layout) for c in compressors], repeat=7)
    figures = []
    for lvl, c, sec in zip(levels, compressors, times):
        size = len(base64.b64encode(c.compress(layout)))
        figures.append(f"{lvl}: {size / COUNT:.1f} B/node {sec * 1e6 / COUNT:.2f} µs/node")
    record("codec compact zstd levels", "; ".join(figures) + f" (shipped: {compact._LEVEL})")
