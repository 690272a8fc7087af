"""The size policy (plain → default → compact → StatusTooLarge) and the one reader of every form."""
from __future__ import annotations

import base64
import gzip
import json

import msgspec
import pytest

from tiphys.core.spec import NodeStatus
from tiphys.core.status import (COMPACT_PREFIX, CorruptStatus, Form, Packer, SizeSettings, StatusTooLarge,
                                decode_nodes)
from tiphys.core.status.packer import ARGO_MAX_WORKFLOW_SIZE


@pytest.fixture(scope="module")
def sizes(nodes5k):
    """Payload sizes of the three forms of the 5k status under the default settings."""
    p = Packer(NodeStatus)
    plain = len(p.json.encode_json(nodes5k))
    default = len(p.json.compress(nodes5k))
    compact = len(p.compact.encode(nodes5k))
    assert compact < default < plain
    return plain, default, compact


def test_tiers_by_object_size(nodes5k, sizes):
    """Each tier is chosen exactly when the previous one would push the object past its threshold."""
    plain, default, compact = sizes
    limit = 4 << 20  # one threshold for all tiers, as Argo's defaults, large enough for the plain form
    p = Packer(NodeStatus, settings=SizeSettings(compress_above=limit, compact_above=limit, hard_limit=limit))
    assert p.pack(nodes5k, base_size=1000).form is Form.PLAIN
    assert p.pack(nodes5k, base_size=limit - default - 100).form is Form.DEFAULT
    assert p.pack(nodes5k, base_size=limit - default).form is Form.COMPACT
    assert p.pack(nodes5k, base_size=limit - compact - 100).form is Form.COMPACT
    with pytest.raises(StatusTooLarge) as info:
        p.pack(nodes5k, base_size=limit - compact)
    assert info.value.limit == limit and info.value.size > limit and info.value.form == "compact"


def test_packed_fields_and_sizes(nodes5k, sizes):
    """Exactly one payload field is set, and `size` counts it with the base."""
    p = Packer(NodeStatus)
    small = p.pack(dict(list(nodes5k.items())[:50]), base_size=500)
    assert small.form is Form.PLAIN and small.compressed_nodes is None
    assert msgspec.json.decode(small.nodes) and small.size > 500 + len(small.nodes)
    big = p.pack(nodes5k, base_size=500)
    assert big.form is Form.DEFAULT and big.nodes is None
    assert big.size == 500 + len(',"compressedNodes":""') + len(big.compressed_nodes)


def test_allow_compact_false_fails_instead(nodes5k, sizes):
    """Argo-compatible mode never writes the compact form."""
    _, default, _ = sizes
    limit = ARGO_MAX_WORKFLOW_SIZE
    p = Packer(NodeStatus, settings=SizeSettings(allow_compact=False))
    assert p.pack(nodes5k, base_size=limit - default - 100).form is Form.DEFAULT
    with pytest.raises(StatusTooLarge) as info:
        p.pack(nodes5k, base_size=limit - default + 1)
    assert info.value.form == "default"


def test_gzip_setting(nodes5k):
    """algorithm=gzip writes gzip for older Argo tools, and reads back."""
    p = Packer(NodeStatus, settings=SizeSettings(algorithm="gzip"))
    packed = p.pack(nodes5k, base_size=ARGO_MAX_WORKFLOW_SIZE - 600_000)
    assert base64.b64decode(packed.compressed_nodes)[:2] == b"\x1f\x8b"
    assert p.unpack(compressed_nodes=packed.compressed_nodes) == nodes5k


@pytest.mark.parametrize(("kw", "ok"), [
    (dict(), True), (dict(compress_above=10, compact_above=10, hard_limit=10), True),
    (dict(compress_above=0), False), (dict(compress_above=20, compact_above=10), False),
    (dict(compact_above=2 << 20, hard_limit=1 << 20), False),
])
def test_settings_validated(kw, ok):
    """Thresholds must be positive and ordered."""
    if ok:
        SizeSettings(**kw)
    else:
        with pytest.raises(ValueError, match="SizeSettings"):
            SizeSettings(**kw)


def test_unpack_every_form(nodes200):
    """Structs, builtins, raw JSON, zstd, gzip (as Argo writes it) and compact all read back."""
    p = Packer(NodeStatus)
    builtins = {k: msgspec.to_builtins(v) for k, v in nodes200.items()}
    raw = msgspec.json.encode(nodes200)
    argo = base64.b64encode(gzip.compress(json.dumps(builtins).encode())).decode()
    forms = [
        dict(nodes=nodes200), dict(nodes=builtins), dict(nodes=raw), dict(nodes=msgspec.Raw(raw)),
        dict(nodes=raw.decode()), dict(compressed_nodes=p.json.compress(nodes200)),
        dict(compressed_nodes=argo), dict(compressed_nodes=p.compact.encode(nodes200)),
    ]
    for form in forms:
        assert p.unpack(**form) == nodes200, list(form)
    assert p.unpack() == {} and p.unpack(nodes={}) == {}


def test_form_of():
    """The form is told by the string alone."""
    assert Packer.form_of(None) is Form.PLAIN
    assert Packer.form_of(COMPACT_PREFIX + "AAAA") is Form.COMPACT
    assert Packer.form_of("KLUv/QBY") is Form.DEFAULT


def test_unpack_rejects_both_and_bad_nodes(nodes200):
    """Both fields set, or nodes of the wrong shape, are CorruptStatus."""
    p = Packer(NodeStatus)
    with pytest.raises(CorruptStatus) as info:
        p.unpack(nodes=nodes200, compressed_nodes="KLUv")
    assert info.value.stage == "envelope"
    with pytest.raises(CorruptStatus, match="phase"):
        p.unpack(nodes={"a": {"phase": 7}})
    with pytest.raises(CorruptStatus) as info:
        p.unpack(nodes=[1, 2])
    assert info.value.stage == "nodes"


def test_round_trip_through_every_tier(nodes5k, sizes):
    """Whatever the packer picks, unpack returns the same nodes."""
    plain, default, compact = sizes
    limit = 4 << 20
    p = Packer(NodeStatus, settings=SizeSettings(compress_above=limit, compact_above=limit, hard_limit=limit))
    for base in (10, limit - default - 50, limit - compact - 50):
        packed = p.pack(nodes5k, base_size=base)
        assert p.unpack(nodes=packed.nodes, compressed_nodes=packed.compressed_nodes) == nodes5k, packed.form


def test_decode_nodes_function(nodes200):
    """The module-level reader takes every form and defaults to the spec's NodeStatus."""
    p = Packer(NodeStatus)
    assert decode_nodes(compressed_nodes=p.json.compress(nodes200)) == nodes200
    assert decode_nodes(compressed_nodes=p.compact.encode(nodes200)) == nodes200
    assert decode_nodes(nodes=msgspec.json.encode(nodes200), node_type=NodeStatus) == nodes200
    assert decode_nodes() == {}
