"""The repository facade over the local-directory default: keys, archives, optional inputs."""
from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest

from tiphys.executor import ArtifactConfigError, ArtifactNotFound
from tiphys.executor.artifacts import (
    ArtifactRepository,
    LocalDriver,
    RawDriver,
    artifact_file_name,
    render_key_format,
)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _repo(store: Path, **kw) -> ArtifactRepository:
    return ArtifactRepository(drivers={"raw": RawDriver()}, default=LocalDriver(store),
                              key_variables={"workflow.name": "wf", "pod.name": "wf-main-123"}, **kw)


def _file(tmp_path: Path, name: str = "hello.txt", text: str = "hello") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_default_key_format_is_workflow_then_pod(store: Path, tmp_path: Path) -> None:
    """No key and no archiveLocation key → `{{workflow.name}}/{{pod.name}}/<name>.tgz`."""
    saved = _repo(store).save(_file(tmp_path), {"name": "greeting", "path": "/tmp/hello.txt"})
    assert saved == {"name": "greeting", "path": "/tmp/hello.txt", "s3": {"key": "wf/wf-main-123/greeting.tgz"}}
    with tarfile.open(store / "wf" / "wf-main-123" / "greeting.tgz") as tar:
        assert tar.getnames() == ["hello.txt"]


def test_archive_location_key_is_used_and_rendered(store: Path, tmp_path: Path) -> None:
    repo = _repo(store, archive_location={"s3": {"key": "custom/{{workflow.name}}"}})
    saved = repo.save(_file(tmp_path), {"name": "g", "path": "/tmp/hello.txt"})
    assert saved["s3"]["key"] == "custom/wf/g.tgz"


def test_archive_none_keeps_the_file_name(store: Path, tmp_path: Path) -> None:
    saved = _repo(store).save(_file(tmp_path), {"name": "g", "path": "/tmp/hello.txt", "archive": {"none": {}}})
    assert saved["s3"]["key"] == "wf/wf-main-123/hello.txt"
    assert (store / "wf" / "wf-main-123" / "hello.txt").read_text() == "hello"


def test_archive_zip(store: Path, tmp_path: Path) -> None:
    saved = _repo(store).save(_file(tmp_path), {"name": "g", "path": "/tmp/hello.txt", "archive": {"zip": {}}})
    assert saved["s3"]["key"] == "wf/wf-main-123/g.zip"
    with zipfile.ZipFile(store / saved["s3"]["key"]) as zf:
        assert zf.namelist() == ["hello.txt"]


def test_explicit_key_wins(store: Path, tmp_path: Path) -> None:
    saved = _repo(store).save(_file(tmp_path), {"name": "g", "path": "/p", "s3": {"key": "my-file"}})
    assert saved["s3"] == {"key": "my-file"}
    assert (store / "my-file").exists()


def test_key_only_roundtrip_as_in_argo_example(store: Path, tmp_path: Path) -> None:
    """key-only-artifact.yaml: `generate` saves s3.key my-file, `consume` loads it to /tmp/file."""
    repo = _repo(store)
    repo.save(_file(tmp_path, "file", "hello"), {"name": "file", "path": "/mnt/file", "s3": {"key": "my-file"}})
    dest = tmp_path / "inputs" / "file"
    assert repo.load({"name": "file", "path": "/tmp/file", "s3": {"key": "my-file"}}, dest)
    assert dest.read_text() == "hello"


def test_load_archive_none_is_not_unpacked(store: Path, tmp_path: Path) -> None:
    """With `archive: none` even a tarball stays a tarball."""
    repo = _repo(store)
    repo.save(_file(tmp_path), {"name": "t", "path": "/x", "s3": {"key": "t.tgz"}})
    dest = tmp_path / "in"
    repo.load({"name": "t", "path": "/x", "archive": {"none": {}}, "s3": {"key": "t.tgz"}}, dest)
    assert tarfile.is_tarfile(dest)


