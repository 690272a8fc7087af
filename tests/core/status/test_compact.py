"""The compact form: lossless for any node map, dense on real ones, loud on corruption.

Every test runs on both implementations: the pure-Python reference (`native=False`) and the
Cython loops of `tiphys.core._fast._compact` (`native=True`, skipped when not built).
"""
from __future__ import annotations

import base64

import msgspec
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiphys.core.spec import (Artifact, Inputs, MemoizationStatus, NodeFlag, NodeStatus, Outputs, Parameter,
                              S3Artifact)
from tiphys.core.status import COMPACT_PREFIX, CompactCodec, CorruptStatus, ids
from tiphys.core.status import _compact_native
from tiphys.core.status import compact as compact_mod
from tiphys.core.status.synth import rfc3339, synthetic_nodes


IMPLS = [pytest.param(False, id="reference"),
         pytest.param(True, id="native", marks=pytest.mark.skipif(
             _compact_native.native is None, reason="tiphys.core._fast._compact is not built"))]
pytestmark = pytest.mark.parametrize("native", IMPLS)


def test_round_trip_realistic(nodes5k, native):
    """5,000 realistic nodes come back equal, field for field."""
    codec = CompactCodec(NodeStatus, native=native)
    text = codec.encode(nodes5k)
    assert text.startswith(COMPACT_PREFIX)
    assert codec.decode(text) == nodes5k


def test_dense_on_realistic_status(nodes5k, native):
    """At least 20x smaller than the plain JSON, and >= 25,000 such nodes per MiB (base64 included)."""
    text = CompactCodec(NodeStatus, native=native).encode(nodes5k)
    plain = msgspec.json.encode(nodes5k)
    assert len(text) * 20 <= len(plain)
    assert (1 << 20) / (len(text) / len(nodes5k)) >= 25_000


@pytest.mark.parametrize("count", [12, 13, 60, 999])
def test_round_trip_sizes(count, native):
    """Small and odd sizes round-trip too (the dictionary matters most there)."""
    nodes = msgspec.convert(synthetic_nodes(count, seed=count), dict[str, NodeStatus])
    assert len(nodes) == count
    codec = CompactCodec(NodeStatus, native=native)
    assert codec.decode(codec.encode(nodes)) == nodes


def test_empty_map(native):
    """No nodes is a valid status."""
    codec = CompactCodec(NodeStatus, native=native)
    assert codec.decode(codec.encode({})) == {}


def test_frame_names_the_shipped_dictionary(nodes200, native):
    """The zstd frame carries the dictionary's ID, so another dictionary is refused, not misread."""
    text = CompactCodec(NodeStatus, native=native).encode(nodes200)
    raw = base64.b64decode(text[len(COMPACT_PREFIX):])
    assert compact_mod._DICT is not None, "nodes.zdict is not installed with the package"
    assert zstandard.get_frame_parameters(raw).dict_id == compact_mod._DICT.dict_id()


def test_explicit_workflow_name_and_odd_ids(nodes200, native):
    """Nodes whose IDs do not follow `wf-<hash>` keep their IDs; a wrong workflow name costs only size."""
    codec = CompactCodec(NodeStatus, native=native)
    assert codec.decode(codec.encode(nodes200, workflow_name="not-the-name")) == nodes200


def test_key_must_match_id(native):
    """The map key is the node ID; a disagreeing node is a caller bug."""
    with pytest.raises(ValueError, match="has id"):
        CompactCodec(NodeStatus, native=native).encode({"a": NodeStatus(id_="b", name="a")})


# -- hypothesis: lossless over arbitrary maps -------------------------------------------------------

WF = "wf-x"
# Characters that stress every rule: name syntax, JSON escapes, NUL (markers), non-ASCII.
text = st.text(alphabet="ab.[]()09:-s\x00é\"\\/", max_size=10)
timestamp = st.one_of(st.none(), st.integers(0, 4_102_444_800).map(rfc3339), text,
                      st.just("2024-01-01T00:00:00.5Z"), st.just("0999-01-01T00:00:00Z"))
value = st.one_of(text, st.integers(-5, 10**12), st.just("\x00s"), st.just(WF), st.booleans())
params = st.lists(st.builds(Parameter, name=st.sampled_from(["p", "q", "item"]), value=value), max_size=3)


