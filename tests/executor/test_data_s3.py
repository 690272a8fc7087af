"""The data command's listing against a real S3-compatible server (versitygw, the `s3_server` fixture)."""
from __future__ import annotations

import uuid

import pytest

from tiphys.executor.artifacts import ArtifactRepository, Credentials, S3Client, S3Driver
from tiphys.executor.data import process

from ._s3server import S3Server

KEYS = ["logs/a/main.log", "logs/a/wait.log", "logs/b/c/main.log", "logs/b/notes.txt", "logs/z.txt",
        "logsx/main.log", "other/main.log"]


def _secrets(server: S3Server):
    table = {("s3-creds", "accesskey"): server.access_key, ("s3-creds", "secretkey"): server.secret_key}
    return lambda name, key: table[(name, key)]


def _location(server: S3Server, bucket: str, key: str = "") -> dict:
    return {"endpoint": server.endpoint, "insecure": True, "bucket": bucket, "key": key,
            "accessKeySecret": {"name": "s3-creds", "key": "accesskey"},
            "secretKeySecret": {"name": "s3-creds", "key": "secretkey"}}


@pytest.fixture
def client(s3_server: S3Server) -> S3Client:
    return S3Client(s3_server.endpoint, secure=False,
                    credentials=Credentials(access_key=s3_server.access_key, secret_key=s3_server.secret_key))


@pytest.fixture
def bucket(client: S3Client) -> str:
    name = f"d-{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    for key in KEYS:
        client.put_bytes(name, key, key.encode())
    return name


def _repo(server: S3Server, archive: dict | None = None) -> ArtifactRepository:
    return ArtifactRepository(drivers={"s3": S3Driver(secrets=_secrets(server))}, archive_location=archive)


def test_driver_lists_recursively_under_the_key(s3_server: S3Server, bucket: str) -> None:
    """Every key below `logs/` (not `logsx/`), full keys, in S3's order."""
    driver = S3Driver(secrets=_secrets(s3_server))
    assert driver.list(_location(s3_server, bucket, "logs")) == [k for k in KEYS if k.startswith("logs/")]
    assert driver.list(_location(s3_server, bucket, "logs/b/")) == ["logs/b/c/main.log", "logs/b/notes.txt"]
    assert driver.list(_location(s3_server, bucket, "logs/z.txt")) == []  # one object: nothing below it
    assert driver.list(_location(s3_server, bucket, "")) == sorted(KEYS)


def test_listing_follows_every_page(client: S3Client, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ListObjectsV2 with two keys per page: three requests, the later ones continuing from the
    token, yield all five keys under `logs/` once each."""
    queries: list[dict] = []
    real = client._simple

    def spy(*args, **kw):
        queries.append(dict(kw.get("query") or {}))
        return real(*args, **kw)
    monkeypatch.setattr(client, "_simple", spy)
    assert list(client.list_keys(bucket, "logs/", max_keys=2)) == [k for k in KEYS if k.startswith("logs/")]
    assert len(queries) == 3 and "continuation-token" not in queries[0]
    assert all(q.get("continuation-token") for q in queries[1:])


def test_complete_location_is_listed_as_given(s3_server: S3Server, bucket: str) -> None:
    """endpoint, bucket and key: Argo uses the artifact's own location."""
    repo = _repo(s3_server, {"s3": {**_location(s3_server, "not-this-bucket", "wf/pod")}})
    assert repo.list_objects({"name": "f", "s3": _location(s3_server, bucket, "logs/a")}) == [
        "logs/a/main.log", "logs/a/wait.log"]


def test_incomplete_location_lists_the_archive_locations_bucket(s3_server: S3Server, bucket: str) -> None:
    """No endpoint (as in data-transformations.yaml): Relocate takes the archiveLocation whole --
    its endpoint, credentials and bucket -- and keeps only the artifact's key ("" lists all)."""
    repo = _repo(s3_server, {"s3": _location(s3_server, bucket, "wf/pod"), "archiveLogs": False})
    assert repo.list_objects({"name": "test-bucket", "s3": {"bucket": "my-bucket"}}) == sorted(KEYS)
    assert repo.list_objects({"name": "test-bucket", "s3": {"key": "logs/b"}}) == [
        "logs/b/c/main.log", "logs/b/notes.txt"]


def test_data_template_over_s3(s3_server: S3Server, bucket: str) -> None:
    """The example's template over the server: list, filter, Go JSON."""
    template = {"name": "list-log-files", "archiveLocation": {"s3": _location(s3_server, bucket, "wf/pod")},
                "data": {"source": {"artifactPaths": {"name": "test-bucket", "s3": {"bucket": "my-bucket"}}},
                         "transformation": [{"expression": 'filter(data, {# endsWith "main.log"})'}]}}
    assert process(template, _repo(s3_server, template["archiveLocation"])) == (
        '["logs/a/main.log","logs/b/c/main.log","logsx/main.log","other/main.log"]')


def test_missing_bucket_fails_naming_the_source(s3_server: S3Server) -> None:
    """A bucket that does not exist is the source's error."""
    from tiphys.executor.data import DataError
    template = {"data": {"source": {"artifactPaths": {"name": "f", "s3": _location(s3_server, "no-such-bucket", "k")}}}}
    with pytest.raises(DataError) as info:
        process(template, _repo(s3_server))
    assert info.value.where == "$.data.source.artifactPaths" and "'f'" in str(info.value)
