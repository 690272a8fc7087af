"""The artifact repository a workflow uses (Argo's resolution order) and its pods' archiveLocation."""
from __future__ import annotations

import pytest

from tiphys.core.plan.artifact_repo import (DEFAULT_REPOSITORY_ANNOTATION, RepositoryError, archive_location,
                                            has_location, repository_of, resolve_repository)

S3_A = "s3:\n  bucket: a\n  endpoint: minio:9000\n  keyFormat: 'a/{{workflow.name}}'\n"
S3_B = "s3:\n  bucket: b\n  endpoint: minio:9000\n"
CONTROLLER = {"s3": {"bucket": "controller", "endpoint": "minio:9000"}}


def reader(configmaps: dict):
    """`read(namespace, name)` over {(ns, name): (data, annotations)}."""
    return lambda ns, name: configmaps.get((ns, name))


def resolve(ref, configmaps, *, default=CONTROLLER, namespace="wf-ns", controller_namespace="argo"):
    return resolve_repository(ref, namespace=namespace, controller_namespace=controller_namespace, default=default,
                              read=reader(configmaps))


def test_a_ref_names_configmap_and_key():
    cms = {("wf-ns", "my-repos"): ({"a": S3_A, "b": S3_B}, {})}
    got = resolve({"configMap": "my-repos", "key": "b"}, cms)
    assert got == {"configMap": "my-repos", "key": "b", "namespace": "wf-ns",
                   "artifactRepository": {"s3": {"bucket": "b", "endpoint": "minio:9000"}}}


def test_a_ref_without_key_takes_the_annotated_default_and_records_it():
    cms = {("wf-ns", "artifact-repositories"): ({"a": S3_A, "b": S3_B}, {DEFAULT_REPOSITORY_ANNOTATION: "a"})}
    got = resolve({}, cms)  # configMap defaults to artifact-repositories
    assert got["configMap"] == "artifact-repositories" and got["key"] == "a"
    assert got["artifactRepository"]["s3"]["keyFormat"] == "a/{{workflow.name}}"


def test_a_ref_falls_back_to_the_controllers_namespace():
    cms = {("argo", "shared"): ({"k": S3_B}, {})}
    got = resolve({"configMap": "shared", "key": "k"}, cms)
    assert got["namespace"] == "argo" and got["artifactRepository"]["s3"]["bucket"] == "b"


@pytest.mark.parametrize("cms", [
    pytest.param({}, id="configmap-missing"),
    pytest.param({("wf-ns", "my-repos"): ({"other": S3_B}, {})}, id="key-missing"),
])
def test_a_missing_ref_is_an_error_naming_it_never_the_default(cms):
    with pytest.raises(RepositoryError) as info:
        resolve({"configMap": "my-repos", "key": "k"}, cms)
    assert str(info.value) == 'failed to find any artifact repository for artifact repository ref "my-repos#k"'
    assert info.value.ref == {"configMap": "my-repos", "key": "k"}


def test_without_ref_the_namespace_default_comes_before_the_controllers():
    cms = {("wf-ns", "artifact-repositories"): ({"b": S3_B}, {DEFAULT_REPOSITORY_ANNOTATION: "b"})}
    assert resolve(None, cms)["artifactRepository"]["s3"]["bucket"] == "b"


@pytest.mark.parametrize("cms", [
    pytest.param({}, id="no-configmap"),
    pytest.param({("wf-ns", "artifact-repositories"): ({"b": S3_B}, {})}, id="no-default-annotation"),
    pytest.param({("argo", "artifact-repositories"): ({"b": S3_B}, {DEFAULT_REPOSITORY_ANNOTATION: "b"})},
                 id="controller-namespace-not-searched-without-ref"),
])
def test_without_ref_the_controller_configmap_repository_is_the_last_resort(cms):
    assert resolve(None, cms) == {"default": True, "artifactRepository": CONTROLLER}


def test_nothing_configured_records_an_empty_default():
    assert resolve(None, {}, default=None) == {"default": True, "artifactRepository": {}}


def test_a_value_that_is_not_a_mapping_is_an_error_at_once():
    cms = {("wf-ns", "my-repos"): ({"k": "- a list"}, {})}
    with pytest.raises(RepositoryError, match='"wf-ns/my-repos#k".*does not hold a mapping'):
        resolve({"configMap": "my-repos", "key": "k"}, cms)


