"""Volumes and volume mounts of a workflow pod (Argo `workflowpod.go`, legacy layout).

Which volume exists and where it is mounted is the executor's file protocol, so the names and
paths below are fixed: `var-run-argo` at `/var/run/argo` in every container, `tmp-dir-argo` at
`/tmp` in executor containers, `argo-staging` at `/argo/staging` for scripts, `input-artifacts`
at `/argo/inputs/artifacts` in `init` plus one subPath mount per artifact in `main`, and main's
mounts mirrored under `/mainctrfs` so `init`/`wait` can reach files that live on user volumes.
Artifact credentials are Secret volumes at `/argo/secret/<secret name>` (one per Secret, only the
keys referenced, read-only) in the executor containers that reach a repository: the executor reads
`/argo/secret/<name>/<key>` and the controller never reads a Secret itself.

Functions here edit the pod spec they are given, which `build_pod` owns (a fresh copy).
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from tiphys.core.plan._poderrors import PodSpecError, VolumeNotFound

__all__ = ["VAR_RUN_ARGO", "TMP_DIR", "STAGING_DIR", "SCRIPT_PATH", "ARTIFACTS_DIR", "MAIN_FS_DIR",
           "base_volumes", "claim_volumes", "add_volume_references", "add_input_artifacts", "add_script_staging",
           "mirror_into_wait", "mirror_mounts", "SECRET_DIR", "secret_refs", "artifact_locations",
           "secret_volumes", "add_secret_volumes"]

VAR_RUN_ARGO = "/var/run/argo"
TMP_DIR = "/tmp"  # noqa: S108 - the executor's temp dir is an emptyDir, not the node's /tmp
STAGING_DIR = "/argo/staging"
SCRIPT_PATH = "/argo/staging/script"
ARTIFACTS_DIR = "/argo/inputs/artifacts"
MAIN_FS_DIR = "/mainctrfs"
SECRET_DIR = "/argo/secret"

# every artifact location Argo knows (`ArtifactLocation`); one of them set = the artifact can be fetched
_LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")


def _empty_dir(name: str) -> dict[str, Any]:
    return {"name": name, "emptyDir": {}}


def var_run_mount() -> dict[str, Any]:
    return {"name": "var-run-argo", "mountPath": VAR_RUN_ARGO}


def tmp_mount() -> dict[str, Any]:
    return {"name": "tmp-dir-argo", "mountPath": TMP_DIR}


def base_volumes(template: dict, /) -> list[dict]:
    """`var-run-argo`, `tmp-dir-argo`, then every volume the template declares (Argo `createVolumes`)."""
    return [_empty_dir("var-run-argo"), _empty_dir("tmp-dir-argo"), *(dict(v) for v in template.get("volumes") or ())]


def claim_volumes(workflow: str, spec: dict, /) -> list[dict]:
    """One PVC volume per `volumeClaimTemplates` entry; the claim Argo creates is named `<wf>-<claim>`."""
    out = []
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or ()):
        name = ((claim or {}).get("metadata") or {}).get("name")
        if not name:
            raise PodSpecError(f"spec.volumeClaimTemplates[{i}].metadata.name", "a claim template needs a name")
        out.append({"name": name, "persistentVolumeClaim": {"claimName": f"{workflow}-{name}"}})
    return out


def add_volume_references(pod_spec: dict, template: dict, wf_volumes: list, claims: list,
                          mount_lists: list[tuple[str, list]]) -> None:
    """Add the workflow-level volumes and claims that some container mounts (Argo `addVolumeReferences`).

    Template volumes are already in the pod; a mount of an unknown volume is an error naming the
    container, as Argo's `volume '<v>' not found in workflow spec`.
    """
    present = {v.get("name") for v in pod_spec["volumes"]}
    by_name: dict[str, dict] = {}
    for source in (claims, wf_volumes, template.get("volumes") or ()):  # later sources win, as Argo's lookup order
        for vol in source:
            by_name[vol.get("name")] = vol
    for where, mounts in mount_lists:
        for mount in mounts:
            name = mount.get("name")
            if name in present:
                continue
            vol = by_name.get(name)
            if vol is None:
                raise VolumeNotFound(where, str(name))
            pod_spec["volumes"].append(dict(vol))
            present.add(name)


def _find(containers: list, name: str) -> dict | None:
    return next((c for c in containers if c.get("name") == name), None)


def _mirrored(mount: dict) -> dict:
    # filepath.Join cleans the path: /mainctrfs + /data/ -> /mainctrfs/data
    return {**mount, "mountPath": posixpath.normpath(MAIN_FS_DIR + "/" + str(mount.get("mountPath", "")).lstrip("/"))}


def _overlapping_mount(mounts: list, path: str) -> dict | None:
    """The deepest mount containing `path` (Argo `FindOverlappingVolume`)."""
    best, depth = None, -1
    for m in mounts:
        mp = str(m.get("mountPath", "")).rstrip("/") or "/"
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > depth:
            best, depth = m, len(mp)
    return best


def _clean_artifact_path(name: str, path: str, index: int) -> str:
    """Argo `Artifact.CleanPath`: `..` may not climb above the part of the path written before it."""
    safe = ""
    if "/../" in path:
        safe = path[:path.index("/../")]
    elif path.endswith("/.."):
        safe = path[:-3]
    clean = posixpath.normpath(path)
    if clean.startswith("//"):
        clean = clean[1:]  # Go's filepath.Clean keeps one leading slash
    if safe and not clean.startswith(safe):
        raise PodSpecError(f"inputs.artifacts[{index}]", f"error in inputs.artifacts.{name}: {name}: Artifact path "
                           f"'{path}' resolves to '{clean}' which is outside of '{safe}'")
    return clean


def add_input_artifacts(pod_spec: dict, template: dict, template_mounts: list) -> None:
    """The `input-artifacts` emptyDir: whole in `init`, one subPath per artifact in `main`.

    Like Argo, `init` also gets main's mounts under `/mainctrfs` (it may download straight onto a
    user volume), and an artifact whose path lies on a user volume is not mounted in main.
    """
    artifacts = (template.get("inputs") or {}).get("artifacts") or ()
    if not artifacts:
        return
    pod_spec["volumes"].append(_empty_dir("input-artifacts"))
    init = _find(pod_spec["initContainers"], "init")
    if init is not None:
        init.setdefault("volumeMounts", []).append({"name": "input-artifacts", "mountPath": ARTIFACTS_DIR})
        init["volumeMounts"].extend(_mirrored(m) for m in template_mounts)
    main = _find(pod_spec["containers"], "main")
    if main is None:
        return
    for i, art in enumerate(artifacts):
        name, path = art.get("name"), art.get("path")
        if not path:
            continue
        clean = _clean_artifact_path(str(name), str(path), i)
        if art.get("optional") and not any(art.get(k) for k in _LOCATIONS):
            continue  # optional and not supplied: nothing to mount
        if _overlapping_mount(template_mounts, clean) is not None:
            continue  # init writes it onto the user's volume instead
        main.setdefault("volumeMounts", []).append({"name": "input-artifacts", "mountPath": clean, "subPath": name})


def add_script_staging(pod_spec: dict) -> None:
    """`argo-staging` for the script source, written by `init`, read by `main` (Argo `addScriptStagingVolume`)."""
    pod_spec["volumes"].append(_empty_dir("argo-staging"))
    for c in (_find(pod_spec["initContainers"], "init"), _find(pod_spec["containers"], "main")):
        if c is not None:
            c.setdefault("volumeMounts", []).append({"name": "argo-staging", "mountPath": STAGING_DIR})


def mirror_mounts(source: dict | None, target: dict) -> None:
    """`mirrorVolumeMounts: true` on a user init container or sidecar: copy main's mounts as they are."""
    if source is not None:
        target.setdefault("volumeMounts", []).extend(dict(m) for m in source.get("volumeMounts") or ())


