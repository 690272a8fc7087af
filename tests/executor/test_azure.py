"""The azure artifact driver against a real Azurite: Shared Key signing, files and directories in
both archive modes, block uploads, paginated listing, deletes, key-only artifacts under an azure
archive location, and the errors a wrong key or an unsupported credential give."""
from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from tiphys.executor import ArtifactConfigError, ArtifactNotFound
from tiphys.executor.artifacts import (ArtifactRepository, AzureBlobClient, AzureDriver, AzureError, LocalDriver,
                                       account_from_endpoint)

from .azurite_fixture import azurite  # noqa: F401 - the session fixture

SECRET = {"name": "az-creds", "key": "accountkey"}


def _secrets(key: str):
    def resolve(name: str, k: str) -> str:
        assert (name, k) == (SECRET["name"], SECRET["key"])
        return key
    return resolve


@pytest.fixture
def container(azurite) -> AzureBlobClient:  # noqa: F811
    client = AzureBlobClient(azurite.endpoint, f"c-{uuid.uuid4().hex[:12]}", account_key=azurite.account_key)
    client.create_container()
    return client


def _loc(azurite, container: AzureBlobClient, blob: str) -> dict:  # noqa: F811
    return {"endpoint": azurite.endpoint, "container": container.container, "blob": blob,
            "accountKeySecret": SECRET}


def _repo(azurite, *, archive_location: dict | None = None, **driver_kw) -> ArtifactRepository:  # noqa: F811
    return ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets(azurite.account_key), **driver_kw)},
                              archive_location=archive_location)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def src_dir(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "a.txt").write_text("alpha\n")
    (d / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (d / "sub" / "deeper" / "c d.txt").write_text("with a space\n")
    return d


@pytest.mark.parametrize(("endpoint", "account"), [
    pytest.param("https://myacct.blob.core.windows.net", "myacct", id="azure-host"),
    pytest.param("https://myacct.blob.core.windows.net/", "myacct", id="trailing-slash"),
    pytest.param("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", id="azurite-ip"),
    pytest.param("http://azurite:10000/devstoreaccount1/", "devstoreaccount1", id="single-label-host"),
    pytest.param("http://[::1]:10000/acct", "acct", id="ipv6"),
])
def test_account_name_from_the_endpoint(endpoint, account):
    """The first host label, or the first path segment for an IP or single-label host."""
    assert account_from_endpoint(endpoint)[0] == account


@pytest.mark.parametrize("endpoint", ["127.0.0.1:10000", "http://127.0.0.1:10000", "ftp://acct.blob.x"])
def test_unusable_endpoints_are_refused(endpoint):
    """No scheme, no account segment on an IP host, or not http(s): a config error naming it."""
    with pytest.raises(ArtifactConfigError, match="azure endpoint"):
        account_from_endpoint(endpoint)


def test_use_sdk_creds_is_refused_by_name(tmp_path):
    """`useSDKCreds` needs an Azure identity: refused, saying what to use instead, naming the artifact."""
    repo = ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets("x"))})
    (tmp_path / "f").write_text("x")
    art = {"name": "out", "path": "/tmp/f", "azure": {"endpoint": "https://a.blob.core.windows.net",
                                                      "container": "c", "blob": "f", "useSDKCreds": True}}
    with pytest.raises(ArtifactConfigError, match="useSDKCreds.*accountKeySecret") as info:
        repo.save(tmp_path / "f", art)
    assert info.value.artifact == "out" and "'out'" in str(info.value)


def test_file_round_trip_as_tgz(azurite, container, tmp_path):  # noqa: F811
    """A file is saved as a tar.gz blob at the artifact's blob name and unpacked on load."""
    repo = _repo(azurite)
    src = tmp_path / "msg"
    src.write_text("hello azure\n")
    art = {"name": "msg", "path": "/tmp/msg", "azure": _loc(azurite, container, "run/msg.tgz")}
    saved = repo.save(src, art)
    assert saved["azure"]["blob"] == "run/msg.tgz"
    assert list(container.list_blobs("")) == ["run/msg.tgz"]
    assert container.get_bytes("run/msg.tgz")[:2] == b"\x1f\x8b"  # gzip
    assert repo.load(saved, tmp_path / "back") is True
    assert (tmp_path / "back").read_text() == "hello azure\n"


