"""kubectl JSONPath templates for `valueFrom.jsonPath`."""
from __future__ import annotations

import pytest

from tiphys.executor.resource import JsonPathError, render

OBJ = {"metadata": {"name": "job-1", "labels": {"app.kubernetes.io/name": "x", "b": "2"}},
       "spec": {"replicas": 3, "ratio": 1.5, "on": True},
       "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Done", "status": "False"}]},
       "items": [{"n": "a", "v": 1}, {"n": "b", "v": 2}, {"n": "c", "v": 3}]}


@pytest.mark.parametrize("template, out", [
    ("{.metadata.name}", "job-1"),
    ("{$.metadata.name}", "job-1"),
    ("name={.metadata.name}!", "name=job-1!"),
    (".metadata.name", ".metadata.name"),                       # no braces: printed as is
    ("{.spec.replicas} {.spec.ratio} {.spec.on}", "3 1.5 true"),
    ("{.metadata.labels}", '{"app.kubernetes.io/name":"x","b":"2"}'),
    ("{.metadata.labels['app.kubernetes.io/name']}", "x"),
    ("{.metadata.labels.app\\.kubernetes\\.io/name}", "x"),
    ("{.items[*].n}", "a b c"),
    ("{.items[0].n}{.items[-1].n}", "ac"),
    ("{.items[0:2].v}", "1 2"),
    ("{.items[?(@.v > 1)].n}", "b c"),
    ("{.status.conditions[?(@.type==\"Ready\")].status}", "True"),
    ("{range .items[*]}{.n}={.v};{end}", "a=1;b=2;c=3;"),
    ("{range .items[*]}{.n}{\"\\n\"}{end}", "a\nb\nc\n"),
    ("{..n}", "a b c"),
    ("{range .items[*]}{.n}-{$.metadata.name},{end}", "a-job-1,b-job-1,c-job-1,"),
    ("{.metadata.missing}", ""),                                # kubectl's allow-missing-template-keys
    ("{.items[7].n}", ""),
])
def test_render(template, out):
    assert render(template, OBJ) == out


@pytest.mark.parametrize("template", ["{.metadata.name", "{range .items[*]}{.n}", "{end}", "{.items[x]}",
                                      "{.items[?(@.v ~ 1)]}"])
def test_malformed_templates_raise(template):
    with pytest.raises(JsonPathError):
        render(template, OBJ)
