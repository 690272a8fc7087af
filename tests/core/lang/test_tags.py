"""Simple and expression tags: golden substitutions, strict/lenient modes, safety, bounds."""
from __future__ import annotations

import json

import pytest
import yaml

from tiphys.core.lang import (ABSENT_SENTINEL, AbsentOutput, LangError, OutputTooLarge, SubstitutionError,
                              TagSyntaxError, UnresolvedVariable, compile_template,
                              referenced_variables, substitute, substitute_object)

from .conftest import NOW

SCOPE = {
    "inputs.parameters.x": "hello",
    "inputs.parameters.n": "3",
    "inputs.parameters.my-param": "dash",
    "steps.a.outputs.result": "A",
    "steps.a-b.outputs.result": "AB",
    "tasks.t.outputs.parameters.p": "P",
    "workflow.name": "wf-1",
    "workflow.uid": "uid-123",
    "workflow.parameters.json": '[{"name":"flag","value":"true"}]',
    "workflow.creationTimestamp": "2024-05-06T07:08:09Z",
    "item": "7",
    "item.key": "v",
    "empty": "",
    "absent": None,
    "pod.name": "wf-1-echo-123",
}

GOLDEN = [
    ("plain text", "plain text"),
    ("", ""),
    ("{{inputs.parameters.x}}", "hello"),
    ("{{ inputs.parameters.x }}", "hello"),
    ("{{\tinputs.parameters.x\n}}", "hello"),
    ("say {{inputs.parameters.x}}!", "say hello!"),
    ("{{inputs.parameters.x}}{{inputs.parameters.x}}", "hellohello"),
    ("{{steps.a.outputs.result}}-{{tasks.t.outputs.parameters.p}}", "A-P"),
    ("{{steps.a-b.outputs.result}}", "AB"),
    ("{{inputs.parameters.my-param}}", "dash"),
    ("{{item}}/{{item.key}}", "7/v"),
    ("[{{empty}}]", "[]"),
    ("{{pod.name}}", "wf-1-echo-123"),
    ("{{unknown.var}}", "{{unknown.var}}"),
    ("{{ unknown }} and {{workflow.name}}", "{{ unknown }} and wf-1"),
    ("{{steps.nope.outputs.result}}", "{{steps.nope.outputs.result}}"),
    ("{ {not a tag} }", "{ {not a tag} }"),
    ("}} stray close", "}} stray close"),
    ("{{a{{workflow.name}}", "{{a{{workflow.name}}"),
    ("{{}}", "{{}}"),
    ("{{=1 + 1}}", "2"),
    ("{{= 1 + 1 }}", "2"),
    ("{{=true}}", "true"),
    ("{{=[1, 2]}}", "[1,2]"),
    ("{{=toJson([1, 2])}}", "[1,2]"),
    ("{{={'b': 1, 'a': '<'}}}", None),
    ("{{=1.5 * 2}}", "3"),
    ("{{=asInt(inputs.parameters.n) * 10}}", "30"),
    ("n={{=asInt(inputs.parameters.n) + 1}};", "n=4;"),
    ("{{=inputs.parameters['my-param']}}", "dash"),
    ("{{=steps['a-b'].outputs.result}}", "AB"),
    ("{{=sprig.upper(inputs.parameters.x)}}", "HELLO"),
    ("{{=jsonpath(workflow.parameters.json, '$[0].value')}}", "true"),
    ("{{=item}}", '{"key":"v"}'),  # `item.key` exists, so `item` is a map in expressions
    ("{{=nil}}", "{{=nil}}"),
    ("{{=unknown.thing}}", "{{=unknown.thing}}"),
    ("{{=1 +}}", "{{=1 +}}"),
    ("{{=1/0 > 0 ? 'inf' : 'x'}}", "inf"),
    ("{{=absent ?? 'fallback'}}", "fallback"),
    ("{{=sprig.date('2006', workflow.creationTimestamp)}}", "2024"),
    ("{{ =1+1 }}", "{{ =1+1 }}"),
    ("{{=retries}}", "{{=retries}}"),
    ("{{=workflow.status}}", "{{=workflow.status}}"),
    ("{{=lastRetry.exitCode ?? '0'}}", "{{=lastRetry.exitCode ?? '0'}}"),
    ("{{=toJson({'k': 'v'})}}", '{"k":"v"}'),
    ("{{=['<a>']}}", '["\\u003ca\\u003e"]'),
    ("{{='<a>'}}", "<a>"),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=t or "empty") for t, e in GOLDEN])
def test_substitute_golden(text: str, expected: str | None) -> None:
    """Lenient substitution as in Argo's passes that allow unresolved tags."""
    if expected is None:  # map literal closes with `}}}`: fasttemplate ends the tag at the first `}}`
        expected = substitute(text, SCOPE, now=NOW)
        assert expected.endswith("}")
        return
    assert substitute(text, SCOPE, now=NOW) == expected


