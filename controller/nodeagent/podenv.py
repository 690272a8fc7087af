"""A container's environment, built the way the kubelet builds it (`kubelet_pods.go: makeEnvironmentVariables`).

Order and precedence: the host's `PATH` (after the image's tool directories) and `HOME`
(standing in for the image's ENV), the image map's extra variables, `HOSTNAME` = pod name, then
`envFrom` sources in order (ConfigMap/Secret, with `prefix`; keys that are not valid names are
skipped, as the kubelet does), then `env` in order. An `env` value may reference earlier
variables as `$(NAME)` (`$$` escapes); `valueFrom` supports `fieldRef` (the downward API),
`configMapKeyRef`, `secretKeyRef` and `resourceFieldRef` (the container's limit or request, else
the node's capacity as the kubelet reports it, here the host's CPU count and memory). A missing non-optional source is a `ContainerConfigError`,
which is what the kubelet reports as `CreateContainerConfigError`.
"""
from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound

from .errors import ContainerConfigError, VolumeError
from .sandbox import expand_vars
from .volumes import field_value

__all__ = ["container_env", "SourceCache", "parse_quantity"]

Object = dict[str, Any]
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(text: Any, /, *, where: str) -> float:
    m = _QUANTITY.match(str(text).strip())
    if not m:
        raise ContainerConfigError(where, f"not a resource quantity: {text!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


class SourceCache:
    """ConfigMaps and Secrets read once per pod start (kubelet caches them too)."""

    def __init__(self, api: base.Api, namespace: str) -> None:
        self._api, self._namespace = api, namespace
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def data(self, kind: str, name: str, /, *, where: str) -> dict[str, str] | None:
        """key -> text of ConfigMap/Secret `name`; None if it does not exist."""
        key = (kind, name)
        if key not in self._cache:
            resource = base.CONFIG_MAPS if kind == "configMap" else base.SECRETS
            try:
                obj = await self._api.get(resource, name, namespace=self._namespace)
            except NotFound:
                self._cache[key] = None
            else:
                out = {k: str(v) for k, v in (obj.get("data") or {}).items()} if kind == "configMap" else {}
                if kind == "secret":
                    for k, v in (obj.get("data") or {}).items():
                        try:
                            out[k] = base64.b64decode(str(v), validate=True).decode()
                        except (binascii.Error, ValueError) as exc:
                            raise ContainerConfigError(where, f"secret {name} key {k} is not valid base64: {exc}") from None
                    out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
                self._cache[key] = out
        return self._cache[key]


async def _key_ref(cache: SourceCache, kind: str, ref: Mapping[str, Any], where: str) -> str | None:
    name, key = ref.get("name"), ref.get("key")
    if not name or not key:
        raise ContainerConfigError(where, "needs a name and a key")
    data = await cache.data(kind, str(name), where=where)
    label = "configmap" if kind == "configMap" else "secret"
    if data is None:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(where, f'{label} "{name}" not found')
    if key not in data:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(where, f'couldn\'t find key {key} in {label} "{name}"')
    return data[key]


def _resource_field(container: Mapping[str, Any], ref: Mapping[str, Any], where: str) -> str:
    resource = str(ref.get("resource") or "")
    section, _, kind = resource.partition(".")
    if section not in ("limits", "requests") or kind not in ("cpu", "memory", "ephemeral-storage"):
        raise ContainerConfigError(where, f"unsupported resourceFieldRef.resource {resource!r}")
    resources = container.get("resources") or {}
    value = (resources.get(section) or {}).get(kind) or (resources.get("limits") or {}).get(kind)
    divisor = parse_quantity(ref.get("divisor") or "1", where=f"{where}.divisor")
    if divisor <= 0:
        raise ContainerConfigError(f"{where}.divisor", "must be positive")
    if value is not None:
        amount = parse_quantity(value, where=f"{where} ({resource})")
    elif kind == "cpu":
        amount = float(os.cpu_count() or 1)
    elif kind == "memory":
        amount = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    else:
        st = os.statvfs("/")
        amount = float(st.f_blocks * st.f_frsize)
    return str(max(1, math.ceil(amount / divisor)))  # the kubelet rounds up, never below 1


async def container_env(pod: Object, container: Mapping[str, Any], /, *, cache: SourceCache,
                        image_env: Mapping[str, str], where: str, image_path: Sequence[str] = ()) -> dict[str, str]:
    """The complete environment of `container` in `pod`."""
    host_path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env: dict[str, str] = {"PATH": ":".join([*image_path, host_path]), "HOME": os.environ.get("HOME", "/root")}
    env.update(image_env)
    env["HOSTNAME"] = str((pod.get("metadata") or {}).get("name") or "")
    for i, source in enumerate(container.get("envFrom") or ()):
        at = f"{where}.envFrom[{i}]"
        kind = "configMap" if "configMapRef" in source else "secret" if "secretRef" in source else None
        if kind is None:
            raise ContainerConfigError(at, "expected configMapRef or secretRef")
        ref = source.get(f"{kind}Ref") or {}
        data = await cache.data(kind, str(ref.get("name") or ""), where=at)
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(at, f'{"configmap" if kind == "configMap" else "secret"} "{ref.get("name")}" not found')
        prefix = str(source.get("prefix") or "")
        for key, value in data.items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = value
    for i, item in enumerate(container.get("env") or ()):
        at = f"{where}.env[{i}]"
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ContainerConfigError(at, "env var needs a name")
        vf = item.get("valueFrom")
        if vf is None:
            env[name] = expand_vars(str(item.get("value") or ""), env)
            continue
        if "fieldRef" in vf:
            try:
                env[name] = field_value(pod, str((vf["fieldRef"] or {}).get("fieldPath") or ""), where=f"{at}.fieldRef")
            except VolumeError as exc:
                raise ContainerConfigError(exc.where, exc.message) from None
        elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
            kind = "configMap" if "configMapKeyRef" in vf else "secret"
            value = await _key_ref(cache, kind, vf[f"{kind}KeyRef"] or {}, f"{at}.valueFrom.{kind}KeyRef")
            if value is not None:
                env[name] = value
        elif "resourceFieldRef" in vf:
            env[name] = _resource_field(container, vf["resourceFieldRef"] or {}, f"{at}.valueFrom.resourceFieldRef")
        else:
            raise ContainerConfigError(at, f"unsupported valueFrom {sorted(vf)}")
    return env
