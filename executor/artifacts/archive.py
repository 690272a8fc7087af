"""Artifact archives the way Argo makes and opens them, with unpacking that cannot escape.

Argo archives an artifact path as tar+gzip whose single root entry is the path's base name
(`/tmp/out` -> `out`, `out/a.txt`, ...); `archive: none` stores the file as is, `archive: zip`
zips it. Loading reverses that (`unpack`): a tarball or zip is extracted into `<dest>.tmpdir`; when
it holds exactly one entry that entry becomes `<dest>`, otherwise the directory does.

Archives come from other people's pods, so extraction is defensive (the CVE-2025-62156 class of
bugs): every member is checked *before* anything is written -- no absolute names, no `..`, no
symlink or hardlink whose target leaves the destination, no devices or fifos -- and extraction
then runs again through tarfile's `data` filter as a second line.
"""
from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from .._errors import ArtifactError, UnsafeArchive

__all__ = [
    "is_tarball",
    "is_zip",
    "make_tgz",
    "make_zip",
    "recompress",
    "safe_extract_tar",
    "safe_extract_zip",
    "unpack",
]

_COPY_CHUNK = 1 << 20


def make_tgz(src: Path, dest: Path, /, *, compression_level: int | None = None) -> Path:
    """Write `src` (file or directory) to `dest` as tar+gzip rooted at `src`'s base name."""
    level = 6 if compression_level is None or compression_level < 0 else min(compression_level, 9)
    name = src.name
    # Like Argo (os.Stat on the artifact path), a symlinked artifact path is followed; links
    # inside a directory are archived as links.
    src = src.resolve() if src.is_symlink() else src
    with gzip.open(dest, "wb", compresslevel=level) as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        # sorted walk: the same tree gives the same archive
        tar.add(src, arcname=name, recursive=False)
        if src.is_dir():
            for root, dirs, files in os.walk(src):
                dirs.sort()
                rel = Path(root).relative_to(src)
                for entry in sorted(dirs + files):
                    tar.add(Path(root, entry), arcname=str(Path(name, rel, entry)), recursive=False)
    return dest


