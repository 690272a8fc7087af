"""Loops: item scopes, node names, withParam/withSequence, aggregation of fanned-out outputs."""
from __future__ import annotations

import pytest

from tiphys.core.lang import (LoopChild, LoopError, aggregate_outputs, expand_items,
                              expand_sequence, item_scope, loop_node_name, parse_with_param)

NAMES = [
    ("a", "fan(0:a)"), (1, "fan(0:1)"), (1.5, "fan(0:1.5)"), (2.0, "fan(0:2)"), (True, "fan(0:true)"),
    ({"os": "debian", "v": 9}, "fan(0:os:debian,v:9)"),
    ({"v": 9, "os": "debian"}, "fan(0:os:debian,v:9)"),
    # nested values are raw JSON in Go (written order kept); only the item's own keys are sorted
    ({"b": "x", "a": {"z": 1, "c": [1, 2]}}, 'fan(0:a:{"z":1,"c":[1,2]},b:x)'),
    (["a", "b", 3], "fan(0:[a b 3])"), ([], "fan(0:[])"), ("x(y)", "fan(0:xy)"),
    ("f(1:2)", "fan(0:f1:2)"), ('say "hi"', 'fan(0:say \\"hi\\")'), ("<&>", "fan(0:<&>)"),
    ("tab\there", "fan(0:tab\\there)"), ("ünï", "fan(0:ünï)"), ({"k": "v(1)"}, "fan(0:k:v1)"),
    ({"k": True, "n": None}, "fan(0:k:true,n:null)"), ({"é": 1, "a": 2}, "fan(0:a:2,é:1)"),
]


@pytest.mark.parametrize(("item", "name"), [pytest.param(i, n, id=n) for i, n in NAMES])
def test_loop_node_names(item: object, name: str) -> None:
    """Expanded nodes are named `name(index:description)` exactly as Argo names them."""
    assert loop_node_name("fan", 0, item) == name
    assert expand_items([item])[0].node_name("fan") == name


SCOPES = [
    ("a", {"item": "a"}), (7, {"item": "7"}), (7.25, {"item": "7.25"}), (False, {"item": "false"}),
    ({"os": "debian", "v": 9}, {"item": '{"os":"debian","v":9}', "item.os": "debian", "item.v": "9"}),
    ({"m": {"b": 1, "a": "<"}}, {"item": '{"m":{"b":1,"a":"\\u003c"}}', "item.m": '{"b":1,"a":"\\u003c"}'}),
    ([1, "a"], {"item": '[1,"a"]'}), ({"l": [1, 2]}, {"item": '{"l":[1,2]}', "item.l": "[1,2]"}),
    ('q"uote', {"item": 'q"uote'}),
]


@pytest.mark.parametrize(("item", "scope"), [pytest.param(i, s, id=repr(i)) for i, s in SCOPES])
def test_item_scope(item: object, scope: dict[str, str]) -> None:
    """`{{item}}` and `{{item.k}}` values: strings raw, everything else JSON."""
    assert item_scope(item) == scope


def test_with_param_keeps_raw_numbers_and_order() -> None:
    """Go keeps each withParam item's raw JSON; names and scopes use it."""
    items = expand_items(parse_with_param('[1.50, "x", {"b": 2, "a": 1e3}]'))
    assert [i.node_name("t") for i in items] == ["t(0:1.50)", "t(1:x)", "t(2:a:1e3,b:2)"]
    assert items[0].scope == {"item": "1.50"}
    assert items[2].scope["item.a"] == "1e3"
    assert [i.index for i in items] == [0, 1, 2]


@pytest.mark.parametrize("text", [
    pytest.param("not json", id="garbage"), pytest.param('{"a": 1}', id="object"),
    pytest.param('"[1]"', id="string"), pytest.param("[1,", id="truncated"), pytest.param("", id="empty"),
    pytest.param("[NaN]", id="nan"),
])
def test_with_param_rejects_non_lists(text: str) -> None:
    """withParam must be a JSON list."""
    with pytest.raises(LoopError, match="withParam value could not be parsed as a JSON list"):
        parse_with_param(text)


def test_null_items_are_rejected() -> None:
    """Argo has no null item kind."""
    with pytest.raises(LoopError):
        expand_items([None])


