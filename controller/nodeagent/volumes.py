"""Materialise a pod's volumes as host directories, the kubelet's volume manager in miniature.

Every volume becomes one host directory (or file) that containers later see at their
`mountPath`, either bind-mounted in a private mount namespace or by path rewriting
(`sandbox.py`). Sources:

    emptyDir               <pod dir>/volumes/<name>/ (fresh per pod, removed with it)
    hostPath               the path itself; `DirectoryOrCreate`/`FileOrCreate` create it, other
                           types are checked; an untyped missing path is created as a directory
    configMap, secret      read through the API and written as files (`items`, `defaultMode`,
                           `optional`), binary data decoded; secrets also honour `stringData`
    downwardAPI            `fieldRef` items (name, namespace, uid, labels, annotations)
    persistentVolumeClaim  <root>/pvcs/<namespace>/<claimName>/, shared by every pod of the claim
    projected              configMap, secret and downwardAPI sources into one directory

Anything else (CSI, NFS, ephemeral, ...) is a `VolumeError` naming the volume. Unlike a kubelet,
which keeps a pod in ContainerCreating and retries a failed mount, the agent reports the error
once and the pod fails (see `podrun.py`): a local run should end, not hang.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path, PurePosixPath
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound

from .errors import VolumeError

__all__ = ["materialize_volumes", "safe_relative", "field_value"]

Object = dict[str, Any]
_DEFAULT_MODE = 0o644


def safe_relative(path: Any, /, *, where: str) -> PurePosixPath:
    """A relative path without `..` (item paths, subPaths); VolumeError otherwise."""
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise VolumeError(where, f"expected a relative path, got {path!r}")
    p = PurePosixPath(path)
    if ".." in p.parts:
        raise VolumeError(where, f"path {path!r} must not contain '..'")
    return p


def field_value(pod: Object, path: str, /, *, where: str) -> str:
    """The downward-API value of `fieldPath` for `pod` (metadata and the status IPs)."""
    meta = pod.get("metadata") or {}
    for field in ("labels", "annotations"):
        prefix = f"metadata.{field}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str((meta.get(field) or {}).get(path[len(prefix):-2], ""))
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
              "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
              "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1", "status.podIPs": "127.0.0.1",
              "status.hostIPs": "127.0.0.1"}
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".", 1)[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    raise VolumeError(where, f"unsupported fieldRef.fieldPath {path!r}")


def _write_file(root: Path, rel: PurePosixPath, data: bytes, mode: int) -> None:
    dest = root.joinpath(*rel.parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(dest)


def _decode_b64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VolumeError(where, f"not valid base64: {exc}") from None


async def _keyed_source(api: base.Api, kind: str, source: Object, namespace: str, where: str) -> dict[str, bytes] | None:
    """The key -> bytes of a ConfigMap or Secret; None when absent and optional."""
    name = source.get("name") if kind == "configMap" else source.get("secretName", source.get("name"))
    if not name:
        raise VolumeError(where, f"{kind} volume needs a name")
    resource = base.CONFIG_MAPS if kind == "configMap" else base.SECRETS
    try:
        obj = await api.get(resource, str(name), namespace=namespace)
    except NotFound:
        if source.get("optional"):
            return None
        raise VolumeError(where, f'{resource.kind.lower()} "{name}" not found') from None
    out: dict[str, bytes] = {}
    if kind == "configMap":
        out.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
        out.update({k: _decode_b64(v, f"{where}.binaryData.{k}") for k, v in (obj.get("binaryData") or {}).items()})
    else:
        out.update({k: _decode_b64(v, f"{where}.data.{k}") for k, v in (obj.get("data") or {}).items()})
        out.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
    return out


def _mode(value: Any, default: int, where: str) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or not 0 <= value <= 0o777:
        raise VolumeError(where, f"mode must be an integer in 0..0777, got {value!r}")
    return value


async def _write_keyed(api: base.Api, kind: str, source: Object, namespace: str, dest: Path, where: str,
                       default_mode: int) -> None:
    data = await _keyed_source(api, kind, source, namespace, where)
    if data is None:
        return
    items = source.get("items")
    if not items:
        for key, value in data.items():
            _write_file(dest, safe_relative(key, where=f"{where} key"), value, default_mode)
        return
    for i, item in enumerate(items):
        key = item.get("key")
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"{where}.items[{i}]", f"key {key!r} not found")
        _write_file(dest, safe_relative(item.get("path"), where=f"{where}.items[{i}].path"), data[key],
                    _mode(item.get("mode"), default_mode, f"{where}.items[{i}].mode"))


def _write_downward(pod: Object, source: Object, dest: Path, where: str, default_mode: int) -> None:
    for i, item in enumerate(source.get("items") or ()):
        ref = (item.get("fieldRef") or {}).get("fieldPath")
        if not ref:
            raise VolumeError(f"{where}.items[{i}]", "only fieldRef items are supported")
        value = field_value(pod, str(ref), where=f"{where}.items[{i}].fieldRef")
        _write_file(dest, safe_relative(item.get("path"), where=f"{where}.items[{i}].path"), value.encode(),
                    _mode(item.get("mode"), default_mode, f"{where}.items[{i}].mode"))


def _host_path(source: Object, where: str) -> Path:
    path = source.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise VolumeError(where, f"hostPath.path must be absolute, got {path!r}")
    kind = source.get("type") or ""
    p = Path(path)
    if kind in ("", "DirectoryOrCreate"):
        if not p.exists():
            p.mkdir(parents=True, mode=0o755)
    elif kind == "FileOrCreate":
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch(mode=0o644)
    elif kind == "Directory" and not p.is_dir():
        raise VolumeError(where, f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not p.is_file():
        raise VolumeError(where, f"hostPath type check failed: {path} is not a file")
    elif kind not in ("Directory", "File", "Socket", "CharDevice", "BlockDevice"):
        raise VolumeError(where, f"unknown hostPath type {kind!r}")
    elif not p.exists():
        raise VolumeError(where, f"hostPath type check failed: {path} does not exist")
    return p


async def materialize_volumes(api: base.Api, pod: Object, /, *, pod_dir: Path, pvc_root: Path) -> dict[str, Path]:
    """Create every volume of `pod`; returns volume name -> host path."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    out: dict[str, Path] = {}
    for i, vol in enumerate((pod.get("spec") or {}).get("volumes") or ()):
        name = vol.get("name")
        where = f"pod {namespace}/{meta.get('name')} volume {name or i}"
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise VolumeError(where, f"bad volume name {name!r}")
        own = pod_dir / "volumes" / name
        if "emptyDir" in vol:
            own.mkdir(parents=True, exist_ok=True)
            own.chmod(0o777)  # kubelet's emptyDir mode: any container user may write
            out[name] = own
        elif "hostPath" in vol:
            out[name] = _host_path(vol["hostPath"] or {}, where)
        elif "persistentVolumeClaim" in vol:
            claim = safe_relative((vol["persistentVolumeClaim"] or {}).get("claimName"), where=f"{where} claimName")
            if len(claim.parts) != 1:
                raise VolumeError(where, f"bad claimName {str(claim)!r}")
            target = pvc_root / namespace / str(claim)
            target.mkdir(parents=True, exist_ok=True)
            out[name] = target
        elif "configMap" in vol or "secret" in vol:
            kind = "configMap" if "configMap" in vol else "secret"
            source = vol[kind] or {}
            own.mkdir(parents=True, exist_ok=True)
            await _write_keyed(api, kind, source, namespace, own, f"{where}.{kind}",
                               _mode(source.get("defaultMode"), _DEFAULT_MODE, f"{where}.{kind}.defaultMode"))
            out[name] = own
        elif "downwardAPI" in vol:
            source = vol["downwardAPI"] or {}
            own.mkdir(parents=True, exist_ok=True)
            _write_downward(pod, source, own, f"{where}.downwardAPI",
                            _mode(source.get("defaultMode"), _DEFAULT_MODE, f"{where}.downwardAPI.defaultMode"))
            out[name] = own
        elif "projected" in vol:
            source = vol["projected"] or {}
            mode = _mode(source.get("defaultMode"), _DEFAULT_MODE, f"{where}.projected.defaultMode")
            own.mkdir(parents=True, exist_ok=True)
            for j, part in enumerate(source.get("sources") or ()):
                at = f"{where}.projected.sources[{j}]"
                if "configMap" in part or "secret" in part:
                    kind = "configMap" if "configMap" in part else "secret"
                    await _write_keyed(api, kind, part[kind] or {}, namespace, own, f"{at}.{kind}", mode)
                elif "downwardAPI" in part:
                    _write_downward(pod, part["downwardAPI"] or {}, own, f"{at}.downwardAPI", mode)
                else:
                    raise VolumeError(at, f"projected source {sorted(part)} is not supported by the node agent")
            out[name] = own
        else:
            kinds = sorted(k for k in vol if k != "name")
            raise VolumeError(where, f"volume source {kinds} is not supported by the node agent")
    return out
