"""Argo-shaped archives and unpacking that refuses to escape its destination."""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tiphys.executor import ArtifactError, UnsafeArchive
from tiphys.executor.artifacts import is_tarball, make_tgz, make_zip, safe_extract_tar, safe_extract_zip, unpack


def _tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def test_make_tgz_is_rooted_at_the_base_name(tmp_path: Path) -> None:
    """Argo's layout: /x/out holding a.txt archives as `out/`, `out/a.txt`."""
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    tgz = make_tgz(src, tmp_path / "out.tgz")
    assert is_tarball(tgz)
    with tarfile.open(tgz) as tar:
        assert tar.getnames() == ["out", "out/a.txt", "out/sub", "out/sub/b.txt"]


def test_unpack_single_file_becomes_dest(tmp_path: Path) -> None:
    f = tmp_path / "report.txt"
    f.write_text("hello")
    tgz = make_tgz(f, tmp_path / "a.tgz")
    dest = tmp_path / "in" / "art"
    unpack(tgz, dest)
    assert dest.read_text() == "hello"
    assert not tgz.exists() and not (tmp_path / "in" / "art.tmpdir").exists()


def test_unpack_directory_becomes_dest(tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    (src / "x").write_text("1")
    dest = tmp_path / "dest"
    unpack(make_tgz(src, tmp_path / "d.tgz"), dest)
    assert (dest / "x").read_text() == "1"


def test_unpack_several_roots_leave_a_directory(tmp_path: Path) -> None:
    tgz = _tgz(tmp_path / "m.tgz", [(_file("a"), b"1"), (_file("b"), b"2")])
    dest = tmp_path / "dest"
    unpack(tgz, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["a", "b"]


def test_unpack_zip(tmp_path: Path) -> None:
    src = tmp_path / "z"
    src.mkdir()
    (src / "f").write_text("zipped")
    dest = tmp_path / "dest"
    unpack(make_zip(src, tmp_path / "z.zip"), dest)
    assert (dest / "f").read_text() == "zipped"


def test_unpack_rejects_non_archives(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("not an archive")
    with pytest.raises(ArtifactError, match="neither a tar.gz nor a zip"):
        unpack(f, tmp_path / "dest")


def test_executable_bits_survive(tmp_path: Path) -> None:
    f = tmp_path / "run.sh"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o755)
    dest = tmp_path / "dest"
    unpack(make_tgz(f, tmp_path / "r.tgz"), dest)
    assert dest.stat().st_mode & 0o111


MALICIOUS = [
    pytest.param([(_file("../escape.txt"), b"x")], "path traversal", id="dotdot"),
    pytest.param([(_file("ok/../../escape.txt"), b"x")], "path traversal", id="nested-dotdot"),
    pytest.param([(_file("/tmp/abs-escape.txt"), b"x")], "absolute path", id="absolute"),
    pytest.param([(_link("evil", "/etc/passwd"), None)], "absolute path", id="symlink-absolute"),
    pytest.param([(_link("evil", "../../outside"), None)], "escapes", id="symlink-relative-escape"),
    pytest.param([(_link("a/b/evil", "../../../x"), None)], "escapes", id="symlink-deep-escape"),
    pytest.param([(_link("hl", "../outside", hard=True), None)], "traversal", id="hardlink-escape"),
    pytest.param([(_link("hl", "/etc/passwd", hard=True), None)], "absolute", id="hardlink-absolute"),
]


@pytest.mark.parametrize(("members", "reason"), MALICIOUS)
def test_malicious_tar_is_refused_before_anything_is_written(tmp_path: Path, members, reason: str) -> None:
    """Traversal, absolute names and link escapes raise UnsafeArchive and write nothing."""
    tgz = _tgz(tmp_path / "evil.tgz", members)
    dest = tmp_path / "box" / "dest"
    with pytest.raises(UnsafeArchive, match=reason):
        safe_extract_tar(tgz, dest, artifact="evil")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "box" / "escape.txt").exists()
    assert list(dest.iterdir()) == []


def test_symlink_then_write_through_it_is_refused(tmp_path: Path) -> None:
    """CVE-2025-62156 shape: a link to `..` followed by a file written through the link."""
    tgz = _tgz(tmp_path / "evil.tgz", [(_link("d", ".."), None), (_file("d/pwned"), b"x")])
    dest = tmp_path / "box" / "dest"
    with pytest.raises(UnsafeArchive):
        safe_extract_tar(tgz, dest)
    assert not (tmp_path / "box" / "pwned").exists()


def test_link_chain_escape_is_refused(tmp_path: Path) -> None:
    """Each link looks harmless alone; together `b/c` resolves outside, and writing through it is refused."""
    tgz = _tgz(tmp_path / "evil.tgz", [(_link("a", "."), None), (_link("b", "a/.."), None), (_file("b/x"), b"1")])
    dest = tmp_path / "box" / "dest"
    with pytest.raises(UnsafeArchive):
        safe_extract_tar(tgz, dest)
    assert not (tmp_path / "box" / "x").exists()


def test_device_members_are_refused(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("null")
    dev.type = tarfile.CHRTYPE
    tgz = _tgz(tmp_path / "dev.tgz", [(dev, None)])
    with pytest.raises(UnsafeArchive, match="special file"):
        safe_extract_tar(tgz, tmp_path / "dest")


def test_harmless_internal_links_are_kept(tmp_path: Path) -> None:
    """Links that stay inside the destination are legitimate and extracted."""
    tgz = _tgz(tmp_path / "ok.tgz", [(_file("d/real"), b"data"), (_link("d/alias", "real"), None),
                                      (_link("top", "d/real"), None), (_link("d/hard", "d/real", hard=True), None)])
    dest = tmp_path / "dest"
    safe_extract_tar(tgz, dest)
    assert (dest / "d" / "alias").read_text() == "data"
    assert (dest / "top").is_symlink()
    assert (dest / "d" / "hard").read_text() == "data"


def test_setuid_bits_are_dropped(tmp_path: Path) -> None:
    info = _file("suid")
    info.mode = 0o4755
    dest = tmp_path / "dest"
    safe_extract_tar(_tgz(tmp_path / "s.tgz", [(info, b"x")]), dest)
    assert not (dest / "suid").stat().st_mode & 0o4000


@pytest.mark.parametrize("name", ["../zip-escape", "/abs-zip", "a/../../zip-escape"])
def test_malicious_zip_is_refused(tmp_path: Path, name: str) -> None:
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(name, "x")
    with pytest.raises(UnsafeArchive):
        safe_extract_zip(z, tmp_path / "box" / "dest")
    assert not (tmp_path / "zip-escape").exists() and not (tmp_path / "box" / "zip-escape").exists()


def test_unpack_cleans_up_after_a_refusal(tmp_path: Path) -> None:
    tgz = _tgz(tmp_path / "evil.tgz", [(_file("../x"), b"1")])
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive):
        unpack(tgz, dest, artifact="in")
    assert not dest.exists() and not (tmp_path / "dest.tmpdir").exists()


def test_make_tgz_follows_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("x")
    (real / "inner").symlink_to("f")
    link = tmp_path / "link"
    link.symlink_to(real)
    with tarfile.open(make_tgz(link, tmp_path / "l.tgz")) as tar:
        assert tar.getnames() == ["link", "link/f", "link/inner"]
        assert tar.getmember("link").isdir() and tar.getmember("link/inner").issym()
