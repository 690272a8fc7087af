"""The S3 driver against a real S3-compatible server (versitygw) on loopback."""
from __future__ import annotations

import os
import tarfile
import uuid
from pathlib import Path

import pytest

from tiphys.executor import ArtifactNotFound, S3Error
from tiphys.executor.artifacts import ArtifactRepository, Credentials, S3Client, S3Driver

from ._s3server import S3Server


def _secrets(server: S3Server):
    table = {("s3-creds", "accesskey"): server.access_key, ("s3-creds", "secretkey"): server.secret_key,
             ("bad", "accesskey"): server.access_key, ("bad", "secretkey"): "wrong-secret"}
    return lambda name, key: table[(name, key)]


def _location(server: S3Server, bucket: str, key: str = "", *, creds: str = "s3-creds", **extra) -> dict:
    return {"endpoint": server.endpoint, "insecure": True, "bucket": bucket, "key": key,
            "accessKeySecret": {"name": creds, "key": "accesskey"},
            "secretKeySecret": {"name": creds, "key": "secretkey"}, **extra}


@pytest.fixture
def client(s3_server: S3Server) -> S3Client:
    return S3Client(s3_server.endpoint, secure=False,
                    credentials=Credentials(access_key=s3_server.access_key, secret_key=s3_server.secret_key))


@pytest.fixture
def bucket(client: S3Client) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    return name


def test_put_get_roundtrip_with_awkward_key(client: S3Client, bucket: str, tmp_path: Path) -> None:
    """A signed PUT and GET of 3 MiB under a key with spaces and unicode."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024))
    key = "wf/pod/dir with space/ünï+file.bin"
    client.put_file(bucket, key, src)
    dest = tmp_path / "dest.bin"
    client.get_file(bucket, key, dest)
    assert dest.read_bytes() == src.read_bytes()
    assert key in list(client.list_keys(bucket, "wf/"))


def test_wrong_secret_is_rejected_by_the_server(s3_server: S3Server, bucket: str) -> None:
    """The server really checks signatures: a wrong secret gives a typed S3Error with its code."""
    bad = S3Client(s3_server.endpoint, secure=False, credentials=Credentials(access_key=s3_server.access_key, secret_key="nope"))
    with pytest.raises(S3Error) as err:
        bad.put_bytes(bucket, "k", b"x")
    assert err.value.status == 403
    assert err.value.code == "SignatureDoesNotMatch"


def test_missing_key_is_not_found(client: S3Client, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        client.get_file(bucket, "nothing/here", tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


def test_list_keys_paginates(client: S3Client, bucket: str) -> None:
    for i in range(5):
        client.put_bytes(bucket, f"p/{i}", b"x")
    assert sorted(client.list_keys(bucket, "p/")) == [f"p/{i}" for i in range(5)]


def test_driver_directory_upload_and_download(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    """`archive: none` directories are stored as one object per file under the key prefix."""
    driver = S3Driver(secrets=_secrets(s3_server))
    src = tmp_path / "tree"
    (src / "a" / "b").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "a" / "b" / "deep.txt").write_text("deep")
    driver.put(src, _location(s3_server, bucket, "trees/t1"))
    dest = tmp_path / "out"
    driver.get(_location(s3_server, bucket, "trees/t1"), dest)
    assert (dest / "top.txt").read_text() == "top"
    assert (dest / "a" / "b" / "deep.txt").read_text() == "deep"


def test_driver_create_bucket_if_not_present(s3_server: S3Server, tmp_path: Path) -> None:
    driver = S3Driver(secrets=_secrets(s3_server))
    f = tmp_path / "f"
    f.write_text("new bucket")
    name = f"nb-{uuid.uuid4().hex[:10]}"
    driver.put(f, _location(s3_server, name, "k", createBucketIfNotPresent=True))
    out = tmp_path / "o"
    driver.get(_location(s3_server, name, "k"), out)
    assert out.read_text() == "new bucket"


def test_driver_bad_credentials_surface_as_s3_error(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    driver = S3Driver(secrets=_secrets(s3_server))
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(S3Error) as err:
        driver.put(f, _location(s3_server, bucket, "k", creds="bad"))
    assert err.value.status == 403


def test_repository_roundtrip_with_archive_location(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    """Key-only output artifact → `<archiveLocation key>/<name>.tgz` on S3, then loaded back unpacked."""
    archive_location = {"s3": {**_location(s3_server, bucket), "key": "my-wf/my-wf-pod-123"}}
    repo = ArtifactRepository(drivers={"s3": S3Driver(secrets=_secrets(s3_server))}, archive_location=archive_location,
                              work_dir=tmp_path)
    src = tmp_path / "result"
    src.mkdir()
    (src / "data.csv").write_text("a,b\n")
    saved = repo.save(src, {"name": "result", "path": "/tmp/result"})
    assert saved["s3"]["key"] == "my-wf/my-wf-pod-123/result.tgz"
    assert saved["s3"]["bucket"] == bucket and saved["s3"]["endpoint"] == s3_server.endpoint
    # stored as Argo stores it: a tar.gz rooted at the base name
    raw = tmp_path / "raw.tgz"
    S3Client(s3_server.endpoint, secure=False, credentials=Credentials(access_key=s3_server.access_key,
             secret_key=s3_server.secret_key)).get_file(bucket, "my-wf/my-wf-pod-123/result.tgz", raw)
    with tarfile.open(raw) as tar:
        assert tar.getnames() == ["result", "result/data.csv"]
    # a consumer loads it from the reported location (key-only form works too)
    dest = tmp_path / "in" / "result"
    assert repo.load({"name": "result", "path": "/in", "s3": {"key": saved["s3"]["key"]}}, dest)
    assert (dest / "data.csv").read_text() == "a,b\n"


def test_repository_optional_missing_input(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    repo = ArtifactRepository(drivers={"s3": S3Driver(secrets=_secrets(s3_server))})
    art = {"name": "maybe", "path": "/x", "optional": True, "s3": _location(s3_server, bucket, "no/such/key")}
    assert repo.load(art, tmp_path / "maybe") is False
    with pytest.raises(ArtifactNotFound) as err:
        repo.load({**art, "optional": False}, tmp_path / "maybe")
    assert err.value.artifact == "maybe"
