"""Unit tests of the API boundary's parts: errors, selectors, patches, resource descriptors."""
from pathlib import Path

import pytest
import yaml

from tiphys.controller.api import (CLUSTER_WORKFLOW_TEMPLATES, CRON_WORKFLOWS, WORKFLOW_ARTIFACT_GC_TASKS,
                                   WORKFLOW_TASK_RESULTS, WORKFLOW_TASK_SETS, WORKFLOW_TEMPLATES, WORKFLOWS,
                                   AlreadyExists, ApiError, BadRequest, Conflict, Gone, Invalid, NotFound,
                                   TooManyRequests, from_status, label_selector_string, parse_field_selector,
                                   parse_label_selector, to_status)
from tiphys.controller.api.patch import apply_json_patch, apply_merge_patch

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"


@pytest.mark.parametrize("status, cls", [
    pytest.param({"code": 409, "reason": "AlreadyExists"}, AlreadyExists, id="already-exists"),
    pytest.param({"code": 409, "reason": "Conflict"}, Conflict, id="conflict"),
    pytest.param({"code": 410, "reason": "Expired"}, Gone, id="expired"),
    pytest.param({"code": 410, "reason": "Gone"}, Gone, id="gone"),
    pytest.param({"code": 404, "reason": "NotFound"}, NotFound, id="not-found"),
    pytest.param({"code": 422}, Invalid, id="invalid-by-code"),
    pytest.param({"code": 418, "reason": "Teapot"}, ApiError, id="unknown"),
])
def test_from_status_maps_reason_then_code(status, cls):
    """A Status maps to its typed error by reason first, then by code."""
    error = from_status(dict(status, message="m"))
    assert type(error) is cls and error.status == status["code"] and error.message == "m"


def test_from_status_keeps_causes_and_retry_after():
    """Field causes and retryAfterSeconds survive the mapping, and to_status inverts it."""
    status = {"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": "slow down",
              "details": {"retryAfterSeconds": 3}}
    error = from_status(status)
    assert isinstance(error, TooManyRequests) and error.retry_after == 3.0
    invalid = from_status({"code": 422, "reason": "Invalid", "message": "bad", "details": {
        "causes": [{"field": "spec.x", "reason": "FieldValueInvalid", "message": "no"}]}})
    assert [(c.field, c.reason) for c in invalid.causes] == [("spec.x", "FieldValueInvalid")]
    again = from_status(to_status(invalid))
    assert type(again) is Invalid and again.causes == invalid.causes
    assert from_status(status, retry_after=7).retry_after == 7


def test_from_bare_code():
    assert isinstance(from_status(404), NotFound) and isinstance(from_status(410), Gone)


@pytest.mark.parametrize("selector, labels, expected", [
    ("a=1", {"a": "1"}, True),
    ("a=1", {"a": "2"}, False),
    ("a!=1", {}, True),
    ("a in (1, 2),b", {"a": "2", "b": ""}, True),
    ("a notin (1,2)", {"a": "2"}, False),
    ("!a", {"b": "1"}, True),
    ("example.com/key=v_1.x", {"example.com/key": "v_1.x"}, True),
    ("n>3", {"n": "4"}, True),
    ("n<3", {"n": "4"}, False),
    ("n>3", {"n": "x"}, False),
    ("a=", {"a": ""}, True),
])
def test_label_selector_matching(selector, labels, expected):
    assert parse_label_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["a in b", "a=(x", "=x", "a==b==c", "a=b c", "!a=b", "n>x", "a,,b"])
def test_label_selector_errors_name_the_selector(bad):
    """Malformed selectors raise BadRequest quoting the selector."""
    with pytest.raises(BadRequest) as info:
        parse_label_selector(bad)
    assert repr(bad) in info.value.message


def test_label_selector_from_metav1():
    """matchLabels + matchExpressions become the same string form."""
    text = label_selector_string({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "In", "values": ["x", "y"]}, {"key": "d", "operator": "DoesNotExist"},
        {"key": "e", "operator": "Exists"}, {"key": "f", "operator": "NotIn", "values": ["z"]}]})
    assert text == "a=1,b=2,c in (x,y),!d,e,f notin (z)"
    selector = parse_label_selector(text)
    assert selector.matches({"a": "1", "b": "2", "c": "y", "e": "", "f": "q"})
    assert not selector.matches({"a": "1", "b": "2", "c": "y", "e": "", "d": "1"})
    with pytest.raises(BadRequest):
        label_selector_string({"matchExpressions": [{"key": "a", "operator": "Gt"}]})


def test_field_selector():
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed,spec.hostNetwork==true")
    assert selector.matches({"spec": {"nodeName": "n1", "hostNetwork": True}, "status": {"phase": "Running"}})
    assert not selector.matches({"spec": {"nodeName": "n1"}, "status": {}})
    with pytest.raises(BadRequest):
        parse_field_selector("spec.nodeName")


def test_merge_patch_rfc7386_examples():
    """The RFC 7386 appendix example, and inputs left untouched."""
    target = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
              "tags": ["example", "sample"], "content": "This will be unchanged"}
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None},
             "tags": ["example"]}
    result = apply_merge_patch(target, patch)
    assert result == {"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                      "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"}
    assert target["author"] == {"givenName": "John", "familyName": "Doe"}
    assert apply_merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert apply_merge_patch({"a": "b"}, ["c"]) == ["c"]


@pytest.mark.parametrize("doc, ops, expected", [
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"/": 1, "m~n": 2}, [{"op": "replace", "path": "/~1", "value": 3}, {"op": "remove", "path": "/m~0n"}], {"/": 3}),
    ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
])
def test_json_patch_rfc6902_examples(doc, ops, expected):
    assert apply_json_patch(doc, ops) == expected


@pytest.mark.parametrize("doc, ops", [
    ({"foo": "bar"}, [{"op": "test", "path": "/foo", "value": "baz"}]),
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/2", "value": "x"}]),
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/01", "value": "x"}]),
    ({"foo": {}}, [{"op": "replace", "path": "/foo/bar", "value": 1}]),
    ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/c"}]),
])
def test_json_patch_failures_are_invalid(doc, ops):
    with pytest.raises(Invalid) as info:
        apply_json_patch(doc, ops)
    assert info.value.causes[0].field == ops[-1]["path"]


def _crd(plural: str) -> dict:
    path = SHARED / "argo" / "crds" / "minimal" / f"argoproj.io_{plural}.yaml"
    if not path.is_file():
        pytest.skip(f"Argo CRD not found at {path} (../shared/argo is test data, not in the repo)")
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.mark.parametrize("resource", [WORKFLOWS, WORKFLOW_TEMPLATES, CLUSTER_WORKFLOW_TEMPLATES, CRON_WORKFLOWS,
                                      WORKFLOW_TASK_RESULTS, WORKFLOW_TASK_SETS, WORKFLOW_ARTIFACT_GC_TASKS],
                         ids=lambda r: r.plural)
def test_argo_resources_match_crds(resource):
    """Kind, scope, version and the status subresource agree with Argo's CRDs."""
    crd = _crd(resource.plural)
    spec = crd["spec"]
    assert spec["group"] == resource.group and spec["names"]["kind"] == resource.kind
    assert (spec["scope"] == "Namespaced") is resource.namespaced
    [version] = [v for v in spec["versions"] if v.get("storage")]
    assert version["name"] == resource.version
    assert ("status" in (version.get("subresources") or {})) is resource.status_subresource
