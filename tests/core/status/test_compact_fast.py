"""The Cython compact loops against the pure-Python reference: same bytes, each reads the other."""
from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiphys.core.spec import NodeStatus, Outputs, Parameter
from tiphys.core.status import CompactCodec, _compact_native
from tiphys.core.status import _compact_layout as L
from tiphys.core.status.synth import synthetic_nodes

from .test_compact import WF, node_maps

native = _compact_native.native
pytestmark = pytest.mark.skipif(native is None, reason="tiphys.core._fast._compact is not built")


def both(nodes, **kw) -> tuple[bytes, bytes]:
    return (CompactCodec(NodeStatus, native=False).layout(nodes, **kw),
            CompactCodec(NodeStatus, native=True).layout(nodes, **kw))


def test_constants_match_the_layout():
    """The extension repeats the layout's flags and markers (it may not import tiphys.core)."""
    for name, value in native.FLAGS.items():
        assert getattr(L, name) == value, name
    assert native.MARKERS == {"HASH_MARK": L.HASH_MARK, "WF_MARK": L.WF_MARK, "HOLE_JSON": L.HOLE_JSON}


def test_realistic_status_same_bytes(nodes5k):
    """5,000 realistic nodes: byte-identical layouts; each implementation decodes the other's."""
    ref, fast = both(nodes5k)
    assert ref == fast
    text = CompactCodec(NodeStatus, native=True).encode(nodes5k)
    assert CompactCodec(NodeStatus, native=False).decode(text) == nodes5k
    text = CompactCodec(NodeStatus, native=False).encode(nodes5k)
    assert CompactCodec(NodeStatus, native=True).decode(text) == nodes5k


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_maps(), st.sampled_from([None, WF, "", "other", 'q"\x00']))
def test_any_map_same_bytes(nodes, workflow_name):
    """Arbitrary maps (NULs, quotes, odd IDs and timestamps, dangling references): same bytes,
    and each implementation decodes the other's output to the same nodes."""
    ref, fast = both(nodes, workflow_name=workflow_name)
    assert ref == fast
    for writer in (False, True):
        text = CompactCodec(NodeStatus, native=writer).encode(nodes, workflow_name=workflow_name)
        assert CompactCodec(NodeStatus, native=not writer).decode(text) == nodes


@given(st.text(alphabet="0123456789-:TZ ", min_size=18, max_size=22))
def test_timestamps_read_alike(text):
    """Which timestamps become columns is decided identically (the C parser vs strptime)."""
    node = NodeStatus(id_=f"{WF}-1", name=f"{WF}.a", started_at=text, finished_at="2024-02-29T23:59:59Z")
    ref, fast = both({node.id_: node})
    assert ref == fast


@pytest.mark.parametrize("stamp", ["2023-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "0999-12-31T23:59:59Z",
                                   "1000-01-01T00:00:00Z", "9999-12-31T23:59:60Z", "2024-13-01T00:00:00Z",
                                   "2024-12-31T24:00:00Z", "1970-01-01T00:00:00Z", "2024-04-31T00:00:00Z"])
def test_edge_timestamps(stamp):
    """Leap days, year 1000, leap seconds and invalid dates: as the reference decides."""
    node = NodeStatus(id_=f"{WF}-1", name=f"{WF}.a", started_at=stamp)
    ref, fast = both({node.id_: node})
    assert ref == fast


@pytest.mark.parametrize(("name", "boundary"), [
    ("wf-x.a", "wf-x"), ("wf-x[0].a", "wf-x"), ("wf-x[01].a", "wf-x"), ("wf-x[].a", "wf-x"), ("wf-x[0]", "wf-x"),
    ("wf-x[0].", "wf-x"), ("wf-x.", "wf-x"), ("wf-x", "wf-x"), ("wf-xy", "wf-x"), ("wf-x[a].b", "wf-x"),
    ("wf-x[٣].b", "wf-x"), ("wf-xé.b", "wf-xé"), ("wf-x", "other"),
])
def test_display_names_derived_alike(name, boundary):
    """The derived displayName check (`ids.display_name`) agrees on every branch of its rule."""
    from tiphys.core.status import ids
    b = NodeStatus(id_=f"{WF}-9", name=boundary)
    node = NodeStatus(id_=f"{WF}-1", name=name, boundary_id=b.id_, display_name=ids.display_name(name, boundary))
    odd = msgspec.structs.replace(node, id_=f"{WF}-2", display_name=name[1:])
    nodes = {b.id_: b, node.id_: node, odd.id_: odd}
    ref, fast = both(nodes)
    assert ref == fast
    assert CompactCodec(NodeStatus, native=True).decode(CompactCodec(NodeStatus).encode(nodes)) == nodes