STRICT = [
    ("{{steps.nope.outputs.result}}", "steps.nope.outputs.result", 1),
    ("x {{tasks.other.outputs.result}}", "tasks.other.outputs.result", 3),
    ("{{=steps.nope.outputs.result + 'x'}}", "steps.nope.outputs.result", 4),
    ("ok {{=tasks['t-2'].outputs.result}}", "tasks.t-2.outputs.result", 7),
]


@pytest.mark.parametrize(("text", "name", "column"), [pytest.param(*c, id=c[0]) for c in STRICT])
def test_strict_prefixes_raise_unresolved(text: str, name: str, column: int) -> None:
    """Missing steps.*/tasks.* references raise (requeue) while other tags stay verbatim."""
    with pytest.raises(UnresolvedVariable) as info:
        substitute(text, SCOPE, strict_prefixes=("steps", "tasks"))
    assert info.value.name == name
    assert info.value.column == column


@pytest.mark.parametrize("text", [
    pytest.param("{{nope}}", id="simple"), pytest.param("a {{=nope + 1}}", id="expr"),
    pytest.param("{{=1 +}}", id="syntax"),
])
def test_strict_mode_raises_on_anything_unresolved(text: str) -> None:
    """strict=True: nothing is left verbatim."""
    with pytest.raises(LangError):
        substitute(text, SCOPE, strict=True)
    assert substitute(text, SCOPE) == text


def test_strict_unresolved_names_variable_and_column() -> None:
    """UnresolvedVariable(name, column) for a simple tag."""
    with pytest.raises(UnresolvedVariable) as info:
        substitute("abc {{ nope }}", SCOPE, strict=True)
    assert (info.value.name, info.value.column) == ("nope", 5)


def test_guarded_strict_prefix_is_not_required() -> None:
    """`??` and `?.` guard names from the readiness check (§3.4); evaluation decides the rest."""
    assert substitute("{{=steps?.nope?.outputs?.result ?? 'd'}}", SCOPE,
                      strict_prefixes=("steps",)) == "d"
    # `??` replaces nil values only: a missing producer cannot be read through, so the tag waits
    assert substitute("{{=steps.nope.outputs.result ?? 'd'}}", SCOPE,
                      strict_prefixes=("steps",)) == "{{=steps.nope.outputs.result ?? 'd'}}"


def test_unterminated_tag_is_a_syntax_error() -> None:
    """fasttemplate rejects `{{` without `}}`; so do we, with the column."""
    with pytest.raises(TagSyntaxError) as info:
        substitute("ok {{ never closed", SCOPE)
    assert info.value.column == 4


def test_absent_output_is_terminal_inside_text() -> None:
    """A nil value in a larger string fails terminally (§3.4 rule 5)."""
    with pytest.raises(AbsentOutput) as info:
        substitute("value: {{absent}}", SCOPE)
    assert info.value.name == "absent"


def test_absent_output_pure_tag_becomes_sentinel() -> None:
    """An argument that is exactly one tag referencing an absent value becomes the sentinel."""
    assert substitute("{{absent}}", SCOPE, absent_sentinel=True) == ABSENT_SENTINEL
    with pytest.raises(AbsentOutput):
        substitute(" {{absent}}", SCOPE, absent_sentinel=True)


def test_absent_output_in_bare_expression_is_terminal() -> None:
    """`{{= x}}` on an absent value fails terminally; `??` handles it (§3.4 rules 4-5)."""
    with pytest.raises(AbsentOutput) as info:
        substitute("{{=absent}}", SCOPE)
    assert info.value.name == "absent"
    assert substitute("{{=absent == ''}}", SCOPE) == "false"


def test_non_string_value_in_simple_tag() -> None:
    """Simple tags only insert strings."""
    with pytest.raises(SubstitutionError):
        substitute("{{n}}", {"n": 3})


def test_expressions_can_be_disabled() -> None:
    """EXPRESSION_TEMPLATES=false: `{{=…}}` is just an unknown simple tag."""
    assert substitute("{{=1+1}}", SCOPE, expressions=False) == "{{=1+1}}"


# --- safety: values are never re-parsed --------------------------------------------------------
INJECTED = [
    pytest.param("}}{{workflow.uid", id="tag-breakout"),
    pytest.param('", "evil": "x', id="json-quote-breakout"),
    pytest.param('{"apiVersion": "v1", "kind": "Pod", "spec": {"hostNetwork": true}}', id="json-object"),
    pytest.param("a: 1\nb:\n  - c\n---\nkind: Pod\n", id="yaml-document"),
    pytest.param("{{=sprig.upper('x')}}", id="expression-text"),
    pytest.param("line1\nline2\t\"quoted\" \\ back", id="escapes"),
    pytest.param("\u2028\u0000\x07 weird", id="control-chars"),
]