def mirror_into_wait(pod_spec: dict) -> None:
    """Every mount of the `main` containers, under `/mainctrfs`, writable, in `wait` (Argo `addOutputArtifactsVolumes`)."""
    wait = _find(pod_spec["containers"], "wait")
    if wait is None:
        return
    for c in pod_spec["containers"]:
        if c.get("name") != "main":
            continue
        for m in c.get("volumeMounts") or ():
            mirrored = _mirrored(m)
            mirrored.pop("readOnly", None)  # Argo forces ReadOnly=false: overlapping mounts need it
            wait.setdefault("volumeMounts", []).append(mirrored)


# Argo `createSecretVolumesFromArtifactLocations`: the SecretKeySelectors each location type reads,
# as paths into its body. Like Argo's if/else chain, only the first type a location sets counts.
_SECRET_FIELDS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("s3", (("accessKeySecret",), ("secretKeySecret",), ("sessionTokenSecret",))),
    ("git", (("usernameSecret",), ("passwordSecret",), ("sshPrivateKeySecret",))),
    ("artifactory", (("usernameSecret",), ("passwordSecret",))),
    ("hdfs", (("krbKeytabSecret",), ("krbCCacheSecret",))),
    ("oss", (("accessKeySecret",), ("secretKeySecret",))),
    ("gcs", (("serviceAccountKeySecret",),)),
    ("azure", (("accountKeySecret",),)),
    ("http", (("auth", "basicAuth", "usernameSecret"), ("auth", "basicAuth", "passwordSecret"),
              ("auth", "clientCert", "clientCertSecret"), ("auth", "clientCert", "clientKeySecret"),
              ("auth", "oauth2", "clientIDSecret"), ("auth", "oauth2", "clientSecretSecret"))),
)
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+\Z")