def test_directory_round_trip_as_tgz(azurite, container, src_dir, tmp_path):  # noqa: F811
    """A directory with the default archive is one tar.gz blob, unpacked into the same tree."""
    repo = _repo(azurite)
    art = {"name": "tree", "path": "/tmp/src", "azure": _loc(azurite, container, "run/tree.tgz")}
    repo.save(src_dir, art)
    assert list(container.list_blobs("")) == ["run/tree.tgz"]
    repo.load(art, tmp_path / "back")
    assert _tree(tmp_path / "back") == _tree(src_dir)


def test_directory_with_archive_none_is_one_blob_per_file(azurite, container, src_dir, tmp_path):  # noqa: F811
    """`archive: none`: each file is a blob under `<blob>/`, and the prefix loads back as the tree."""
    repo = _repo(azurite)
    art = {"name": "tree", "path": "/tmp/src", "archive": {"none": {}},
           "azure": _loc(azurite, container, "run/tree")}
    repo.save(src_dir, art)
    assert sorted(container.list_blobs("")) == ["run/tree/a.txt", "run/tree/sub/b.bin", "run/tree/sub/deeper/c d.txt"]
    repo.load(art, tmp_path / "back")
    assert _tree(tmp_path / "back") == _tree(src_dir)
    # a file with archive none is stored as it is
    single = {"name": "one", "path": "/tmp/a.txt", "archive": {"none": {}},
              "azure": _loc(azurite, container, "run/a.txt")}
    repo.save(src_dir / "a.txt", single)
    assert container.get_bytes("run/a.txt") == b"alpha\n"