SEQUENCES = [
    (dict(count=3), ["0", "1", "2"]),
    (dict(count="3"), ["0", "1", "2"]),
    (dict(count=0), []),
    (dict(count=2, start=5), ["5", "6"]),
    (dict(start=1, end=3), ["1", "2", "3"]),
    (dict(start="3", end="1"), ["3", "2", "1"]),
    (dict(start=-1, end=1), ["-1", "0", "1"]),
    (dict(start=2, end=2), ["2"]),
    (dict(count=3, start=1, format="test-%02d"), ["test-01", "test-02", "test-03"]),
    (dict(count=2, format="%x"), ["0", "1"]),
    (dict(start=10, end=11, format="%X-%o"), ["A-%!o(MISSING)", "B-%!o(MISSING)"]),
    (dict(count=1, format="id"), ["id%!(EXTRA int=0)"]),
    (dict(count=1, start=7, format="%5d|%-3d|"), ["    7|%!d(MISSING)|"]),
    (dict(count=1, start=5, format="%+d %%"), ["+5 %"]),
    (dict(count=1, start=5, format="%s"), ["%!s(int=5)"]),
    (dict(count=1, start=255, format="%#x"), ["0xff"]),
    (dict(count=1, start=5, format="%b"), ["101"]),
    (dict(count=1, start=3, format="%.3d"), ["003"]),
]


@pytest.mark.parametrize(("kwargs", "items"), [pytest.param(k, i, id=repr(k)) for k, i in SEQUENCES])
def test_with_sequence(kwargs: dict[str, object], items: list[str]) -> None:
    """withSequence follows expandSequence and Go's printf."""
    assert expand_sequence(**kwargs) == items


@pytest.mark.parametrize("kwargs", [
    pytest.param({}, id="no-end-no-count"), pytest.param(dict(count="x"), id="bad-count"),
    pytest.param(dict(start="1.5", end=3), id="float-start"), pytest.param(dict(count=True), id="bool"),
    pytest.param(dict(count=1, format='%d"'), id="quote-in-format"),
    pytest.param(dict(count=10**9), id="too-many"),
])
def test_with_sequence_errors(kwargs: dict[str, object]) -> None:
    """Bad sequences raise LoopError."""
    with pytest.raises(LoopError):
        expand_sequence(**kwargs)


def test_aggregate_results_and_parameters() -> None:
    """Only Succeeded children, in index order; results parsed as JSON; params per name."""
    kids = [
        LoopChild(2, "Succeeded", result='{"b": 1, "a": 2}', parameters={"p": "c"}),
        LoopChild(0, "Succeeded", result="1", parameters={"p": "a", "q": "x"}),
        LoopChild(1, "Failed", result="99", parameters={"p": "failed"}),
        LoopChild(3, "Succeeded", result='"s"', parameters={"p": "d"}, hooked=True),
    ]
    out = aggregate_outputs("steps.fan", kids)
    assert out == {
        "steps.fan.outputs.result": '[1,{"b":1,"a":2}]',
        "steps.fan.outputs.parameters": '[{"p":"a","q":"x"},{"p":"c"}]',
        "steps.fan.outputs.parameters.p": '["a","c"]',
        "steps.fan.outputs.parameters.q": '["x"]',
    }


def test_aggregate_parameters_of_json_objects() -> None:
    """When every value is a JSON object/list, the aggregate is a list of those values."""
    kids = [LoopChild(0, "Succeeded", parameters={"p": '{"x": 1}'}),
            LoopChild(1, "Succeeded", parameters={"p": "[1, 2]"})]
    assert aggregate_outputs("tasks.t", kids)["tasks.t.outputs.parameters.p"] == '[{"x":1},[1,2]]'
    mixed = kids + [LoopChild(2, "Succeeded", parameters={"p": "3"})]
    assert aggregate_outputs("tasks.t", mixed)["tasks.t.outputs.parameters.p"] == \
        '["{\\"x\\": 1}","[1, 2]","3"]'


def test_aggregate_plain_text_result_fails_clearly() -> None:
    """A non-JSON result makes aggregation fail (Argo behaviour) with a clear error."""
    with pytest.raises(LoopError, match="not valid JSON"):
        aggregate_outputs("steps.s", [LoopChild(0, "Succeeded", result="hello world")])


def test_aggregate_empty_and_no_outputs() -> None:
    """No children → nothing; children without outputs → empty lists."""
    assert aggregate_outputs("steps.s", []) == {}
    assert aggregate_outputs("steps.s", [LoopChild(0, "Succeeded")]) == {
        "steps.s.outputs.result": "[]", "steps.s.outputs.parameters": "[]"}
