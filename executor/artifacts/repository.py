"""The artifact repository: one `load`/`save` pair over every location type.

`ArtifactRepository.load(artifact, dest)` and `.save(src, artifact)` take artifacts exactly as they
appear in a template (`{"name", "path", "archive", "optional", "s3": {...}}`) and do what Argo's
executor does around its drivers:

* pick the driver from the location type (`s3`, `http`, `git`, `raw`, ...);
* key-only artifacts (`s3: {key: k}` with no bucket/endpoint, `azure: {blob: b}` with no
  endpoint/container) take the rest of their location from the template's `archiveLocation` -- of
  the archive location's type when it is another one, as Argo's `Relocate` does -- and when that
  names no server either, from the default driver, the local-directory repository of an embedded
  tiphys;
* on save: archive per `archive` (tar+gzip by default, `none`, `zip`), derive the key when the
  artifact has none (`<archiveLocation key>/<file name>`, §keys.py), upload, and return the
  artifact with its location filled, which is what the task result reports;
* on load: fetch to a temporary name, then unpack archives safely (`archive.unpack`) unless the
  artifact says `archive: none`; apply `mode`.

Drivers only move bytes; they implement `get(location, dest)` and `put(src, location)`, and
those that can enumerate a key prefix (s3, azure, the local repository) `list(location)`.

`.list_objects(artifact)` (data templates' `source.artifactPaths`) resolves as Argo's executor
does for it (`newDriverArt`, `ArtifactLocation.Relocate`): an artifact with a complete location
(s3: endpoint, bucket and key; azure: endpoint, container and blob) is listed as it is; any other takes the template's whole
`archiveLocation` and keeps only its own key -- so `s3: {bucket: b}` lists the archive location's
bucket from its root, exactly as under Argo -- and, with no archiveLocation, the local default.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from .._errors import ArtifactConfigError, ArtifactError, ArtifactNotFound
from . import archive as _archive
from .keys import DEFAULT_KEY_FORMAT, archive_strategy, artifact_file_name, join_key, render_key_format

__all__ = ["KEY_FIELDS", "LOCATION_TYPES", "ArtifactRepository", "Driver", "Lister", "location_of"]

LOCATION_TYPES = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")


class Driver(Protocol):
    def get(self, location: Mapping[str, Any], dest: Path, /) -> None: ...
    def put(self, src: Path, location: Mapping[str, Any], /) -> None: ...


class Lister(Protocol):
    def list(self, location: Mapping[str, Any], /) -> list[str]: ...


# the location types whose objects are addressed by a key-like field, and that field (Argo's
# GetKey/SetKey); key-only artifacts of these types complete from the archive location
KEY_FIELDS = {"s3": "key", "azure": "blob"}
# the fields naming the server and the bucket/container: one of them set, the location is not key-only
_SERVER_FIELDS = {"s3": ("endpoint", "bucket"), "azure": ("endpoint", "container")}


def _key_field(typ: str) -> str:
    return KEY_FIELDS.get(typ, "key")


def _complete(typ: str, loc: Mapping[str, Any]) -> bool:
    # Argo's S3Artifact/AzureArtifact.HasLocation
    return all(loc.get(f) for f in (*_SERVER_FIELDS[typ], KEY_FIELDS[typ]))


def location_of(artifact: Mapping[str, Any], /) -> tuple[str, dict[str, Any]] | None:
    """The artifact's (location type, location) or None when it names no location."""
    for typ in LOCATION_TYPES:
        loc = artifact.get(typ)
        if isinstance(loc, Mapping):
            return typ, dict(loc)
    return None