@st.composite
def node_maps(draw) -> dict[str, NodeStatus]:
    count = draw(st.integers(0, 12))
    names = [WF] + [WF + draw(st.sampled_from([".", "[0].", "[1].fan", ".t("])) + draw(text) for _ in range(count)]
    if draw(st.booleans()):
        names[0] = draw(text)  # sometimes no recognisable root
    node_ids: list[str] = []
    for name in names:
        kind = draw(st.sampled_from(["derived", "derived", "odd", "leading-zero", "small"]))
        # "small": a hash of few digits, which also occur in the shape's other text (even in a
        # hole's `"\u0000s"`: ID `<workflow>-0` once made the status unreadable).
        nid = {"derived": ids.node_id(WF, name), "odd": draw(text) or "x",
               "leading-zero": f"{WF}-0{ids.fnv1a32(name)}",
               "small": f"{WF}-{draw(st.sampled_from([0, 1, 10, 2**32 - 1]))}"}[kind]
        if nid not in node_ids:
            node_ids.append(nid)
    refs = st.sampled_from(node_ids + ["elsewhere", ""]) if node_ids else text
    out: dict[str, NodeStatus] = {}
    for nid, name in zip(node_ids, names):
        boundary = draw(st.one_of(st.none(), refs))
        shown = draw(st.sampled_from(["derived", "none", "text"]))
        boundary_name = next((n for i, n in zip(node_ids, names) if i == boundary), None)
        hash_text = ids.hash_suffix(name)
        outputs = draw(st.one_of(st.none(), st.builds(
            Outputs, parameters=st.one_of(st.none(), params), result=st.one_of(st.none(), value.map(str)),
            exit_code=st.one_of(st.none(), st.sampled_from(["0", "1"])),
            artifacts=st.one_of(st.none(), st.just([Artifact(name="main-logs", s3=S3Artifact(
                key=f"{WF}/{WF}-t-{hash_text}/main.log"))])))))
        out[nid] = NodeStatus(
            id_=nid, name=draw(st.one_of(st.just(name), st.none())) if draw(st.booleans()) else name,
            display_name={"derived": ids.display_name(name, boundary_name), "none": None,
                          "text": draw(text)}[shown],
            boundary_id=boundary,
            type_=draw(st.sampled_from(["Pod", "DAG", "Retry", None])),
            phase=draw(st.sampled_from(["Succeeded", "Failed", "Running", None])),
            message=draw(st.one_of(st.none(), text, st.just('"\x00s"'), st.just(hash_text))),
            started_at=draw(timestamp), finished_at=draw(timestamp),
            host_node_name=draw(st.one_of(st.none(), text)),
            resources_duration=draw(st.one_of(st.none(), st.dictionaries(
                st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), st.integers(-10, 10**6), max_size=3))),
            children=draw(st.one_of(st.none(), st.lists(refs, max_size=4))),
            outbound_nodes=draw(st.one_of(st.none(), st.lists(refs, max_size=2))),
            inputs=draw(st.one_of(st.none(), st.builds(Inputs, parameters=params))),
            outputs=outputs,
            node_flag=draw(st.one_of(st.none(), st.builds(NodeFlag, hooked=st.booleans()))),
            memoization_status=draw(st.one_of(st.none(), st.builds(MemoizationStatus, hit=st.booleans(),
                                                                   key=text))),
            task_result_synced=draw(st.one_of(st.none(), st.booleans())),
            estimated_duration=draw(st.one_of(st.none(), st.integers(0, 10**6))),
            progress=draw(st.one_of(st.none(), st.just("0/1"), text)),
        )
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_maps())
def test_round_trip_any_map(native, nodes):
    """Any node map — underivable IDs, odd timestamps, NULs, quotes, dangling references — round-trips."""
    codec = CompactCodec(NodeStatus, native=native)
    assert codec.decode(codec.encode(nodes)) == nodes


@settings(max_examples=50, deadline=None)
@given(node_maps(), st.sampled_from([None, WF, "", "other"]))
def test_round_trip_any_workflow_name(native, nodes, workflow_name):
    """The workflow name only steers compression; any value round-trips."""
    codec = CompactCodec(NodeStatus, native=native)
    assert codec.decode(codec.encode(nodes, workflow_name=workflow_name)) == nodes


# -- corruption ----------------------------------------------------------------------------------------

def envelope(payload: bytes) -> str:
    return COMPACT_PREFIX + base64.b64encode(payload).decode()


def layout_bytes(nodes, native=False) -> bytes:
    return CompactCodec(NodeStatus, native=native).layout(nodes)


def packed(layout: bytes) -> str:
    return envelope(compact_mod._COMPRESSOR.compress(layout))


def test_corrupt_prefix_and_base64(nodes200, native):
    """Wrong prefix, bad base64."""
    codec = CompactCodec(NodeStatus, native=native)
    with pytest.raises(CorruptStatus) as info:
        codec.decode("H4sIAAAA")
    assert info.value.stage == "envelope"
    with pytest.raises(CorruptStatus) as info:
        codec.decode(COMPACT_PREFIX + "%%%")
    assert info.value.stage == "base64"