def _dig(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(part)
    return body


def secret_refs(location: Mapping[str, Any] | None, /, *, where: str) -> list[tuple[str, str]]:
    """The (secret name, key) pairs an artifact or archive location reads, in Argo's field order.

    A selector without a name or key is skipped, as Argo skips it (the executor then names the
    reference it cannot read); a name that is not a Secret name, or a key that cannot be a file
    in the volume, is a PodSpecError at the selector (Argo would send a pod the API refuses).
    """
    if not isinstance(location, Mapping):
        return []
    for typ, paths in _SECRET_FIELDS:
        body = location.get(typ)
        if not isinstance(body, Mapping):
            continue
        selected = list(paths)
        enc = body.get("encryptionOptions") if typ == "s3" else None
        if isinstance(enc, Mapping) and enc.get("enableEncryption"):  # SSE-C: Argo mounts its key only when on
            selected.append(("encryptionOptions", "serverSideCustomerKeySecret"))
        out = []
        for path in selected:
            ref = _dig(body, path)
            if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
                continue
            name, key = ref["name"], ref["key"]
            if not isinstance(name, str) or len(name) > 253 or not _SUBDOMAIN.match(name):
                raise PodSpecError(f"{where}.{typ}.{'.'.join(path)}.name",
                                   f"{name!r} is not a Secret name (a DNS-1123 subdomain)")
            if not isinstance(key, str) or len(key) > 253 or not _SECRET_KEY.match(key) or key.startswith(".."):
                raise PodSpecError(f"{where}.{typ}.{'.'.join(path)}.key",
                                   f"{key!r} is not a Secret key ([-._a-zA-Z0-9]+, not '..'-prefixed)")
            out.append((name, key))
        return out
    return []


def artifact_locations(template: Mapping[str, Any], /, *, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(where, location) of everything a pod's executor may fetch from or store to, in Argo's order
    (`createSecretVolumesAndMounts`): the archiveLocation, output artifacts, input artifacts, and a
    data template's `source.artifactPaths`."""
    out: list[tuple[str, Mapping[str, Any]]] = []
    archive = template.get("archiveLocation")
    if isinstance(archive, Mapping):
        out.append((f"{where}.archiveLocation", archive))
    for group in ("outputs", "inputs"):
        for i, art in enumerate((template.get(group) or {}).get("artifacts") or ()):
            if isinstance(art, Mapping):
                out.append((f"{where}.{group}.artifacts[{i}]", art))
    paths = ((template.get("data") or {}).get("source") or {}).get("artifactPaths")
    if isinstance(paths, Mapping):
        out.append((f"{where}.data.source.artifactPaths", paths))
    return out


def _volume_name(secret: str, taken: Collection[str]) -> str:
    """Argo names the volume after the Secret. A Secret name may hold dots or be longer than the 63
    characters of a volume name, and may equal a volume the pod already has (a user volume of that
    Secret): then `secret-<name, dots as dashes>-<hash of the name>`, stable for the same Secret."""
    if len(secret) <= 63 and _LABEL.match(secret) and secret not in taken:
        return secret
    digest = hashlib.sha256(secret.encode()).hexdigest()
    stem = secret.replace(".", "-")[:40].strip("-")
    for n in range(1, 64):  # the digest alone makes a clash unlikely; a clash still gets a free name
        name = f"secret-{stem}-{digest[:n + 9]}"
        if name not in taken:
            return name
    raise PodSpecError(f"volume for Secret {secret}", "no free volume name")  # pragma: no cover - 63 clashes


def secret_volumes(locations: Iterable[tuple[str, Mapping[str, Any] | None]], /, *,
                   taken: Collection[str] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) for the Secrets `locations` read: one Secret volume per Secret name with
    the keys referenced as `items` (key -> file of the same name), mounted read-only at
    `/argo/secret/<secret name>`. Argo iterates a Go map (random order); here Secrets are sorted by
    name and each Secret's keys keep the order they are first referenced in."""
    keys: dict[str, list[str]] = {}
    for where, location in locations:
        for name, key in secret_refs(location, where=where):
            seen = keys.setdefault(name, [])
            if key not in seen:
                seen.append(key)
    used = set(taken)
    volumes, mounts = [], []
    for name in sorted(keys):
        vol = _volume_name(name, used)
        used.add(vol)
        volumes.append({"name": vol, "secret": {"secretName": name,
                                                "items": [{"key": k, "path": k} for k in keys[name]]}})
        mounts.append({"name": vol, "mountPath": f"{SECRET_DIR}/{name}", "readOnly": True})
    return volumes, mounts


def add_secret_volumes(pod_spec: dict, locations: Iterable[tuple[str, Mapping[str, Any] | None]], /, *,
                       init: Sequence[str] = ("init",), containers: Sequence[str] = ("wait",)) -> None:
    """Add the Secret volumes of `locations` to the pod and mount them in the named init containers
    and containers (Argo: `init` and `wait`, the executors that fetch and store artifacts)."""
    volumes, mounts = secret_volumes(locations, taken=[str(v.get("name")) for v in pod_spec["volumes"]])
    if not volumes:
        return
    pod_spec["volumes"].extend(volumes)
    for group, names in (("initContainers", init), ("containers", containers)):
        for ctr in pod_spec.get(group) or ():
            if ctr.get("name") in names:
                ctr.setdefault("volumeMounts", []).extend(dict(m) for m in mounts)
