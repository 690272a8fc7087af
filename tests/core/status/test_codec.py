"""The plain and default (Argo-readable) forms: byte identity, Argo interop, corruption."""
from __future__ import annotations

import base64
import gzip
import io
import json
import random

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.core.spec import NodeStatus
from tiphys.core.status import Algorithm, CorruptStatus, NodeCodec


def full(nodes) -> bytes:
    return msgspec.json.encode(nodes, order="deterministic")


def test_plain_json_is_sorted_and_omits_empty(nodes200):
    """Keys sorted as Go sorts map keys; absent fields omitted, as Argo omits them."""
    data = NodeCodec(NodeStatus).encode_json(nodes200)
    decoded = json.loads(data)
    assert list(decoded) == sorted(nodes200)
    for key, value in decoded.items():
        assert value["id"] == key
        assert None not in value.values()
    group = next(v for v in decoded.values() if v["type"] == "StepGroup")
    assert "outputs" not in group and "hostNodeName" not in group


def test_default_round_trip_zstd(nodes5k):
    """zstd form decodes to the same nodes; the blob is one zstd frame of the plain JSON."""
    codec = NodeCodec(NodeStatus)
    text = codec.compress(nodes5k)
    raw = base64.b64decode(text, validate=True)
    assert raw[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.ZstdDecompressor().decompress(raw) == full(nodes5k)
    assert NodeCodec(NodeStatus).decompress(text) == nodes5k


def test_default_round_trip_gzip(nodes200):
    """The gzip option writes what older Argo tools read: base64(gzip(json))."""
    text = NodeCodec(NodeStatus).compress(nodes200, algorithm=Algorithm.GZIP)
    raw = base64.b64decode(text)
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == full(nodes200)
    assert NodeCodec(NodeStatus).decompress(text) == nodes200


def argo_gzip(nodes) -> str:
    """What Argo writes: Go-ordered JSON of the map (stdlib json here), gzip, standard base64."""
    plain = {k: msgspec.to_builtins(v) for k, v in sorted(nodes.items())}
    return base64.b64encode(gzip.compress(json.dumps(plain).encode(), 6)).decode()


def test_reads_argo_gzip(nodes200):
    """A status compressed by Argo (json + gzip + base64, its key order and spacing) reads back."""
    assert NodeCodec(NodeStatus).decompress(argo_gzip(nodes200)) == nodes200


def test_reads_concatenated_and_unsized_frames(nodes200):
    """Multi-frame zstd and multi-member gzip (Go reads both), and frames without a content size."""
    data = full(nodes200)
    half = len(data) // 2
    cctx = zstandard.ZstdCompressor()
    two = cctx.compress(data[:half]) + cctx.compress(data[half:])
    codec = NodeCodec(NodeStatus)
    assert codec.decompress(base64.b64encode(two).decode()) == nodes200
    buf = io.BytesIO()
    with cctx.stream_writer(buf, closefd=False) as writer:  # streaming: no size in the header
        writer.write(data)
    assert zstandard.get_frame_parameters(buf.getvalue()).content_size == zstandard.CONTENTSIZE_UNKNOWN
    assert codec.decompress(base64.b64encode(buf.getvalue()).decode()) == nodes200
    members = gzip.compress(data[:half]) + gzip.compress(data[half:])
    assert codec.decompress(base64.b64encode(members).decode()) == nodes200


def test_splice_is_byte_identical_through_changes(nodes5k):
    """Re-encoding after replacing, adding and removing nodes equals a full encode, every time."""
    codec = NodeCodec(NodeStatus)
    rng = random.Random(11)
    current = dict(nodes5k)
    assert codec.encode_json(current) == full(current)
    keys = list(current)
    for step in range(25):
        current = dict(current)
        for key in rng.sample(keys, rng.choice([0, 1, 3, 40])):
            current[key] = msgspec.structs.replace(current[key], phase="Failed", message=f"step {step}")
        if step % 4 == 1:
            gone = rng.choice(keys)
            keys.remove(gone)
            del current[gone]
        if step % 3 == 2:
            new_id = f"added-{step}"
            current[new_id] = NodeStatus(id_=new_id, name=new_id, phase="Pending")
            keys.append(new_id)
        assert codec.encode_json(current) == full(current), step


def test_unchanged_map_reuses_the_last_output(nodes200):
    """An unchanged map costs a scan, not an encode: the very same bytes object comes back."""
    codec = NodeCodec(NodeStatus)
    first = codec.encode_json(nodes200)
    assert codec.encode_json(dict(nodes200)) is first
    codec.forget()
    assert codec.encode_json(nodes200) == first



def test_empty_map_is_an_empty_object():
    """A fresh codec given no nodes writes `{}` (not an empty string), and it reads back."""
    codec = NodeCodec(NodeStatus)
    assert codec.encode_json({}) == b"{}"
    assert codec.encode_json({}) == b"{}"
    assert NodeCodec(NodeStatus).decompress(codec.compress({})) == {}


def test_changes_at_both_ends_in_the_same_key_order(nodes200):
    """Same IDs in the same order (the pairwise identity scan): first and last node replaced."""
    codec = NodeCodec(NodeStatus)
    codec.encode_json(nodes200)
    current = dict(nodes200)
    first, last = next(iter(current)), next(reversed(current))
    for key in (first, last):
        current[key] = msgspec.structs.replace(current[key], phase="Error", message="edge")
    assert codec.encode_json(current) == full(current)
    again = codec.encode_json(dict(current))
    assert again == full(current)
    assert codec.encode_json(current) is again


def test_same_ids_in_another_order(nodes200):
    """The same IDs inserted in another order, one node replaced: still sorted, still one change."""
    codec = NodeCodec(NodeStatus)
    codec.encode_json(nodes200)
    shuffled = dict(reversed(list(nodes200.items())))
    key = list(shuffled)[7]
    shuffled[key] = msgspec.structs.replace(shuffled[key], phase="Failed")
    assert codec.encode_json(shuffled) == full(shuffled)
    assert codec.encode_json(dict(reversed(list(shuffled.items())))) == full(shuffled)
    assert codec.encode_json(nodes200) == full(nodes200)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 199), st.sampled_from(["Failed", "Error", "Running"])), max_size=30),
       st.integers(0, 5), st.lists(st.text(alphabet="ab-0123456789z", min_size=1, max_size=12), max_size=8))
