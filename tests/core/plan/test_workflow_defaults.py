"""`workflowDefaults` merged under a workflow: Kubernetes' strategic merge as Argo applies it."""
from __future__ import annotations

import pytest

from tiphys.core.plan.defaults import DefaultsError, join_workflow_spec, merge_metadata, strategic_merge


def test_the_workflows_own_fields_win_and_missing_ones_come_from_the_defaults():
    defaults = {"activeDeadlineSeconds": 300, "ttlStrategy": {"secondsAfterCompletion": 60, "secondsAfterFailure": 5},
                "serviceAccountName": "argo"}
    spec = {"entrypoint": "main", "activeDeadlineSeconds": 10, "ttlStrategy": {"secondsAfterSuccess": 1}}
    out = join_workflow_spec(spec, defaults=defaults)
    assert out["activeDeadlineSeconds"] == 10
    assert out["serviceAccountName"] == "argo"
    # maps merge key by key
    assert out["ttlStrategy"] == {"secondsAfterCompletion": 60, "secondsAfterFailure": 5, "secondsAfterSuccess": 1}


def test_inputs_are_not_changed():
    defaults = {"podGC": {"strategy": "OnPodSuccess"}}
    spec = {"podGC": {"labelSelector": {"matchLabels": {"a": "b"}}}}
    join_workflow_spec(spec, defaults=defaults)
    assert defaults == {"podGC": {"strategy": "OnPodSuccess"}}
    assert spec == {"podGC": {"labelSelector": {"matchLabels": {"a": "b"}}}}


def test_templates_merge_by_name_and_keep_kubernetes_order():
    defaults = {"templates": [{"name": "a", "container": {"image": "alpine", "command": ["x"]}},
                              {"name": "shared", "container": {"image": "busybox"}}]}
    spec = {"templates": [{"name": "main", "steps": []}, {"name": "a", "container": {"image": "ubuntu"}}]}
    out = join_workflow_spec(spec, defaults=defaults)
    assert [t["name"] for t in out["templates"]] == ["main", "a", "shared"]
    # the template both have: fields merged, the workflow's image wins, the default's command stays
    assert out["templates"][1]["container"] == {"image": "ubuntu", "command": ["x"]}


def test_default_only_items_keep_their_place_before_a_later_common_item():
    # Kubernetes' mergeSortedSlice: a defaults-only item precedes a workflow item that came after it
    # in the defaults
    base = {"parameters": [{"name": "x", "value": "1"}, {"name": "y", "value": "2"}]}
    over = {"parameters": [{"name": "y", "value": "3"}]}
    assert strategic_merge(base, over)["parameters"] == [{"name": "x", "value": "1"}, {"name": "y", "value": "3"}]


def test_lists_without_a_merge_key_are_replaced():
    out = join_workflow_spec({"nodeSelector": {"a": "1"}, "securityContext": {"supplementalGroups": [2]}},
                             defaults={"securityContext": {"supplementalGroups": [1, 3]}, "nodeSelector": {"b": "2"}})
    assert out["securityContext"]["supplementalGroups"] == [2]
    assert out["nodeSelector"] == {"a": "1", "b": "2"}


@pytest.mark.parametrize("field, key, items_base, items_over, expected", [
    pytest.param("tolerations", "key", [{"key": "gpu", "effect": "NoSchedule"}], [{"key": "spot"}],
                 ["spot", "gpu"], id="tolerations-by-key"),
    pytest.param("volumes", "name", [{"name": "v", "emptyDir": {}}], [{"name": "v", "configMap": {"name": "c"}}],
                 ["v"], id="volumes-by-name"),
    pytest.param("hostAliases", "ip", [{"ip": "10.0.0.1"}], [{"ip": "10.0.0.2"}], ["10.0.0.2", "10.0.0.1"],
                 id="host-aliases-by-ip"),
])
def test_merge_keys(field, key, items_base, items_over, expected):
    out = join_workflow_spec({field: items_over}, defaults={field: items_base})
    assert [i[key] for i in out[field]] == expected


