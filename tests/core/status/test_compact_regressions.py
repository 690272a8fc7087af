"""Compact statuses that once could not be read back, in both implementations and both directions.

A node whose shape holds its own hash ("hashed": artifact keys hold the pod name) decodes its
shape text individually: the hash's digits go back in, then its strings fill the holes. Two
ways the holes were miscounted:

* the digits occur inside a hole's own JSON, `"\\u0000s"` — ID `<workflow>-0`, found by
  hypothesis with workflow "" and ID "-0";
* a reference field put back into the shape at placement (a displayName that is not the derived
  one, a dangling boundaryID...) spells a hole's JSON after the real holes.

And one map that could not be written at all: a resourcesDuration value beyond ±2^62 (Argo's
are int64) overflowed the doubled int64 column.

The written format did not change: the layouts are the same bytes as before the fixes (a layout
written then is checked literally below), only the reading is.
"""
from __future__ import annotations

import base64

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiphys.core.spec import Artifact, Inputs, NodeStatus, Outputs, Parameter, S3Artifact
from tiphys.core.status import CompactCodec, CorruptStatus, _compact_native
from tiphys.core.status import _compact_layout as L
from tiphys.core.status import compact as compact_mod
from tiphys.core.status.codec import COMPACT_PREFIX

NATIVE = _compact_native.native is not None
IMPLS = [pytest.param(False, id="reference"),
         pytest.param(True, id="native", marks=pytest.mark.skipif(
             not NATIVE, reason="tiphys.core._fast._compact is not built"))]


def check(nodes: dict[str, NodeStatus], workflow_name: str | None = None) -> None:
    """Each available implementation reads what each one writes; both write the same layout."""
    impls = [False, True] if NATIVE else [False]
    layouts = {CompactCodec(NodeStatus, native=n).layout(nodes, workflow_name=workflow_name) for n in impls}
    assert len(layouts) == 1
    for writer in impls:
        text = CompactCodec(NodeStatus, native=writer).encode(nodes, workflow_name=workflow_name)
        for reader in impls:
            assert CompactCodec(NodeStatus, native=reader).decode(text) == nodes, (writer, reader)


def found_by_hypothesis() -> dict[str, NodeStatus]:
    # @reproduce_failure('6.170.17', b'AXicc2RzZGhAQ4wwJlOTrgGqHAjCaPyQKFWMINxAnHIAhxYb9A==')
    # of test_compact_fast.py::test_any_map_same_bytes, workflow_name=None.
    return {
        "wf-x-2166136261": NodeStatus(display_name="", id_="wf-x-2166136261", name="", phase="Succeeded",
                                      type_="Pod"),
        "wf-x-2991803097": NodeStatus(display_name="wf-x.", id_="wf-x-2991803097", name="wf-x.",
                                      phase="Succeeded", type_="Pod"),
        "-0": NodeStatus(display_name="wf-x.", id_="-0", name="wf-x.", outputs=Outputs(result=""),
                         phase="Succeeded", type_="Pod"),
    }


def test_found_by_hypothesis():
    """No node's name is its ID, so the workflow name is "" and "-0" is a hashed ID with digits
    "0": the hole of its empty `result` became `"\\u<mark><mark><mark><mark>s"` in the shape."""
    check(found_by_hypothesis())


def test_a_layout_written_before_the_fix_reads():
    """The encoder is unchanged: the failing map's layout, exactly as it was written (hole
    digits marked), is what both implementations still write and now read."""
    written = [1, "", 3, [0, 0, 0], ["wf-x.", "", "wf-x."], [0, 1, 1],
               [[515, [], '{"outputs":{"result":"\\u\x00h\x00h\x00h\x00hs"},"phase":"Succeeded","type":"Pod"}', 1],
                [514, [], '{"phase":"Succeeded","type":"Pod"}', 0]],
               [], [], [], [], [], [], [], [""], ["wf-x-2166136261", "wf-x-2991803097"], b"\x00\x00\x00\x00"]
    layout = msgspec.msgpack.encode(written)
    nodes = found_by_hypothesis()
    for native in [False, True] if NATIVE else [False]:
        assert CompactCodec(NodeStatus, native=native).layout(nodes) == layout
        text = COMPACT_PREFIX + base64.b64encode(compact_mod._COMPRESSOR.compress(layout)).decode()
        assert CompactCodec(NodeStatus, native=native).decode(text) == nodes


@pytest.mark.parametrize("workflow", ["", "wf", "wf-0", "0", "u0000s"])
def test_hash_zero_with_strings(workflow):
    """ID `<workflow>-0` beside every kind of hole: results, parameters, repeats (back-references),
    the digit in other fields too."""
    nid = f"{workflow}-0"
    nodes = {
        workflow: NodeStatus(id_=workflow, name=workflow, phase="Running", children=[nid]),
        nid: NodeStatus(id_=nid, name=f"{workflow}.a", boundary_id=workflow, phase="Succeeded",
                        message="exit 0", progress="0/1",
                        inputs=Inputs(parameters=[Parameter(name="p", value=""), Parameter(name="q", value="0")]),
                        outputs=Outputs(result="", exit_code="0", parameters=[Parameter(name="r", value="")])),
    }
    check(nodes)
    check(nodes, workflow_name=workflow)


HASHED = "wf-x-1897832360"  # ids.node_id("wf-x", "wf-x.a")


def hashed_node(**fields) -> NodeStatus:
    """A node whose artifact key holds its hash (a hashed shape) and that has string holes."""
    return NodeStatus(id_=HASHED, name="wf-x.a", phase="Succeeded",
                      outputs=Outputs(result="r", parameters=[Parameter(name="p", value="v")], artifacts=[
                          Artifact(name="main-logs", s3=S3Artifact(key="wf-x/wf-x-t-1897832360/main.log"))]),
                      **fields)