def test_large_blob_goes_up_in_blocks(azurite, container, tmp_path):  # noqa: F811
    """Above the single-put limit the file is sent as blocks and committed by Put Block List."""
    driver = AzureDriver(secrets=_secrets(azurite.account_key), single_put_limit=64 << 10, block_size=20 << 10)
    data = uuid.uuid4().bytes * 6000  # 96000 bytes: 5 blocks
    src = tmp_path / "big"
    src.write_bytes(data)
    loc = _loc(azurite, container, "big.bin")
    driver.put(src, loc)
    blocks = container.committed_blocks("big.bin")
    assert [size for _, size in blocks] == [20480, 20480, 20480, 20480, 14080]
    assert len({len(block_id) for block_id, _ in blocks}) == 1
    driver.get(loc, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    # below the limit: one Put Blob, no block list of ours
    (tmp_path / "small").write_bytes(b"s" * 100)
    driver.put(tmp_path / "small", _loc(azurite, container, "small.bin"))
    assert len(container.committed_blocks("small.bin")) <= 1


def test_list_follows_the_marker_across_pages(azurite, container, tmp_path):  # noqa: F811
    """Seven blobs under a prefix, two per page: every name once, in order; the prefix is a directory."""
    (tmp_path / "f").write_text("x")
    names = [f"logs/{i:02d}.txt" for i in range(7)] + ["logs/sub/x", "logsextra/no", "other/no"]
    for n in names:
        container.put_file(n, tmp_path / "f")
    pages: list[int] = []
    orig = container._simple

    def counting(method, blob, /, **kw):
        if (kw.get("query") or {}).get("comp") == "list":
            pages.append(1)
        return orig(method, blob, **kw)
    container._simple = counting  # type: ignore[method-assign]
    assert list(container.list_blobs("logs/", max_results=2)) == names[:8]
    assert len(pages) == 4
    driver = AzureDriver(secrets=_secrets(azurite.account_key), list_page_size=3)
    for key in ("logs", "logs/", "./logs"):
        assert driver.list(_loc(azurite, container, key)) == names[:8]
    assert driver.list(_loc(azurite, container, "")) == sorted(names)
    assert driver.list(_loc(azurite, container, "logs/00.txt")) == []  # one blob: nothing below it


def test_list_objects_through_the_repository(azurite, container, tmp_path):  # noqa: F811
    """A data template's artifactPaths with a complete azure location lists its prefix."""
    (tmp_path / "f").write_text("x")
    for n in ("in/a", "in/b/c", "out/z"):
        container.put_file(n, tmp_path / "f")
    repo = _repo(azurite)
    assert repo.list_objects({"name": "in", "azure": _loc(azurite, container, "in")}) == ["in/a", "in/b/c"]
    # a key-only one lists the archive location's container
    repo = _repo(azurite, archive_location={"azure": _loc(azurite, container, "wf/pod")})
    assert repo.list_objects({"name": "in", "azure": {"blob": "out"}}) == ["out/z"]


def test_delete_removes_a_blob_or_a_prefix_and_is_idempotent(azurite, container, src_dir):  # noqa: F811
    """A blob, or every blob of a directory artifact; deleting again succeeds (GC may rerun)."""
    driver = AzureDriver(secrets=_secrets(azurite.account_key))
    driver.put(src_dir / "a.txt", _loc(azurite, container, "keep.txt"))
    driver.put(src_dir / "a.txt", _loc(azurite, container, "one.txt"))
    driver.put(src_dir, _loc(azurite, container, "dir"))
    driver.delete(_loc(azurite, container, "one.txt"))
    driver.delete(_loc(azurite, container, "dir"))
    assert list(container.list_blobs("")) == ["keep.txt"]
    driver.delete(_loc(azurite, container, "one.txt"))
    driver.delete(_loc(azurite, container, "dir"))
    with pytest.raises(ArtifactConfigError, match="whole container"):
        driver.delete(_loc(azurite, container, ""))


def test_missing_blob_is_not_found_and_optional_skips(azurite, container, tmp_path):  # noqa: F811
    """No blob and no prefix: ArtifactNotFound naming the artifact; optional inputs are skipped."""
    repo = _repo(azurite)
    art = {"name": "gone", "path": "/tmp/x", "azure": _loc(azurite, container, "nothing/here")}
    with pytest.raises(ArtifactNotFound, match="nothing/here") as info:
        repo.load(art, tmp_path / "x")
    assert info.value.artifact == "gone"
    assert repo.load({**art, "optional": True}, tmp_path / "x") is False
    assert not (tmp_path / "x").exists()


def test_wrong_key_is_a_clear_error_naming_the_artifact(azurite, container, tmp_path):  # noqa: F811
    """A valid base64 key that is not the account's: Azurite refuses the signature (403)."""
    wrong = base64.b64encode(b"not the key" * 6).decode()
    repo = ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets(wrong))})
    (tmp_path / "f").write_text("x")
    art = {"name": "report", "path": "/tmp/f", "azure": _loc(azurite, container, "r.tgz")}
    with pytest.raises(AzureError) as info:
        repo.save(tmp_path / "f", art)
    err = info.value
    assert err.status == 403 and err.artifact == "report"
    assert str(err).startswith("artifact 'report': PUT azure://devstoreaccount1/")
    assert "accountKeySecret" in str(err)
    bad = ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets("not base64 !"))})
    with pytest.raises(ArtifactConfigError, match="not valid base64") as info2:
        bad.save(tmp_path / "f", art)
    assert info2.value.artifact == "report"


def test_key_only_artifacts_complete_from_an_azure_archive_location(azurite, container, tmp_path):  # noqa: F811
    """No location, `azure: {blob}` and `s3: {key}` (Argo's Relocate) all land in the archive
    location's container; the output reports where it went."""
    arch = {"azure": _loc(azurite, container, "{{workflow.name}}/{{pod.name}}")}
    repo = ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets(azurite.account_key))},
                              archive_location=arch, key_variables={"workflow.name": "wf", "pod.name": "pod-1"})
    (tmp_path / "f").write_text("content\n")
    saved = repo.save(tmp_path / "f", {"name": "plain", "path": "/tmp/f"})
    assert saved["azure"]["blob"] == "wf/pod-1/plain.tgz" and saved["azure"]["container"] == container.container
    repo.save(tmp_path / "f", {"name": "own", "path": "/tmp/f", "azure": {"blob": "fixed/own.tgz"}})
    s3 = repo.save(tmp_path / "f", {"name": "s3style", "path": "/tmp/f", "s3": {"key": "fixed/s3style.tgz"}})
    assert s3["s3"] == {"key": "fixed/s3style.tgz"}
    assert sorted(container.list_blobs("")) == ["fixed/own.tgz", "fixed/s3style.tgz", "wf/pod-1/plain.tgz"]
    assert repo.load(s3, tmp_path / "back")
    assert (tmp_path / "back").read_text() == "content\n"
    # key-only with no archive location: the local default repository, keyed by the blob name
    local = ArtifactRepository(drivers={}, default=LocalDriver(tmp_path / "repo"))
    local.save(tmp_path / "f", {"name": "x", "path": "/tmp/f", "azure": {"blob": "k/x.tgz"}})
    assert (tmp_path / "repo" / "k" / "x.tgz").is_file()


