"""Loading YAML/JSON as kubectl reads it, with lines, and bounded against hostile input."""
from __future__ import annotations

import pytest

from tiphys.core.spec import Limits, SpecError, load_text


def test_yaml11_scalars_as_kubectl_reads_them():
    """`yes` is a bool and numbers are numbers, but dates stay strings."""
    [doc] = load_text("a: yes\nb: 2024-01-02\nc: 010\nd: 1.5\ne: null\nf: '3'\n")
    assert doc.body == {"a": True, "b": "2024-01-02", "c": 8, "d": 1.5, "e": None, "f": "3"}


def test_lines_are_recorded_per_path():
    """Every key and item maps to its line, so errors can point at it."""
    [doc] = load_text("a:\n  b:\n  - x\n  - y: 1\n")
    assert doc.line_of(("a", "b", 1, "y")) == 4
    assert doc.line_of(("a", "b", 0)) == 3
    assert doc.line_of(("a", "missing", "deeper")) == 1


def test_multi_document_and_json():
    """`---` separates documents; JSON is YAML."""
    docs = load_text('{"kind": "A"}\n---\nkind: B\n')
    assert [d.kind for d in docs] == ["A", "B"]


@pytest.mark.parametrize("text, message", [
    pytest.param("a: [1, 2\n", "malformed YAML", id="unclosed-flow"),
    pytest.param("a: b\n c: d\n", "malformed YAML", id="bad-indent"),
    pytest.param("a: 'x\n", "malformed YAML", id="unclosed-quote"),
    pytest.param("? [a, b]\n: c\n", "mapping keys must be scalars", id="complex-key"),
    pytest.param("a: .nan\n", "not a number JSON can hold", id="nan"),
    pytest.param("a: !!python/object:os.system x\n", "unreadable value", id="python-tag"),
    pytest.param("a: " + "[" * 1000 + "]" * 1000, "nesting deeper", id="deep-flow"),
])
def test_bad_input_is_one_clear_error(text, message):
    """Bad input raises SpecError naming the place, never another exception."""
    with pytest.raises(SpecError) as info:
        load_text(text, source="f.yaml")
    assert message in info.value.message
    assert str(info.value).startswith("f.yaml")


def test_malformed_yaml_names_the_line():
    with pytest.raises(SpecError) as info:
        load_text("a: 1\nb: 2\nc: [\n", source="f.yaml")
    assert info.value.location.line == 4


def test_oversized_document_is_refused_before_parsing():
    with pytest.raises(SpecError, match="over the 100-byte limit"):
        load_text("a: " + "x" * 200, limits=Limits(max_bytes=100))


def test_alias_bomb_is_refused_quickly():
    """Nine levels of tenfold aliases would be a billion values; the budget stops it at once."""
    text = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    with pytest.raises(SpecError, match="alias bomb"):
        load_text(text)


def test_shared_aliases_within_budget_expand():
    """Ordinary anchors (YAML merge keys, reused lists) expand as kubectl expands them."""
    [doc] = load_text("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\nlist: [*b, *b]\n")
    assert doc.body["use"] == {"x": 1, "y": 2}
    assert doc.body["list"] == [{"x": 1}, {"x": 1}]


def test_not_utf8():
    with pytest.raises(SpecError, match="not UTF-8"):
        load_text(b"a: \xff\xfe\n")


def test_duplicate_keys_warn():
    [doc] = load_text("a: 1\na: 2\n", source="f.yaml")
    assert doc.body == {"a": 2}
    assert [w.severity for w in doc.warnings] == ["warning"]
    assert doc.warnings[0].location.line == 2