@pytest.mark.parametrize("fields", [
    pytest.param({"display_name": "\x00s"}, id="displayName"),
    pytest.param({"display_name": '"\x00s'}, id="displayName-after-a-quote"),
    pytest.param({"boundary_id": "\x00s"}, id="dangling-boundaryID"),
    pytest.param({"children": ["\x00s", "wf-x"]}, id="dangling-children"),
    pytest.param({"outbound_nodes": ["\x00s"]}, id="dangling-outboundNodes"),
    pytest.param({"display_name": "\x00s", "children": ["\x00s"]}, id="several"),
])
def test_fields_put_back_spell_a_hole(fields):
    """A reference field that stays in a hashed shape may spell a hole's JSON after the holes."""
    check({"wf-x": NodeStatus(id_="wf-x", name="wf-x"), HASHED: hashed_node(**fields)})


@pytest.mark.parametrize("native", IMPLS)
def test_hashed_shape_missing_a_hole_is_corrupt(native):
    """A hashed shape with fewer holes than it declares is still a CorruptStatus (layout)."""
    nodes = {"wf-x": NodeStatus(id_="wf-x", name="wf-x"), HASHED: hashed_node()}
    cols = msgspec.msgpack.decode(CompactCodec(NodeStatus, native=native).layout(nodes))
    cols[6] = [[f, r, t.replace(L.HOLE_JSON, '"v"', 1) if L.HASH_MARK in t else t, h] for f, r, t, h in cols[6]]
    assert any(L.HASH_MARK in t for _, _, t, _ in cols[6])
    text = COMPACT_PREFIX + base64.b64encode(
        compact_mod._COMPRESSOR.compress(msgspec.msgpack.encode(cols))).decode()
    with pytest.raises(CorruptStatus, match="holes") as info:
        CompactCodec(NodeStatus, native=native).decode(text)
    assert info.value.stage == "layout"


@pytest.mark.parametrize("value", [2**62 - 1, 2**62, 2**63 - 1, -(2**62), -(2**62) - 1, -(2**63), 7 * 2**59])
def test_resource_durations_of_any_int64(value):
    """resourcesDuration values are int64 in Argo; the column holds them doubled (2v, or 2q+1 for
    a multiple q of the run time), so beyond ±2^62 the map stays in the shape (encode raised
    OverflowError before)."""
    node = NodeStatus(id_="wf", name="wf", started_at="2024-01-01T00:00:00Z", finished_at="2024-01-01T00:00:07Z",
                      resources_duration={"cpu": value, "memory": 21})
    check({"wf": node})


# -- hypothesis, aimed at hashed shapes: small hashes, strings, fields put back ----------------------

odd = st.sampled_from(["", "0", "00", "s", "\x00s", '"\x00s', "\x00h", "\x00w", "u0000s", "\\u0000s", "wf"])


@st.composite
def hashed_maps(draw) -> tuple[dict[str, NodeStatus], str | None]:
    workflow = draw(st.sampled_from(["", "wf", "wf-0", "0", "u0000s", "w\x00"]))
    numbers = draw(st.lists(st.sampled_from([0, 1, 10, 100, 1000, 10000, 2**32 - 1]), max_size=4, unique=True))
    node_ids = [f"{workflow}-{n}" for n in numbers]
    refs = st.sampled_from(node_ids + [workflow, "\x00s", "elsewhere"])
    nodes = {}
    if draw(st.booleans()):
        nodes[workflow] = NodeStatus(id_=workflow, name=workflow, children=node_ids or None)
    for nid, n in zip(node_ids, numbers):
        strings = st.one_of(odd, st.just(str(n)), st.just(nid))
        key = draw(st.sampled_from([f"{workflow}/{nid}/main.log", f"{n}/{n}", "plain"]))
        nodes[nid] = NodeStatus(
            id_=nid, name=draw(st.one_of(st.none(), odd, st.just(f"{workflow}.{n}"))),
            display_name=draw(st.one_of(st.none(), odd)), boundary_id=draw(st.one_of(st.none(), refs)),
            children=draw(st.one_of(st.none(), st.lists(refs, max_size=2))),
            message=draw(st.one_of(st.none(), strings)),
            started_at=draw(st.sampled_from([None, "2024-01-01T00:00:00Z"])),
            finished_at=draw(st.sampled_from([None, "2024-01-01T00:00:07Z"])),
            resources_duration=draw(st.one_of(st.none(), st.dictionaries(
                st.sampled_from(["cpu", "memory"]), st.one_of(
                    st.integers(-(2**63), 2**63 - 1), st.sampled_from([2**62, -(2**62), 2**62 - 1, 7 * 2**59])),
                max_size=2))),
            inputs=draw(st.one_of(st.none(), st.builds(Inputs, parameters=st.lists(
                st.builds(Parameter, name=st.just("p"), value=st.one_of(st.none(), strings)), max_size=2)))),
            outputs=Outputs(result=draw(st.one_of(st.none(), strings)), exit_code=draw(st.one_of(st.none(), odd)),
                            parameters=draw(st.lists(st.builds(Parameter, name=st.just("q"), value=strings),
                                                     max_size=2)) or None,
                            artifacts=[Artifact(name="a", s3=S3Artifact(key=key))]),
        )
    return nodes, draw(st.sampled_from([None, workflow, "other"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hashed_maps())
def test_hashed_shapes_round_trip(case):
    """Hashed shapes with string holes, hash digits in markers and values, fields put back,
    resource durations over the whole int64 range."""
    check(*case)