def test_mode_is_applied(store: Path, tmp_path: Path) -> None:
    dest = tmp_path / "script"
    _repo(store).load({"name": "s", "path": "/s", "mode": 0o755, "raw": {"data": "#!/bin/sh\n"}}, dest)
    assert dest.stat().st_mode & 0o777 == 0o755


def test_raw_input(store: Path, tmp_path: Path) -> None:
    dest = tmp_path / "raw"
    assert _repo(store).load({"name": "r", "path": "/r", "raw": {"data": "inline\ncontent"}}, dest)
    assert dest.read_text() == "inline\ncontent"


def test_optional_and_required_missing(store: Path, tmp_path: Path) -> None:
    repo = _repo(store)
    assert repo.load({"name": "o", "path": "/o", "optional": True, "s3": {"key": "absent"}}, tmp_path / "o") is False
    assert repo.load({"name": "o", "path": "/o", "optional": True}, tmp_path / "o") is False
    with pytest.raises(ArtifactNotFound) as err:
        repo.load({"name": "req", "path": "/o", "s3": {"key": "absent"}}, tmp_path / "o")
    assert err.value.artifact == "req"
    with pytest.raises(ArtifactConfigError, match="not supplied"):
        repo.load({"name": "req", "path": "/o"}, tmp_path / "o")


def test_missing_source_on_save(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        _repo(store).save(tmp_path / "nope", {"name": "x", "path": "/x"})


def test_local_keys_cannot_escape_the_store(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactConfigError, match="leave the repository"):
        _repo(store).save(_file(tmp_path), {"name": "x", "path": "/x", "s3": {"key": "../../etc/evil"}})
    assert not (tmp_path / "etc").exists()


def test_no_repository_configured(tmp_path: Path) -> None:
    repo = ArtifactRepository(drivers={})
    with pytest.raises(ArtifactConfigError, match="configure an artifact repository"):
        repo.save(_file(tmp_path), {"name": "x", "path": "/x"})


def test_unknown_location_type(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactConfigError, match="no driver for 'gcs'"):
        _repo(store).load({"name": "g", "path": "/g", "gcs": {"bucket": "b", "key": "k"}}, tmp_path / "g")


def test_render_key_format_rejects_unknown_variables() -> None:
    assert render_key_format("{{workflow.name}}/{{ pod.name }}", {"workflow.name": "w", "pod.name": "p"}) == "w/p"
    with pytest.raises(ArtifactConfigError, match="workflow.uid"):
        render_key_format("{{workflow.uid}}", {})


@pytest.mark.parametrize(("art", "name"), [
    ({"name": "a", "path": "/x/y.txt"}, "a.tgz"),
    ({"name": "a", "path": "/x/y.txt", "archive": {}}, "a.tgz"),
    ({"name": "a", "path": "/x/y.txt", "archive": {"tar": {"compressionLevel": 9}}}, "a.tgz"),
    ({"name": "a", "path": "/x/y.txt", "archive": {"none": {}}}, "y.txt"),
    ({"name": "a", "path": "/x/dir/", "archive": {"none": {}}}, "dir"),
    ({"name": "a", "path": "/x", "archive": {"zip": {}}}, "a.zip"),
])
def test_artifact_file_names(art: dict, name: str) -> None:
    assert artifact_file_name(art) == name


def test_sub_path_selects_below_the_key(store: Path, tmp_path: Path) -> None:
    """`subPath` loads one file out of a directory stored with `archive: none`."""
    repo = _repo(store)
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "one.txt").write_text("1")
    repo.save(tree, {"name": "t", "path": "/t", "archive": {"none": {}}, "s3": {"key": "trees/t"}})
    dest = tmp_path / "one"
    assert repo.load({"name": "t", "path": "/one", "subPath": "a/one.txt", "s3": {"key": "trees/t"}}, dest)
    assert dest.read_text() == "1"
    with pytest.raises(ArtifactConfigError, match="subPath"):
        repo.load({"name": "t", "path": "/one", "subPath": "../x", "s3": {"key": "trees/t"}}, dest)