def test_corrupt_zstd(nodes200, native):
    """Garbage and truncation are zstd errors."""
    codec = CompactCodec(NodeStatus, native=native)
    good = base64.b64decode(codec.encode(nodes200)[len(COMPACT_PREFIX):])
    for payload, what in ((b"garbage!", "garbage"), (good[: len(good) // 2], "truncated")):
        with pytest.raises(CorruptStatus) as info:
            codec.decode(envelope(payload))
        assert info.value.stage == "zstd", what


def test_foreign_dictionary_is_refused(nodes200, native):
    """A frame written with another dictionary is refused by its ID, not misread."""
    samples = [layout_bytes(msgspec.convert(synthetic_nodes(30, seed=s), dict[str, NodeStatus])) for s in range(40)]
    other = zstandard.train_dictionary(2048, samples)
    assert other.dict_id() != compact_mod._DICT.dict_id()
    frame = zstandard.ZstdCompressor(dict_data=other, write_dict_id=True).compress(layout_bytes(nodes200, native))
    with pytest.raises(CorruptStatus, match="dictionary") as info:
        CompactCodec(NodeStatus, native=native).decode(envelope(frame))
    assert info.value.stage == "zstd"


def test_corrupt_layout_version(nodes200, native):
    """An unknown layout version is refused by number."""
    cols = msgspec.msgpack.decode(layout_bytes(nodes200, native))
    cols[0] = 99
    with pytest.raises(CorruptStatus, match="version 99"):
        CompactCodec(NodeStatus, native=native).decode(packed(msgspec.msgpack.encode(cols)))


@pytest.mark.parametrize(("column", "damage"), [
    pytest.param(5, lambda c: c[:-1], id="shape-short"),
    pytest.param(4, lambda c: c[:-3], id="suffix-short"),
    pytest.param(8, lambda c: [10**6] * len(c), id="kids-out-of-range"),
    pytest.param(7, lambda c: [-(10**6)] * len(c), id="boundary-negative"),
    pytest.param(16, lambda c: c[:-1], id="hashes-unaligned"),
    pytest.param(14, lambda c: [], id="strings-missing"),
    pytest.param(1, lambda c: 5, id="workflow-not-str"),
    pytest.param(3, lambda c: [-1] + c[1:], id="name-prefix-negative"),
    pytest.param(3, lambda c: [10**6] * len(c), id="name-prefix-too-long"),
    pytest.param(12, lambda c: [10**6] * len(c), id="host-out-of-range"),
    pytest.param(14, lambda c: [c[0], -1] + c[2:], id="string-backref-negative"),
    pytest.param(9, lambda c: [2**62] * len(c), id="started-beyond-gmtime"),
    pytest.param(5, lambda c: [len(c)] * len(c), id="shape-out-of-range"),
])
def test_corrupt_columns(nodes200, column, damage, native):
    """Inconsistent columns are a CorruptStatus at the layout stage, never an IndexError."""
    cols = msgspec.msgpack.decode(layout_bytes(nodes200, native))
    cols[column] = damage(cols[column])
    with pytest.raises(CorruptStatus) as info:
        CompactCodec(NodeStatus, native=native).decode(packed(msgspec.msgpack.encode(cols)))
    assert info.value.stage == "layout"


# -- the row cache ---------------------------------------------------------------------------------------

def test_cached_rows_give_the_same_bytes(nodes200, native):
    """A codec reusing rows of unchanged nodes writes exactly what a fresh codec writes."""
    warm = CompactCodec(NodeStatus, native=native)
    current = dict(nodes200)
    warm.encode(current)
    keys = list(current)
    for step in range(6):
        current = dict(current)
        for key in keys[step * 7:step * 7 + 5]:
            current[key] = msgspec.structs.replace(current[key], phase="Failed", message=f"step {step}")
        if step == 2:
            del current[keys[-1]]
        if step == 4:
            new = ids.node_id(WF, f"{WF}.late")
            current[new] = NodeStatus(id_=new, name=f"{WF}.late", boundary_id=keys[0])
        assert warm.layout(current) == CompactCodec(NodeStatus, native=native).layout(current), step
        assert warm.decode(warm.encode(current)) == current


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_maps(), node_maps())
def test_cache_across_unrelated_maps(native, first, second):
    """Rows cached for one map never leak into the encoding of another."""
    codec = CompactCodec(NodeStatus, native=native)
    codec.encode(first)
    assert codec.layout(second) == CompactCodec(NodeStatus, native=native).layout(second)
    assert codec.decode(codec.encode(second)) == second