class ArtifactRepository:
    def __init__(self, *, drivers: Mapping[str, Driver], default: Driver | None = None,
                 archive_location: Mapping[str, Any] | None = None,
                 key_variables: Mapping[str, str] | None = None,
                 work_dir: str | os.PathLike[str] | None = None) -> None:
        self._drivers = dict(drivers)
        self._default = default
        self._archive_location = dict(archive_location or {})
        self._vars = dict(key_variables or {})
        self._work_dir = Path(work_dir) if work_dir is not None else None

    # -- resolution --------------------------------------------------------------------------

    def _resolve(self, typ: str, loc: dict[str, Any], *, name: str | None) -> tuple[Driver, dict[str, Any]]:
        if typ in KEY_FIELDS:
            arch = location_of(self._archive_location)
            if (arch is not None and arch[0] != typ and arch[0] in KEY_FIELDS
                    and not any(loc.get(f) for f in _SERVER_FIELDS[typ])):
                # Argo's ArtifactLocation.Relocate: a key-only artifact takes the archive location's
                # type, carrying its key (`s3: {key: k}` under an azure repository is blob k there)
                typ, loc = arch[0], {_key_field(arch[0]): loc.get(KEY_FIELDS[typ])}
            field = KEY_FIELDS[typ]
            base = self._archive_location.get(typ) or {}
            merged = {**{k: v for k, v in base.items() if k != field}, **{k: v for k, v in loc.items() if v not in (None, "")}}
            if not any(merged.get(f) for f in _SERVER_FIELDS[typ]):
                if self._default is None:
                    raise ArtifactConfigError("key-only artifact but no artifact repository is configured", artifact=name)
                # the local default repository addresses objects by `key`
                return self._default, {**{k: v for k, v in merged.items() if k != field}, "key": merged.get(field)}
            loc = merged
        driver = self._drivers.get(typ)
        if driver is None:
            raise ArtifactConfigError(f"no driver for {typ!r} artifacts", artifact=name)
        return driver, loc

    def resolve(self, artifact: Mapping[str, Any], /) -> tuple[Driver, dict[str, Any]]:
        """The driver and the complete location of a stored artifact (a key-only one completed as
        on load); artifact GC deletes through it."""
        found = location_of(artifact)
        if found is None:
            raise ArtifactConfigError("the artifact names no location", artifact=artifact.get("name"))
        return self._resolve(*found, name=artifact.get("name"))

    def _output_location(self, artifact: Mapping[str, Any], file_name: str | None = None) -> tuple[str, dict[str, Any]]:
        name = artifact.get("name")
        found = location_of(artifact)
        if found is not None and (found[1].get(_key_field(found[0])) or found[0] in ("http", "artifactory", "git", "raw")):
            return found
        # no key of its own: the archive location's key plus the file name
        arch = location_of(self._archive_location)
        typ, loc = found if found is not None else (arch if arch is not None else ("s3", {}))
        if arch is None and self._default is None:
            raise ArtifactConfigError("no key and no archiveLocation: configure an artifact repository", artifact=name)
        prefix = (arch[1].get(_key_field(arch[0])) if arch is not None else None) or DEFAULT_KEY_FORMAT
        prefix = render_key_format(str(prefix), self._vars)
        out = {**(arch[1] if arch is not None and arch[0] == typ else {}), **loc}
        out[_key_field(typ)] = join_key(prefix, file_name or artifact_file_name(artifact))
        return typ, out

    # -- list --------------------------------------------------------------------------------

    def list_objects(self, artifact: Mapping[str, Any], /) -> list[str]:
        """Every object key under `artifact`'s key, recursively (Argo's `ListObjects`)."""
        name = artifact.get("name")
        found = location_of(artifact)
        if found is None:
            raise ArtifactConfigError("no location to list: give an s3 location (or a key in the artifact "
                                      "repository)", artifact=name)
        typ, loc = found
        if typ not in KEY_FIELDS:
            raise ArtifactConfigError(f"{typ} artifacts cannot be listed (only s3 and azure locations and the "
                                      "artifact repository can)", artifact=name)
        if not _complete(typ, loc):
            key = loc.get(KEY_FIELDS[typ]) or ""
            arch = location_of(self._archive_location)
            if arch is not None:
                typ, loc = arch[0], {**arch[1], _key_field(arch[0]): key}
            elif self._default is not None:
                typ, loc = "s3", {"key": key}
            else:
                raise ArtifactConfigError("template artifact location not set: the location is incomplete "
                                          "(server, bucket/container and key) and there is no archiveLocation",
                                          artifact=name)
        if typ not in KEY_FIELDS:
            raise ArtifactConfigError(f"the archiveLocation is a {typ} location, which cannot be listed", artifact=name)
        driver, resolved = self._resolve(typ, loc, name=name)
        lister = getattr(driver, "list", None)
        if lister is None:
            raise ArtifactConfigError(f"the {typ} driver cannot list objects", artifact=name)
        try:
            return list(lister(resolved))
        except ArtifactError as exc:
            if exc.artifact is None:
                exc.artifact = name
            raise

    # -- save --------------------------------------------------------------------------------

    def save(self, src: Path, artifact: Mapping[str, Any], /, *, prepacked: bool = False,
             file_name: str | None = None) -> dict[str, Any]:
        """Archive and upload `src` (file or directory) for `artifact`; return it with its location.

        `prepacked=True` says `src` already is the tar+gzip of the artifact (the wrapper's copy);
        `file_name` overrides the derived last key segment (logs are `<container>.log`).
        """
        name = artifact.get("name")
        if not src.exists() and not src.is_symlink():
            raise ArtifactNotFound(f"{src} does not exist", artifact=name)
        typ, loc = self._output_location(artifact, file_name)
        driver, resolved = self._resolve(typ, loc, name=name)
        strategy = archive_strategy(artifact)
        with tempfile.TemporaryDirectory(dir=self._work_dir, prefix="art-") as tmp:
            if prepacked:
                if strategy != "tar":
                    raise ArtifactConfigError(f"a prepacked tar.gz cannot be saved with archive strategy {strategy!r}", artifact=name)
                staged = src
            elif strategy == "none":
                staged = src
            elif strategy == "zip":
                staged = _archive.make_zip(src, Path(tmp, artifact_file_name(artifact)))
            else:
                level = ((artifact.get("archive") or {}).get("tar") or {}).get("compressionLevel")
                staged = _archive.make_tgz(src, Path(tmp, artifact_file_name(artifact)), compression_level=level)
            try:
                driver.put(staged, resolved)
            except ArtifactError as exc:
                if exc.artifact is None:
                    exc.artifact = name
                raise
        out = copy.deepcopy(dict(artifact))
        for t in LOCATION_TYPES:
            out.pop(t, None)
        out[typ] = loc
        return out

    # -- load --------------------------------------------------------------------------------

    def load(self, artifact: Mapping[str, Any], dest: Path, /) -> bool:
        """Fetch `artifact` to `dest`; False when an optional artifact is absent (nothing written)."""
        name = artifact.get("name")
        found = location_of(artifact)
        if found is None:
            if artifact.get("optional"):
                return False
            raise ArtifactConfigError("required artifact not supplied: it has no location", artifact=name)
        typ, loc = found
        sub = artifact.get("subPath")
        if sub:
            # the object (or directory) below the location's key, as Argo's `subPath` does
            parts = PurePosixPath(str(sub)).parts
            if ".." in parts or str(sub).startswith("/"):
                raise ArtifactConfigError(f"subPath {sub!r} must be relative without '..'", artifact=name)
            field = _key_field(typ)
            if field not in loc:
                raise ArtifactConfigError(f"subPath needs a key-addressed location, not {typ!r}", artifact=name)
            loc[field] = join_key(str(loc[field]), str(sub))
        driver, resolved = self._resolve(typ, loc, name=name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if typ in ("raw", "git"):  # content lands as is: a file / a checkout
            try:
                driver.get(resolved, dest)
            except ArtifactNotFound:
                if artifact.get("optional"):
                    return False
                raise
            self._chmod(artifact, dest)
            return True
        tmp = dest.with_name(dest.name + ".tmp")
        try:
            driver.get(resolved, tmp)
        except ArtifactNotFound as exc:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            if artifact.get("optional"):
                return False
            if exc.artifact is None:
                exc.artifact = name
            raise
        if archive_strategy(artifact) != "none" and tmp.is_file() and (_archive.is_tarball(tmp) or _archive.is_zip(tmp)):
            _archive.unpack(tmp, dest, artifact=name)
        else:
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            tmp.rename(dest)
        self._chmod(artifact, dest)
        return True

    @staticmethod
    def _chmod(artifact: Mapping[str, Any], dest: Path) -> None:
        mode = artifact.get("mode")
        if mode is None:
            return
        if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ArtifactConfigError(f"mode must be an integer permission, got {mode!r}", artifact=artifact.get("name"))
        os.chmod(dest, mode)
        if artifact.get("recurseMode") and dest.is_dir():
            for root, dirs, files in os.walk(dest):
                for n in dirs + files:
                    os.chmod(Path(root, n), mode)