@pytest.mark.parametrize("value", INJECTED)
def test_injected_parameters_come_out_verbatim(value: str) -> None:
    """CVE-2021-37914 class: a parameter value is data, whatever it contains."""
    spec = {
        "container": {"args": ["{{inputs.parameters.v}}", "pre-{{inputs.parameters.v}}-post"],
                      "env": [{"name": "V", "value": "{{inputs.parameters.v}}"}]},
        "metadata": {"labels": {"k": "{{workflow.uid}}"}},
        "podSpecPatch": '{"containers": [{"name": "main", "args": ["{{inputs.parameters.v}}"]}]}',
    }
    scope = {"inputs.parameters.v": value, "workflow.uid": "UID"}
    out = substitute_object(spec, scope)
    assert out["container"]["args"] == [value, f"pre-{value}-post"]
    assert out["container"]["env"] == [{"name": "V", "value": value}]
    assert out["metadata"] == {"labels": {"k": "UID"}}
    # the shape is unchanged: the substituted object has exactly the same keys
    assert set(out) == set(spec) and set(out["container"]) == {"args", "env"}
    # a string field holding JSON keeps the value as raw text (the caller decides how to parse it)
    assert out["podSpecPatch"] == spec["podSpecPatch"].replace("{{inputs.parameters.v}}", value)
    # the value survives a real YAML/JSON round trip of the result
    assert yaml.safe_load(yaml.safe_dump(out))["container"]["args"][0] == value
    assert json.loads(json.dumps(out))["container"]["env"][0]["value"] == value


def test_substitute_object_returns_new_object_and_keeps_types() -> None:
    """Non-string leaves are kept; the input is not mutated; keys are substituted too."""
    obj = {"a": 1, "b": [True, None, 2.5, "{{item}}"], "{{item.key}}": {"c": "{{item}}"}}
    out = substitute_object(obj, SCOPE)
    assert out == {"a": 1, "b": [True, None, 2.5, "7"], "v": {"c": "7"}}
    assert obj["b"][3] == "{{item}}"


def test_output_size_is_bounded() -> None:
    """A fan-out of a large value hits the size bound with a typed error."""
    big = {"inputs.parameters.v": "x" * 10_000}
    obj = ["{{inputs.parameters.v}}"] * 200
    with pytest.raises(OutputTooLarge):
        substitute_object(obj, big, max_output=1_000_000)
    assert len(substitute_object(obj[:10], big, max_output=1_000_000)) == 10


REFERENCED = [
    ("no tags", ()),
    ("{{a}} {{ b }} {{a}}", ("a", "b")),
    ("{{=asInt(inputs.parameters.n) + steps['a-b'].outputs.result}}",
     ("inputs.parameters.n", "steps.a-b.outputs.result")),
    ("{{=x ?? y}}", ("x", "y")),
    ("{{=filter(data, {# > limit})}}", ("data", "limit")),
    ("{{=let v = a; v + b}}", ("a", "b")),
    ("{{=sprig.upper(workflow.name)}}", ("sprig", "workflow.name")),
    ("{{steps.s.outputs.parameters.p}} and {{=tasks.t.status}}",
     ("steps.s.outputs.parameters.p", "tasks.t.status")),
]


@pytest.mark.parametrize(("text", "names"), [pytest.param(t, n, id=t) for t, n in REFERENCED])
def test_referenced_variables(text: str, names: tuple[str, ...]) -> None:
    """The linter sees every variable a string reads."""
    assert referenced_variables(text) == names


def test_compile_template_segments() -> None:
    """Templates compile into literal runs and tags with 1-based columns."""
    segs = compile_template("a{{ x }}b{{=1}}")
    assert segs[0] == "a" and segs[2] == "b"
    assert (segs[1].name, segs[1].column, segs[1].expression) == ("x", 2, False)
    assert (segs[3].name, segs[3].column, segs[3].expression) == ("1", 10, True)


@pytest.mark.parametrize(("obj", "path"), [
    pytest.param({"container": {"args": ["ok", "{{ never"]}}, "$.container.args[1]", id="list-leaf"),
    pytest.param({"a": {"b-c": "{{steps.x.outputs.result}}"}}, "$.a['b-c']", id="quoted-key"),
    pytest.param([{"v": "{{absent}}"}], "$[0].v", id="absent"),
])
def test_errors_name_the_json_path(obj: object, path: str) -> None:
    """A failing leaf of a substituted object is reported with its JSON path."""
    with pytest.raises(LangError) as info:
        substitute_object(obj, SCOPE, strict_prefixes=("steps",))
    assert info.value.path == path
    assert str(info.value).endswith(f" at {path}")
