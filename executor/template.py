"""Reading the template the controller hands to the pod, and the questions the executor asks of it.

The template is the fully substituted Argo template as JSON (`ARGO_TEMPLATE`, written by `init` to
`/var/run/argo/template`, or offloaded to `/argo/config/ARGO_TEMPLATE` when it exceeds 128 KiB).
The executor treats it as plain decoded JSON and checks only the fields it uses, naming the path
of any bad field.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ._errors import TemplateError
from .paths import ExecutorPaths, clean_container_path

__all__ = ["OFFLOADED", "decode_template", "main_container_names", "on_volume_mount", "read_template"]

OFFLOADED = "offloaded"
_decoder = msgspec.json.Decoder()


def decode_template(data: bytes | str, /, *, source: str = "ARGO_TEMPLATE") -> dict[str, Any]:
    try:
        tmpl = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise TemplateError("$", f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(tmpl, dict):
        raise TemplateError("$", f"{source} must be a JSON object, got {type(tmpl).__name__}")
    return tmpl


def read_template(paths: ExecutorPaths, env: Mapping[str, str], /) -> dict[str, Any]:
    """Argo's lookup order: <var_run>/template, then ARGO_TEMPLATE (or its offloaded file)."""
    f = paths.template_file()
    if f.exists():
        return decode_template(f.read_bytes(), source=str(f))
    raw = env.get("ARGO_TEMPLATE", "")
    if raw == OFFLOADED:
        off = Path(paths.config, "ARGO_TEMPLATE")
        try:
            return decode_template(off.read_bytes(), source=str(off))
        except FileNotFoundError as exc:
            raise TemplateError("$", f"ARGO_TEMPLATE is offloaded but {off} is missing") from exc
    if not raw:
        raise TemplateError("$", f"no template: {f} is missing and ARGO_TEMPLATE is empty")
    return decode_template(raw)


def main_container_names(template: Mapping[str, Any], /) -> list[str]:
    """`main`, or every container of a containerSet."""
    cs = template.get("containerSet")
    if not cs:
        return ["main"]
    names = []
    for i, c in enumerate(cs.get("containers") or ()):
        name = c.get("name") if isinstance(c, Mapping) else None
        if not isinstance(name, str) or not name:
            raise TemplateError(f"$.containerSet.containers[{i}].name", "container name is required")
        names.append(name)
    return names


def _mounts(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    mounts: list[Mapping[str, Any]] = []
    for holder in ("container", "script", "containerSet"):
        mounts += (template.get(holder) or {}).get("volumeMounts") or []
    for c in (template.get("containerSet") or {}).get("containers") or ():
        if c.get("name") == "main":
            mounts += c.get("volumeMounts") or []
    return mounts


def on_volume_mount(template: Mapping[str, Any], path: str, /, *, where: str = "path") -> bool:
    """True when `path` lies on one of main's volume mounts (read through /mainctrfs then)."""
    p = clean_container_path(path, where=where)
    for m in _mounts(template):
        mp = m.get("mountPath")
        if isinstance(mp, str) and mp.startswith("/"):
            mount = clean_container_path(mp, where="volumeMounts.mountPath")
            if p == mount or mount in p.parents:
                return True
    return False
