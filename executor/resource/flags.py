"""`resource.flags`: the kubectl arguments Argo appends to its `kubectl <action>` command line.

Argo passes them verbatim to kubectl, so users write kubectl: positional `TYPE NAME...` or
`TYPE/NAME` targets (`flags: [pod, "{{pod.name}}"]`), and options. The ones that matter for
workflows are understood; any other is refused naming the flag, rather than silently ignored:

| flag | actions | meaning |
|---|---|---|
| `-n`, `--namespace` | all | namespace of the targets (kubectl: must agree with the manifest's) |
| `-l`, `--selector` | get, delete | label selector instead of names (delete only: get must name one object) |
| `--all` | delete | every object of the type in the namespace |
| `--ignore-not-found` | get, delete | a missing object is no error (Argo always sets it for delete) |
| `--wait` | delete | wait until the objects are gone (kubectl's default: true) |
| `--cascade` | delete | `background` (default, also `true`), `foreground`, `orphan` (also `false`) |
| `--grace-period`, `--now` | delete | grace period in seconds (`--now` = 1) |
| `--validate` | create, apply, replace, patch | accepted: no client-side schema validation happens here anyway |
| `--save-config` | create, replace, patch | record the manifest in `kubectl.kubernetes.io/last-applied-configuration` |

Options take `--flag=value` or `--flag value` (booleans also bare `--flag`).
"""
from __future__ import annotations

from collections.abc import Sequence

import msgspec

from .errors import ResourceError

__all__ = ["Flags", "parse_flags"]

_ALL = frozenset({"get", "create", "apply", "delete", "replace", "patch"})
_WRITE = frozenset({"create", "apply", "replace", "patch"})
# name -> (kind, actions); kind: "bool", "str", "int"
_SPEC: dict[str, tuple[str, frozenset[str]]] = {
    "namespace": ("str", _ALL),
    "selector": ("str", frozenset({"get", "delete"})),
    "all": ("bool", frozenset({"delete"})),
    "ignore-not-found": ("bool", frozenset({"get", "delete"})),
    "wait": ("bool", frozenset({"delete"})),
    "cascade": ("str", frozenset({"delete"})),
    "grace-period": ("int", frozenset({"delete"})),
    "now": ("bool", frozenset({"delete"})),
    "validate": ("str", _WRITE),
    "save-config": ("bool", frozenset({"create", "replace", "patch"})),
}
_SHORT = {"n": "namespace", "l": "selector"}
_CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground",
            "orphan": "Orphan", "false": "Orphan"}


class Flags(msgspec.Struct, frozen=True, kw_only=True):
    args: tuple[str, ...] = ()          # positional: TYPE NAME... or TYPE/NAME...
    namespace: str | None = None
    selector: str | None = None
    all: bool = False
    ignore_not_found: bool = False
    wait: bool = True
    propagation: str | None = None      # Background | Foreground | Orphan
    grace_period: int | None = None
    save_config: bool = False


def _bool(value: str, where: str, flag: str) -> bool:
    low = value.lower()
    if low in ("true", "1", "t"):
        return True
    if low in ("false", "0", "f"):
        return False
    raise ResourceError(where, f"flag {flag} takes true or false, got {value!r}")


def parse_flags(flags: Sequence[str], action: str, /, *, where: str = "$.resource.flags") -> Flags:
    """The flags of `action`; ResourceError names the flag and its index."""
    if flags is None:
        flags = ()
    if isinstance(flags, str) or not isinstance(flags, Sequence):
        raise ResourceError(where, f"expected a list of strings, got {type(flags).__name__}")
    out: dict[str, object] = {}
    args: list[str] = []
    items = list(flags)
    i = 0
    while i < len(items):
        raw, here = items[i], f"{where}[{i}]"
        i += 1
        if not isinstance(raw, str):
            raise ResourceError(here, f"expected a string, got {type(raw).__name__}")
        if not raw.startswith("-") or raw == "-":
            args.append(raw)
            continue
        if raw.startswith("--"):
            name, eq, value = raw[2:].partition("=")
        else:
            name, eq, value = raw[1:2], "", raw[2:]
            if value.startswith("="):
                eq, value = "=", value[1:]
            elif value:
                eq = "="  # `-nfoo`
            if name not in _SHORT:
                raise ResourceError(here, f"flag {raw!r} is not supported by tiphys' resource templates")
            name = _SHORT[name]
        spec = _SPEC.get(name)
        if spec is None:
            raise ResourceError(here, f"flag {raw!r} is not supported by tiphys' resource templates "
                                      f"(supported: {', '.join('--' + k for k in sorted(_SPEC))}, -n, -l)")
        kind, actions = spec
        if action not in actions:
            raise ResourceError(here, f"flag --{name} does not apply to action {action!r}")
        if kind == "bool":
            out[name] = _bool(value, here, f"--{name}") if eq else True
            continue
        if not eq:
            if i >= len(items) or not isinstance(items[i], str):
                raise ResourceError(here, f"flag --{name} needs a value")
            value = items[i]
            i += 1
        if kind == "int":
            try:
                out[name] = int(value)
            except ValueError:
                raise ResourceError(here, f"flag --{name} takes an integer, got {value!r}") from None
        else:
            out[name] = value
    propagation = None
    if "cascade" in out:
        propagation = _CASCADE.get(str(out["cascade"]).lower())
        if propagation is None:
            raise ResourceError(where, f"--cascade must be background, foreground or orphan, got {out['cascade']!r}")
    grace = out.get("grace-period")
    if out.get("now"):
        grace = 1
    return Flags(args=tuple(args), namespace=out.get("namespace"), selector=out.get("selector"),  # type: ignore[arg-type]
                 all=bool(out.get("all")), ignore_not_found=bool(out.get("ignore-not-found")),
                 wait=bool(out.get("wait", True)), propagation=propagation, grace_period=grace,  # type: ignore[arg-type]
                 save_config=bool(out.get("save-config")))