def test_values_left_to_the_reference():
    """Nodes the extension does not walk itself (a tuple for a list, a NUL in a name, a hole
    spelled by another value, a non-int resource) get the reference's row: same bytes."""
    nodes = {
        f"{WF}-1": NodeStatus(id_=f"{WF}-1", name=f"{WF}.a\x00", phase="Succeeded"),
        f"{WF}-2": NodeStatus(id_=f"{WF}-2", name=f"{WF}.b", host_node_name="h\x00"),
        f"{WF}-3": NodeStatus(id_=f"{WF}-3", name=f"{WF}.c", message='"\x00s"',
                              outputs=Outputs(result="r", parameters=[Parameter(name="p", value="v")])),
        f"{WF}-4": NodeStatus(id_=f"{WF}-4", name=f"{WF}.d", children=(f"{WF}-1",)),  # type: ignore[arg-type]
        f"{WF}-5": NodeStatus(id_=f"{WF}-5", name=f"{WF}.e", resources_duration={"cpu": True}),
    }
    ref, fast = both(nodes)
    assert ref == fast


class Other(msgspec.Struct, omit_defaults=False, rename="camel"):
    """A node type with no omit_defaults and a non-None default: walked by neither fast path."""

    id: str = ""  # shapes are decoded without their ID: a required field cannot be one
    name: str | None = None
    boundary_id: str | None = None
    phase: str = "Pending"


def test_other_node_types():
    """The codec is generic over the node Struct type, in both implementations."""
    nodes = {"w": Other(id="w", name="w"), "w-1": Other(id="w-1", name="w.a", boundary_id="w", phase="Running")}
    ref = CompactCodec(Other, native=False)
    fast = CompactCodec(Other, native=True)
    assert ref.layout(nodes) == fast.layout(nodes)
    assert fast.decode(ref.encode(nodes)) == nodes


class WithUnset(msgspec.Struct, omit_defaults=True, rename="camel"):
    """A node type whose fields may hold msgspec.UNSET (left out of the JSON, like None here)."""

    id: str = ""
    name: str | None = None
    boundary_id: str | None = None
    phase: str | None | msgspec.UnsetType = msgspec.UNSET
    started_at: str | None | msgspec.UnsetType = msgspec.UNSET
    host_node_name: str | None | msgspec.UnsetType = msgspec.UNSET


def test_unset_fields():
    """UNSET fields are left out by both implementations (msgspec leaves them out)."""
    nodes = {"w": WithUnset(id="w", name="w", phase="Running"),
             "w-1": WithUnset(id="w-1", name="w.a", boundary_id="w", started_at="2024-01-01T00:00:00Z"),
             "w-2": WithUnset(id="w-2", name="w.b", boundary_id="w", host_node_name="h")}
    ref, fast = CompactCodec(WithUnset, native=False), CompactCodec(WithUnset, native=True)
    assert ref.layout(nodes) == fast.layout(nodes)
    # The same in a type the native rows walk: UNSET where None is the default.
    unset = msgspec.UNSET
    spec_nodes = {f"{WF}-1": NodeStatus(id_=f"{WF}-1", name=f"{WF}.a", phase=unset, message=unset,  # type: ignore
                                        outputs=Outputs(exit_code=unset, result="r",  # type: ignore
                                                        parameters=[Parameter(name="p", value=unset)]))}  # type: ignore
    assert both(spec_nodes)[0] == both(spec_nodes)[1]


def test_sizes_and_caches_agree():
    """Small maps of every size, and a warm native codec: the same bytes as a cold reference."""
    warm = CompactCodec(NodeStatus, native=True)
    for count in (12, 40, 300):
        nodes = msgspec.convert(synthetic_nodes(count, seed=count), dict[str, NodeStatus])
        assert warm.layout(nodes) == CompactCodec(NodeStatus, native=False).layout(nodes)
        changed = dict(nodes)
        key = next(iter(changed))
        changed[key] = msgspec.structs.replace(changed[key], message="changed")
        assert warm.layout(changed) == CompactCodec(NodeStatus, native=False).layout(changed)


@pytest.mark.parametrize("codec_native", [False, True])
def test_warm_codec_when_the_map_order_changes(nodes200, codec_native):
    """Cached rows are found by key when the map's order changed (reversed, a node removed in the
    middle, one added in front): the same bytes as a cold codec of the other implementation."""
    warm = CompactCodec(NodeStatus, native=codec_native)
    warm.layout(nodes200)
    keys = list(nodes200)
    variants = [
        {k: nodes200[k] for k in reversed(keys)},
        {k: nodes200[k] for k in keys if k != keys[len(keys) // 2]},
        {f"{WF}-0": NodeStatus(id_=f"{WF}-0", name=f"{WF}.first"), **nodes200},
    ]
    for nodes in variants:
        assert warm.layout(nodes) == CompactCodec(NodeStatus, native=not codec_native).layout(nodes)


def test_without_the_extension_the_reference_runs():
    """With `tiphys.core._fast._compact` missing, importing the codec warns once and every codec
    runs the reference; asking for the native loops is an ImportError."""
    import subprocess
    import sys

    script = """
import sys, warnings
sys.modules["tiphys.core._fast._compact"] = None  # as if the extension were not built
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from tiphys.core.spec import NodeStatus
    from tiphys.core.status import CompactCodec
messages = [str(w.message) for w in caught if "compact codec" in str(w.message)]
assert len(messages) == 1, messages
codec = CompactCodec(NodeStatus)
assert codec.native is False
node = NodeStatus(id_="wf", name="wf", phase="Running")
assert codec.decode(codec.encode({"wf": node})) == {"wf": node}
try:
    CompactCodec(NodeStatus, native=True)
except ImportError:
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