def _account_sas(account: str, key: str, *, permissions: str) -> str:
    """An account SAS (version 2020-10-02 string-to-sign), as the portal or `az` would hand one out."""
    import datetime as dt
    import hashlib
    import hmac
    from urllib.parse import urlencode

    expiry = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = {"sv": "2020-10-02", "ss": "b", "srt": "sco", "sp": permissions, "se": expiry, "spr": "https,http"}
    text = "\n".join([account, permissions, "b", "sco", "", expiry, "", "https,http", "2020-10-02", ""])
    sig = base64.b64encode(hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()).decode()
    return "?" + urlencode({**fields, "sig": sig})


def test_a_sas_token_in_the_secret_is_sent_as_the_query(azurite, container, src_dir, tmp_path):  # noqa: F811
    """accountKeySecret holding a SAS token (Argo accepts one there): requests carry it, unsigned;
    a token without write permission is refused by the service, naming the artifact."""
    sas = _account_sas(azurite.account, azurite.account_key, permissions="rwdlac")
    repo = ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets(sas))})
    art = {"name": "tree", "path": "/tmp/src", "archive": {"none": {}}, "azure": _loc(azurite, container, "sas/tree")}
    repo.save(src_dir, art)
    assert repo.list_objects({"name": "l", "azure": _loc(azurite, container, "sas")}) == [
        "sas/tree/a.txt", "sas/tree/sub/b.bin", "sas/tree/sub/deeper/c d.txt"]
    repo.load(art, tmp_path / "back")
    assert _tree(tmp_path / "back") == _tree(src_dir)
    read_only = ArtifactRepository(drivers={"azure": AzureDriver(secrets=_secrets(
        _account_sas(azurite.account, azurite.account_key, permissions="rl")))})
    with pytest.raises(AzureError) as info:
        read_only.save(src_dir / "a.txt", {**art, "name": "ro", "azure": _loc(azurite, container, "sas/ro")})
    assert info.value.status == 403 and info.value.artifact == "ro"


def test_artifact_gc_deletes_azure_artifacts_complete_or_key_only(azurite, container, src_dir):  # noqa: F811
    """The GC pod's command: a complete location, `azure: {blob}` and `s3: {key}` under an azure
    archiveLocation (relocated) are all deleted from the container and reported as successes."""
    import asyncio

    from tiphys.executor.artifact_gc import run_artifact_gc

    from .test_artifact_gc import FakeTasks, _task

    driver = AzureDriver(secrets=_secrets(azurite.account_key))
    for blob in ("wf/full.tgz", "wf/own.tgz", "wf/s3.tgz", "wf/keep.tgz"):
        driver.put(src_dir / "a.txt", _loc(azurite, container, blob))
    driver.put(src_dir, _loc(azurite, container, "wf/dir"))
    api = FakeTasks([_task("wf-artgc-wfcomp-1-0", {"n": {
        "archiveLocation": {"azure": _loc(azurite, container, "wf/pod")},
        "artifacts": {"full": {"azure": _loc(azurite, container, "wf/full.tgz")},
                      "own": {"azure": {"blob": "wf/own.tgz"}},
                      "s3": {"s3": {"key": "wf/s3.tgz"}},
                      "dir": {"azure": {"blob": "wf/dir"}}}}})])
    lines: list[str] = []
    code = asyncio.run(run_artifact_gc(api, drivers={"azure": driver}, default=None, log=lines.append))
    assert code == 0, lines
    results = api.patches[0][1]["artifactResultsByNode"]["n"]["artifactResults"]
    assert {k: v["success"] for k, v in results.items()} == {"full": True, "own": True, "s3": True, "dir": True}, results
    assert list(container.list_blobs("")) == ["wf/keep.tgz"]