def test_splice_identity_hypothesis(nodes200, edits, removals, added):
    """Any mix of replacements, removals and insertions keeps spliced output == full encode."""
    codec = NodeCodec(NodeStatus)
    current = dict(nodes200)
    codec.encode_json(current)
    keys = sorted(current)
    for i, phase in edits:
        current[keys[i]] = msgspec.structs.replace(current[keys[i]], phase=phase)
    for key in keys[:removals]:
        current.pop(key, None)
    for key in added:  # new IDs sort anywhere: before, between and after the existing ones
        current[key] = NodeStatus(id_=key, name=key)
    assert codec.encode_json(current) == full(current)
    assert codec.encode_json(dict(nodes200)) == full(nodes200)  # and back again


# -- corruption ----------------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(("text", "stage"), [
    pytest.param("not base64!", "base64", id="base64"),
    pytest.param(b64(b"\x28\xb5\x2f\xfd" + b"\x00" * 10), "zstd", id="zstd-garbage"),
    pytest.param(b64(zstandard.ZstdCompressor().compress(b'{"a":{}}' * 50)[:-8]), "zstd", id="zstd-truncated"),
    pytest.param(b64(gzip.compress(b'{"a":{}}')[:-6]), "gzip", id="gzip-truncated"),
    pytest.param(b64(b"\x1f\x8b\x08\x00garbage"), "gzip", id="gzip-garbage"),
    pytest.param(b64(b"\x0b\x02\x80{}\x03"), "codec", id="brotli"),
    pytest.param(b64(zstandard.ZstdCompressor().compress(b'{"x": [1,')), "json", id="json-truncated"),
    pytest.param(b64(zstandard.ZstdCompressor().compress(b'{"x": {"phase": 3}}')), "json", id="json-type"),
])
def test_corrupt_default_form(text, stage):
    """Each failure is a CorruptStatus naming the stage."""
    with pytest.raises(CorruptStatus) as info:
        NodeCodec(NodeStatus).decompress(text)
    assert info.value.stage == stage


def test_json_error_names_the_path():
    """A type error inside a node names its JSON path."""
    text = b64(zstandard.ZstdCompressor().compress(b'{"x": {"phase": 3}}'))
    with pytest.raises(CorruptStatus, match=r"\$\[\.\.\.\]\.phase"):
        NodeCodec(NodeStatus).decompress(text)


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_decompression_limit(algorithm):
    """A blob inflating past the limit is refused, declared size or not."""
    bomb = b'{"a":{"message":"' + b"x" * 200_000 + b'"}}'
    text = NodeCodec.compress_json(bomb, algorithm=algorithm)
    with pytest.raises(CorruptStatus, match="limit"):
        NodeCodec(NodeStatus, decode_limit=100_000).decompress(text)
    buf = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(buf, closefd=False) as writer:
        writer.write(bomb)
    with pytest.raises(CorruptStatus, match="limit"):
        NodeCodec(NodeStatus, decode_limit=100_000).decompress(b64(buf.getvalue()))
