"""Worked Argo examples end to end: the values a user would see, pass after pass."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiphys.core.lang import (expand_items, inputs_vars, parse_with_param, substitute,
                              substitute_object, workflow_vars)

from .conftest import NOW

CREATED = dt.datetime(2023, 7, 1, 12, 0, tzinfo=dt.timezone.utc)


def _load(examples_dir: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((examples_dir / name).read_text())


def _globals(doc: dict[str, Any]) -> dict[str, str]:
    return workflow_vars(name="wf", namespace="argo", uid="uid-1", creation_timestamp=CREATED,
                         parameters=doc["spec"].get("arguments", {}).get("parameters", []))


def test_destructure_json_complex(examples_dir: Path) -> None:
    """jsonpath filters, slices and wildcards render as Go JSON text in parameters."""
    doc = _load(examples_dir, "expression-destructure-json-complex.yaml")
    params = doc["spec"]["templates"][0]["inputs"]["parameters"]
    values = {p["name"]: substitute(p["value"], _globals(doc), strict=True) for p in params}
    assert values == {"a": "[43]", "b": "[43]", "c": '[{"age":43,"name":"Baris"}]',
                      "d": '["Baris","Mo","Jai"]'}
    env = substitute_object(doc["spec"]["templates"][0]["script"]["env"],
                            inputs_vars([{"name": k, "value": v} for k, v in values.items()]))
    assert [e["value"] for e in env] == ["[43]", "[43]", '[{"age":43,"name":"Baris"}]',
                                         '["Baris","Mo","Jai"]']


def test_expression_tag_template(examples_dir: Path) -> None:
    """withParam from an expression, `{{=item}}` per item, then asInt/sprig.date in the pod."""
    doc = _load(examples_dir, "expression-tag-template-workflow.yaml")
    task = doc["spec"]["templates"][0]["dag"]["tasks"][0]
    scope = _globals(doc)
    items = expand_items(parse_with_param(substitute(task["withParam"], scope, strict=True)))
    assert [i.node_name("main.task-0") for i in items] == ["main.task-0(0:3)"]
    (item,) = items
    foo = substitute(task["arguments"]["parameters"][0]["value"], {**scope, **item.scope})
    assert foo == "3"
    pod = doc["spec"]["templates"][1]
    args = substitute_object(pod["container"]["args"],
                             {**scope, **inputs_vars([{"name": "foo", "value": foo}])}, now=NOW)
    assert args[1] == "hello 30 @ 2024\n"  # sprig.date on a string formats *now* (sprig quirk)


def test_reusing_verbose_snippets(examples_dir: Path) -> None:
    """map/#/sprig.add over base64-decoded JSON, then jsonpath on the produced JSON."""
    doc = _load(examples_dir, "expression-reusing-verbose-snippets.yaml")
    scope = _globals(doc)
    main = doc["spec"]["templates"][0]
    week = substitute(main["inputs"]["parameters"][0]["value"], scope, strict=True)
    assert week == '{"avg":35.8,"max":57,"min":15}'
    env = substitute_object(main["script"]["env"],
                            inputs_vars([{"name": "week-temps", "value": week}]))
    assert {e["name"]: e["value"] for e in env} == {"AVG": "35.8", "MIN": "15", "MAX": "57"}


@pytest.mark.parametrize(("param", "expected"), [
    pytest.param("{{=jsonpath(workflow.parameters.json, '$[0].value') == 'true'}}", "true", id="json"),
    pytest.param("{{workflow.parameters.json}}", '[{"name":"should-print","value":"true"}]', id="raw"),
])
def test_workflow_parameters_json(param: str, expected: str) -> None:
    """`workflow.parameters.json` is the argument array, readable by jsonpath."""
    scope = workflow_vars(name="w", namespace="n", uid="u", creation_timestamp=CREATED,
                          parameters=[{"name": "should-print", "value": "true"}])
    assert substitute(param, scope, strict=True) == expected