def test_a_null_in_the_workflow_is_absent():
    """Go's omitempty drops a nil field before the patch, so the default stays."""
    out = join_workflow_spec({"activeDeadlineSeconds": None}, defaults={"activeDeadlineSeconds": 30})
    assert out["activeDeadlineSeconds"] == 30


def test_hooks_merge_whole_by_name():
    defaults = {"hooks": {"exit": {"template": "notify", "arguments": {"parameters": [{"name": "p", "value": "1"}]}},
                          "running": {"template": "log", "expression": "true"}}}
    out = join_workflow_spec({"hooks": {"exit": {"template": "mine"}}}, defaults=defaults)
    assert out["hooks"]["exit"] == {"template": "mine"}  # not merged with the default exit hook
    assert out["hooks"]["running"] == {"template": "log", "expression": "true"}


def test_with_a_template_the_order_is_workflow_template_defaults_and_suspend_is_the_workflows():
    template = {"entrypoint": "t", "activeDeadlineSeconds": 20, "suspend": True,
                "templates": [{"name": "t", "container": {"image": "a"}}]}
    defaults = {"activeDeadlineSeconds": 99, "parallelism": 3, "suspend": True}
    out = join_workflow_spec({"arguments": {"parameters": [{"name": "p", "value": "v"}]}}, template=template,
                             defaults=defaults)
    assert out["activeDeadlineSeconds"] == 20 and out["parallelism"] == 3 and out["entrypoint"] == "t"
    assert "suspend" not in out
    # without a template, a default suspend applies (Argo's setWorkflowDefaults)
    assert join_workflow_spec({}, defaults=defaults)["suspend"] is True


def test_an_item_without_its_merge_key_names_the_place():
    with pytest.raises(DefaultsError) as info:
        join_workflow_spec({"templates": [{"container": {}}]}, defaults={"templates": [{"name": "a"}]})
    assert info.value.path == "$.spec.templates[0]"
    assert "'name'" in str(info.value)


def test_metadata_labels_and_annotations_go_under_the_workflows():
    meta = {"name": "wf", "labels": {"team": "mine"}}
    out = merge_metadata(meta, {"labels": {"team": "default", "env": "prod"}, "annotations": {"a": "1"},
                                "finalizers": ["x"]})
    assert out == {"name": "wf", "labels": {"team": "mine", "env": "prod"}, "annotations": {"a": "1"}}
    assert merge_metadata(meta, None) is meta


# -- properties the reconciler relies on (the merged spec is written back and merged again) ------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.sampled_from(["a", "b", "c", "d"])
_scalars = st.one_of(st.integers(-3, 3), st.text("xyz", max_size=2), st.booleans())
_templates = st.lists(st.fixed_dictionaries({"name": _names}, optional={"image": _scalars, "n": _scalars}),
                      max_size=4, unique_by=lambda t: t["name"])
_specs = st.fixed_dictionaries({}, optional={
    "activeDeadlineSeconds": _scalars, "templates": _templates, "nodeSelector": st.dictionaries(_names, _scalars),
    "tolerations": st.lists(st.fixed_dictionaries({"key": _names}, optional={"effect": _scalars}), max_size=3,
                            unique_by=lambda t: t["key"]),
    "args": st.lists(_scalars, max_size=3)})


@settings(max_examples=200, deadline=None)
@given(_specs, _specs)
def test_merging_again_changes_nothing_and_the_workflows_values_stay(spec, defaults):
    once = join_workflow_spec(spec, defaults=defaults)
    assert join_workflow_spec(once, defaults=defaults) == once
    for key, value in spec.items():
        if not isinstance(value, (dict, list)) or key == "args":
            assert once[key] == value
    for t in spec.get("templates", ()):
        merged = next(m for m in once["templates"] if m["name"] == t["name"])
        assert all(merged[k] == v for k, v in t.items())
    assert {t["name"] for t in once.get("templates", ())} == \
        {t["name"] for t in [*spec.get("templates", ()), *defaults.get("templates", ())]}