def test_a_recorded_ref_keeps_its_repository_even_when_the_configmap_changed():
    recorded = {"configMap": "c", "key": "k", "namespace": "n", "artifactRepository": {"s3": {"bucket": "old"}}}
    cms = {("n", "c"): ({"k": S3_B}, {})}
    assert repository_of(recorded, default=CONTROLLER, read=reader(cms)) == {"s3": {"bucket": "old"}}
    # recorded before Argo 3.1: read again; gone is an error naming it
    bare = {"configMap": "c", "key": "k", "namespace": "n"}
    assert repository_of(bare, default=None, read=reader(cms))["s3"]["bucket"] == "b"
    with pytest.raises(RepositoryError, match='"n/c#k"'):
        repository_of(bare, default=None, read=reader({}))


# -- archiveLocation -------------------------------------------------------------------------

REPO = {"s3": {"bucket": "b", "endpoint": "minio:9000", "insecure": True, "keyFormat": "x/{{workflow.name}}"}}


def test_a_key_only_output_gets_the_repository_with_keyformat_as_key():
    tmpl = {"name": "t", "outputs": {"artifacts": [{"name": "o", "path": "/o", "s3": {"key": "k"}}]}}
    assert archive_location(tmpl, REPO) == {"s3": {"bucket": "b", "endpoint": "minio:9000", "insecure": True,
                                                   "key": "x/{{workflow.name}}"}, "archiveLogs": False}


def test_default_key_format_and_key_prefix():
    tmpl = {"outputs": {"artifacts": [{"name": "o", "path": "/o"}]}}
    assert archive_location(tmpl, {"s3": {"bucket": "b"}})["s3"]["key"] == "{{workflow.name}}/{{pod.name}}"
    assert archive_location(tmpl, {"s3": {"bucket": "b", "keyPrefix": "p/"}})["s3"]["key"] == \
        "p/{{workflow.name}}/{{pod.name}}"


def test_templates_that_need_nothing_or_name_their_own_location_are_left_alone():
    full = {"s3": {"bucket": "b", "endpoint": "e", "key": "k"}}
    assert archive_location({"container": {}}, REPO) is None
    assert archive_location({"outputs": {"artifacts": [{"name": "o", **full}]}}, REPO) is None
    assert archive_location({"archiveLocation": full, "outputs": {"artifacts": [{"name": "o"}]}}, REPO) is None
    assert archive_location({"inputs": {"artifacts": [{"name": "i", "raw": {"data": "x"}}]}}, REPO) is None


def test_archive_logs_priorities():
    """Argo's IsArchiveLogs: repository on > template > workflow > off."""
    assert archive_location({}, {**REPO, "archiveLogs": True})["archiveLogs"] is True
    assert archive_location({}, REPO, workflow_archive_logs=True)["archiveLogs"] is True
    assert archive_location({"archiveLocation": {"archiveLogs": False}}, REPO, workflow_archive_logs=True) is None
    got = archive_location({"archiveLocation": {"archiveLogs": True}}, REPO, workflow_archive_logs=False)
    assert got["archiveLogs"] is True and got["s3"]["bucket"] == "b"
    got = archive_location({"archiveLocation": {"archiveLogs": False}}, {**REPO, "archiveLogs": True})
    assert got["archiveLogs"] is True


def test_an_empty_repository_still_marks_the_location():
    """The embedded default: no repository configured; the executor's local directory serves it."""
    assert archive_location({"outputs": {"artifacts": [{"name": "o", "path": "/o"}]}}, {}) == {"archiveLogs": False}


def test_other_repository_types():
    tmpl = {"outputs": {"artifacts": [{"name": "o", "path": "/o"}]}}
    assert archive_location(tmpl, {"gcs": {"bucket": "g"}})["gcs"] == {"bucket": "g", "key":
                                                                      "{{workflow.name}}/{{pod.name}}"}
    assert archive_location(tmpl, {"artifactory": {"repoURL": "http://a/r"}})["artifactory"]["url"] == \
        "http://a/r/{{workflow.name}}/{{pod.name}}"
    assert archive_location(tmpl, {"azure": {"container": "c", "blobNameFormat": "f"}})["azure"]["blob"] == "f"


def test_has_location():
    assert not has_location({"s3": {"key": "k"}})
    assert has_location({"s3": {"bucket": "b", "endpoint": "e", "key": "k"}})
    assert has_location({"git": {"repo": "r"}}) and has_location({"raw": {"data": ""}})
    assert not has_location({"name": "x"}) and not has_location(None)