def make_zip(src: Path, dest: Path, /) -> Path:
    """Write `src` to `dest` as a zip rooted at `src`'s base name (Argo's `archive: zip`)."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if src.is_file():
            zf.write(src, src.name)
        else:
            for root, dirs, files in os.walk(src):
                dirs.sort()
                rel = Path(root).relative_to(src.parent)
                zf.write(root, f"{rel}/")
                for name in sorted(files):
                    zf.write(Path(root, name), str(rel / name))
    return dest


def recompress(src: Path, dest: Path, /, *, compression_level: int | None = None) -> Path:
    """Re-gzip a .tgz (the C wrapper writes stored, uncompressed deflate blocks)."""
    level = 6 if compression_level is None or compression_level < 0 else min(compression_level, 9)
    with gzip.open(src, "rb") as fin, gzip.open(dest, "wb", compresslevel=level) as fout:
        shutil.copyfileobj(fin, fout, _COPY_CHUNK)
    return dest


def is_tarball(path: Path, /) -> bool:
    """True for a gzip-compressed tar (what Argo's `isTarball` accepts)."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                return False
        with tarfile.open(path, "r:gz") as tar:
            tar.next()
        return True
    except (OSError, tarfile.TarError, EOFError):
        return False


def is_zip(path: Path, /) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def _check_name(name: str, *, artifact: str | None) -> str:
    if not name or "\x00" in name:
        raise UnsafeArchive("empty name or NUL byte", member=name, artifact=artifact)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive("absolute path", member=name, artifact=artifact)
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../") or ".." in name.split("/"):
        raise UnsafeArchive("path traversal", member=name, artifact=artifact)
    return norm


def _check_link(name: str, target: str, *, hard: bool, artifact: str | None) -> None:
    kind = "hardlink" if hard else "symlink"
    if not target or target.startswith("/"):
        raise UnsafeArchive(f"{kind} to absolute path {target!r}", member=name, artifact=artifact)
    # a symlink resolves against its own directory, a hardlink against the archive root
    resolved = posixpath.normpath(target if hard else posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive(f"{kind} escapes the destination via {target!r}", member=name, artifact=artifact)


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def safe_extract_tar(archive: Path, dest: Path, /, *, artifact: str | None = None) -> None:
    """Extract a (possibly compressed) tar into `dest`, refusing anything that could escape it."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                norm = _check_name(m.name, artifact=artifact)
                if m.issym():
                    _check_link(norm, m.linkname, hard=False, artifact=artifact)
                elif m.islnk():
                    _check_name(m.linkname, artifact=artifact)
                    _check_link(norm, m.linkname, hard=True, artifact=artifact)
                elif not (m.isfile() or m.isdir()):
                    raise UnsafeArchive("device, fifo or other special file", member=m.name, artifact=artifact)
            for m in members:
                # Symlinks inside the archive can make a later member's parent point elsewhere;
                # check the parent's real location at the moment of writing.
                parent = (root / posixpath.normpath(m.name)).parent
                real_parent = Path(os.path.realpath(parent))
                if not _inside(root, real_parent):
                    raise UnsafeArchive("parent directory resolves outside the destination", member=m.name, artifact=artifact)
                if m.issym():
                    target = Path(os.path.realpath(real_parent / m.linkname))
                    if not _inside(root, target):
                        raise UnsafeArchive(f"symlink resolves outside the destination via {m.linkname!r}", member=m.name, artifact=artifact)
                tar.extract(m, root, set_attrs=True, filter=_filter)
    except tarfile.FilterError as exc:
        raise UnsafeArchive(str(exc), member=getattr(exc, "tarinfo", None).name if getattr(exc, "tarinfo", None) else "?", artifact=artifact) from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, UnsafeArchive):
            raise
        raise ArtifactError(f"cannot extract {archive}: {exc}", artifact=artifact) from exc


def _filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    m = tarfile.data_filter(member, path)
    # keep the executable bits a script artifact needs; data_filter already drops setuid/setgid
    if m.isfile() and member.mode is not None:
        m = m.replace(mode=member.mode & 0o755 | 0o600, deep=False)
    return m


def safe_extract_zip(archive: Path, dest: Path, /, *, artifact: str | None = None) -> None:
    """Extract a zip into `dest`; names are checked like tar members (zip has no links here)."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_name(info.filename.rstrip("/") or info.filename, artifact=artifact)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UnsafeArchive("symlinks are not extracted from zip archives", member=info.filename, artifact=artifact)
            for info in infos:
                target = root / posixpath.normpath(info.filename)
                if not _inside(root, Path(os.path.realpath(target.parent))):
                    raise UnsafeArchive("parent directory resolves outside the destination", member=info.filename, artifact=artifact)
                zf.extract(info, root)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArtifactError(f"cannot extract {archive}: {exc}", artifact=artifact) from exc


def unpack(src: Path, dest: Path, /, *, artifact: str | None = None) -> None:
    """Argo's `unpack`: extract an archive file at `src` to `dest` and remove `src`.

    A single top-level entry becomes `dest` itself (so `out.tgz` holding `out/...` lands at
    `dest/...`, and one holding one file lands as the file `dest`); several entries leave `dest` a
    directory holding them.
    """
    tmp = dest.with_name(dest.name + ".tmpdir")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        if is_tarball(src):
            safe_extract_tar(src, tmp, artifact=artifact)
        elif is_zip(src):
            safe_extract_zip(src, tmp, artifact=artifact)
        else:
            raise ArtifactError(f"{src} is neither a tar.gz nor a zip archive", artifact=artifact)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    src.unlink()
    entries = list(tmp.iterdir())
    if dest.exists() or dest.is_symlink():
        shutil.rmtree(dest) if dest.is_dir() and not dest.is_symlink() else dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if len(entries) == 1:
        entries[0].rename(dest)
        tmp.rmdir()
    else:
        tmp.rename(dest)
