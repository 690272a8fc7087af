"""Which artifact repository a workflow uses, and the `archiveLocation` its pods get from it.

`resolve_repository` is Argo's `artifactrepositories.Resolve` (v3.6): once per workflow the
controller settles the repository and records it in `status.artifactRepositoryRef` as
`{configMap, key, namespace, default, artifactRepository}`; later reconciles (and a restarted
controller) use the recorded repository, so editing the ConfigMap does not move a running
workflow's artifacts. The candidates, first found wins:

* with `spec.artifactRepositoryRef {configMap, key}`: that ConfigMap (default name
  `artifact-repositories`) in the workflow's namespace, then in the controller's namespace;
* without: the `artifact-repositories` ConfigMap of the workflow's namespace, then the controller
  ConfigMap's `artifactRepository` (`default: true`, possibly empty).

In a ConfigMap the key is the ref's, else the one named by its annotation
`workflows.argoproj.io/default-artifact-repository`. A candidate whose ConfigMap or key is
missing is skipped; a value that is not a YAML mapping is an error at once. Nothing found is
`RepositoryError` with Argo's message, which names the ref.

`archive_location(template, repository, ...)` is Argo's addArchiveLocation: a template that
archives logs, or has an input or output artifact without a full location, and whose own
`archiveLocation` names no full location, gets the repository's location with `keyFormat` as the
key (`{{workflow.name}}/{{pod.name}}` by default) and `archiveLogs` set.

ConfigMaps are read through `read(namespace, name) -> (data, annotations) | None` (an informer
cache in the controller): this module does no I/O.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

__all__ = ["ARTIFACT_REPOSITORIES", "DEFAULT_REPOSITORY_ANNOTATION", "DEFAULT_ARCHIVE_PATTERN", "RepositoryError",
           "ReadConfigMap", "resolve_repository", "repository_of", "archive_location", "has_location",
           "repository_location"]

ARTIFACT_REPOSITORIES = "artifact-repositories"
DEFAULT_REPOSITORY_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
DEFAULT_ARCHIVE_PATTERN = "{{workflow.name}}/{{pod.name}}"

ReadConfigMap = Callable[[str, str], "tuple[Mapping[str, Any], Mapping[str, Any]] | None"]


class RepositoryError(ValueError):
    """No usable artifact repository for `ref` (the workflow's `artifactRepositoryRef`, or None)."""

    def __init__(self, message: str, /, *, ref: Mapping[str, Any] | None) -> None:
        super().__init__(message)
        self.ref = dict(ref) if ref is not None else None


class _Missing(Exception):
    """A candidate that is not there (ConfigMap or key): the next one is tried."""


def _ref_text(ref: Mapping[str, Any] | None) -> str:
    # Go's ArtifactRepositoryRef.String(): "<configMap>#<key>", "nil" without a ref
    return "nil" if ref is None else f"{ref.get('configMap') or ''}#{ref.get('key') or ''}"


def _get(read: ReadConfigMap, namespace: str, config_map: str, key: str) -> dict[str, Any]:
    found = read(namespace, config_map)
    if found is None:
        raise _Missing
    data, annotations = found
    key = key or str((annotations or {}).get(DEFAULT_REPOSITORY_ANNOTATION) or "")
    value = (data or {}).get(key)
    if value is None:
        raise _Missing
    ref_text = f"{namespace}/{config_map}#{key}"
    try:
        repo = yaml.safe_load(str(value))
    except yaml.YAMLError as exc:
        raise RepositoryError(f'error getting config map for artifact repository ref "{ref_text}": failed to '
                              f'unmarshall config map key "{key}": {exc}', ref={"configMap": config_map, "key": key}) \
            from None
    if repo is None:
        repo = {}
    if not isinstance(repo, dict):
        raise RepositoryError(f'error getting config map for artifact repository ref "{ref_text}": config map key '
                              f'"{key}" does not hold a mapping', ref={"configMap": config_map, "key": key})
    return {"configMap": config_map, "key": key, "namespace": namespace, "artifactRepository": repo}


def resolve_repository(ref: Mapping[str, Any] | None, /, *, namespace: str, controller_namespace: str,
                       default: Mapping[str, Any] | None, read: ReadConfigMap) -> dict[str, Any]:
    """The `status.artifactRepositoryRef` for a workflow in `namespace` (see the module docstring).

    `default` is the controller ConfigMap's `artifactRepository` (None when unset: recorded as
    `{}`, Argo's zero repository). Raises RepositoryError.
    """
    if ref is not None and not isinstance(ref, Mapping):
        raise RepositoryError("spec.artifactRepositoryRef must be an object", ref=None)
    if ref is not None:
        config_map = str(ref.get("configMap") or ARTIFACT_REPOSITORIES)
        key = str(ref.get("key") or "")
        candidates = [(namespace, config_map, key), (controller_namespace, config_map, key)]
    else:
        candidates = [(namespace, ARTIFACT_REPOSITORIES, "")]
    for ns, config_map, key in candidates:
        if not ns and ref is not None and ns != namespace:
            continue  # no controller namespace known (tests, embedded): only the workflow's
        try:
            return _get(read, ns, config_map, key)
        except _Missing:
            continue
    if ref is None:
        return {"default": True, "artifactRepository": dict(default or {})}
    raise RepositoryError(f'failed to find any artifact repository for artifact repository ref "{_ref_text(ref)}"',
                          ref=ref)


def repository_of(status_ref: Mapping[str, Any], /, *, default: Mapping[str, Any] | None,
                  read: ReadConfigMap) -> dict[str, Any]:
    """The repository a recorded `status.artifactRepositoryRef` names (Argo's Get): its own copy,
    else (a ref recorded without one, before Argo 3.1) the ConfigMap read again."""
    repo = status_ref.get("artifactRepository")
    if isinstance(repo, dict):
        return repo
    if status_ref.get("default"):
        return dict(default or {})
    config_map = str(status_ref.get("configMap") or ARTIFACT_REPOSITORIES)
    try:
        return _get(read, str(status_ref.get("namespace") or ""), config_map,
                    str(status_ref.get("key") or ""))["artifactRepository"]
    except _Missing:
        raise RepositoryError(f'config map missing key "{status_ref.get("key") or ""}" for artifact repository ref '
                              f'"{status_ref.get("namespace") or ""}/{_ref_text(status_ref)}"',
                              ref=dict(status_ref)) from None


# location type -> the fields that must all be set for the location to be complete (Argo's HasLocation)
_COMPLETE: dict[str, tuple[str, ...]] = {
    "s3": ("endpoint", "bucket", "key"), "git": ("repo",), "artifactory": ("url", "usernameSecret"),
    "azure": ("endpoint", "container", "blob"), "hdfs": ("addresses",), "raw": (), "http": ("url",),
    "gcs": ("bucket", "key"), "oss": ("bucket", "endpoint", "key"),
}


def has_location(obj: Mapping[str, Any] | None, /) -> bool:
    """Whether an artifact or archiveLocation names a complete location (Argo's HasLocation)."""
    if not isinstance(obj, Mapping):
        return False
    for typ, fields in _COMPLETE.items():
        loc = obj.get(typ)
        if isinstance(loc, Mapping):
            return all(loc.get(f) for f in fields)
    return False


def _location(repo: Mapping[str, Any]) -> dict[str, Any]:
    """Argo's ArtifactRepository.ToArtifactLocation: the first configured type, keyFormat as key."""
    for typ in ("artifactory", "azure", "gcs", "hdfs", "oss", "s3"):
        r = repo.get(typ)
        if not isinstance(r, Mapping):
            continue
        if typ == "s3":
            fmt = r.get("keyFormat") or (f"{r['keyPrefix'].rstrip('/')}/{DEFAULT_ARCHIVE_PATTERN}"
                                         if r.get("keyPrefix") else DEFAULT_ARCHIVE_PATTERN)
            return {"s3": {**{k: v for k, v in r.items() if k not in ("keyFormat", "keyPrefix")}, "key": fmt}}
        if typ == "artifactory":
            url = str(r.get("repoURL") or "")
            url = url if url.endswith("/") else url + "/"
            auth = {k: v for k, v in r.items() if k not in ("repoURL", "keyFormat")}
            return {"artifactory": {**auth, "url": url + str(r.get("keyFormat") or DEFAULT_ARCHIVE_PATTERN)}}
        if typ == "azure":
            body = {k: v for k, v in r.items() if k != "blobNameFormat"}
            return {"azure": {**body, "blob": r.get("blobNameFormat") or DEFAULT_ARCHIVE_PATTERN}}
        if typ == "hdfs":
            body = {k: v for k, v in r.items() if k != "pathFormat"}
            return {"hdfs": {**body, "path": r.get("pathFormat") or DEFAULT_ARCHIVE_PATTERN}}
        body = {k: v for k, v in r.items() if k != "keyFormat"}
        return {typ: {**body, "key": r.get("keyFormat") or DEFAULT_ARCHIVE_PATTERN}}
    return {}


def repository_location(repository: Mapping[str, Any], /) -> dict[str, Any]:
    """The repository as an artifact location (Argo's ToArtifactLocation): what artifact GC hands
    its pod as each node's `archiveLocation`; the key is still the unrendered format."""
    return _location(repository)


def archive_location(template: Mapping[str, Any], repository: Mapping[str, Any] | None, /, *,
                     workflow_archive_logs: bool | None = None) -> dict[str, Any] | None:
    """The `archiveLocation` to give `template`, or None to leave it as it is (Argo's
    addArchiveLocation; `workflow_archive_logs` is `spec.archiveLogs`). The key is still a format:
    the caller substitutes `{{workflow.*}}` and `{{pod.name}}` in it."""
    own = template.get("archiveLocation")
    if has_location(own):
        return None
    repo = repository or {}
    # priorities (Argo's IsArchiveLogs): repository on > template > workflow > off
    archive_logs = repo.get("archiveLogs") is True
    if not archive_logs:
        if workflow_archive_logs is not None:
            archive_logs = bool(workflow_archive_logs)
        if isinstance(own, Mapping) and own.get("archiveLogs") is not None:
            archive_logs = bool(own["archiveLogs"])
    need = archive_logs
    for group in ("inputs", "outputs"):
        for art in (template.get(group) or {}).get("artifacts") or ():
            if isinstance(art, Mapping) and not has_location(art):
                need = True
    if not need:
        return None
    return {**_location(repo), "archiveLogs": archive_logs}
