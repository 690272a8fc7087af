"""The six actions of a resource template, as `kubectl <action>` performs them for Argo.

Argo runs `kubectl <action> [--type <mergeStrategy> -p <manifest>] <flags> -f <manifest> -o json`
(delete: `--ignore-not-found -o name`). Here the same happens over `client.KubeClient`:

* `create` -- POST the manifest (`metadata.generateName` works);
* `get` -- read the manifest's object (or `TYPE NAME` from the flags);
* `apply` -- kubectl's client-side apply: create with the manifest recorded in the
  `last-applied-configuration` annotation, or patch the live object with the three-way merge of
  (last applied, manifest, live): fields dropped from the manifest since the last apply are
  removed. Sent as a JSON merge patch, so lists are replaced whole (for built-in kinds kubectl
  would merge lists with merge keys by key: a documented approximation);
* `replace` -- PUT the manifest with the live `resourceVersion` (kubectl's `--force=false` path);
* `patch` -- the manifest is the patch; the target is `TYPE NAME` from the flags, else the
  manifest's own kind and name. `mergeStrategy` strategic (default), merge or json;
* `delete` -- the manifest's object or the flags' targets (names, `-l`, `--all`), missing ones
  ignored, and (kubectl's default `--wait`) waited for until gone.

Each action returns the object it acted on (None for delete, or a get that found nothing under
`--ignore-not-found`), which the waiting and the outputs then read again by kind and name.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import yaml

from ..kube.client import KubeClient, PatchKind
from ..kube.errors import KubeError, KubeNotFound
from ..kube.kinds import KindInfo, UnknownKind
from .errors import ResourceError
from .flags import Flags

__all__ = ["ACTIONS", "LAST_APPLIED", "Target", "execute", "load_manifest", "three_way_patch"]

ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
Sleep = Callable[[float], Awaitable[Any]]
_MANIFEST = "$.resource.manifest"


class Target(msgspec.Struct, frozen=True):
    """What the action left: the object's kind, namespace and name (and the object itself)."""

    kind: KindInfo
    name: str
    namespace: str | None
    obj: dict[str, Any]

    @property
    def qualified(self) -> str:
        return self.kind.qualified(self.name)


def load_manifest(text: str, /, *, where: str = _MANIFEST) -> Any:
    """The manifest as data: one YAML (or JSON) document; None when empty."""
    if text is None or not str(text).strip():
        return None
    try:
        docs = [d for d in yaml.safe_load_all(str(text)) if d is not None]
    except yaml.YAMLError as exc:
        raise ResourceError(where, f"the manifest is not YAML: {exc}") from None
    if len(docs) > 1:
        raise ResourceError(where, f"the manifest holds {len(docs)} documents; a resource template acts on one")
    return docs[0] if docs else None


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ResourceError(where, f"the manifest must be an object (mapping), got {type(data).__name__}")
    missing = [k for k in ("apiVersion", "kind") if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise ResourceError(where, f"error validating data: {', '.join(k + ' not set' for k in missing)}")
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise ResourceError(f"{where}.metadata", "metadata must be a mapping")
    return data


def _name(obj: dict[str, Any], where: str, *, generate: bool = False) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if isinstance(name, str) and name:
        return name
    if generate and isinstance(meta.get("generateName"), str) and meta["generateName"]:
        return ""
    raise ResourceError(f"{where}.metadata.name", "resource name may not be empty"
                        + (" (set metadata.name or metadata.generateName)" if generate else ""))


async def _kind_of(client: KubeClient, obj: dict[str, Any], where: str) -> KindInfo:
    try:
        return await client.kind_for_manifest(obj["apiVersion"], obj["kind"])
    except UnknownKind as exc:
        name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName") or ""
        raise ResourceError(f"{where}.kind", f'resource mapping not found for name: "{name}": {exc}; '
                                             "ensure CRDs are installed first") from None


def _namespace(kind: KindInfo, obj: dict[str, Any] | None, flags: Flags, default: str, where: str) -> str | None:
    if not kind.namespaced:
        return None
    own = ((obj or {}).get("metadata") or {}).get("namespace")
    if own and flags.namespace and own != flags.namespace:
        raise ResourceError(f"{where}.metadata.namespace",
                            f'the namespace from the provided object "{own}" does not match the namespace '
                            f'"{flags.namespace}". You must pass \'--namespace={own}\' to perform this operation.')
    return str(own or flags.namespace or default)


async def _targets(client: KubeClient, flags: Flags, default_ns: str, where: str) -> list[tuple[KindInfo, str]]:
    """`TYPE NAME...` or `TYPE/NAME...` from the positional flags."""
    out: list[tuple[KindInfo, str]] = []
    args = list(flags.args)
    if not args:
        return out

    async def kind(text: str) -> KindInfo:
        try:
            return await client.kind_for_argument(text)
        except UnknownKind as exc:
            raise ResourceError(where, str(exc)) from None

    if all("/" in a for a in args):
        for a in args:
            t, _, n = a.partition("/")
            if not n:
                raise ResourceError(where, f"arguments in resource/name form must have a single resource and name: {a!r}")
            out.append((await kind(t), n))
        return out
    if any("/" in a for a in args):
        raise ResourceError(where, "there is no need to specify a resource type as a separate argument when "
                                   "passing arguments in resource/name form")
    info = await kind(args[0])
    out += [(info, n) for n in args[1:]]
    if not args[1:]:
        out.append((info, ""))  # type only: a selector or --all picks the objects
    return out


async def execute(action: str, manifest: Any, flags: Flags, client: KubeClient, /, *, namespace: str,
                  merge_strategy: str = "strategic", sleep: Sleep = asyncio.sleep,
                  poll_interval: float = 1.0, log: Callable[[str], Any] = print) -> Target | None:
    """Run `action`; `manifest` is the loaded manifest (None if empty), `namespace` the pod's."""
    if action not in ACTIONS:
        raise ResourceError("$.resource.action", f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if manifest is None and not flags.args:
        raise ResourceError(_MANIFEST, "Must provide at least one of flags or manifest.")
    if action == "patch":
        return await _patch(manifest, flags, client, namespace, merge_strategy, log)
    if action == "delete":
        await _delete(manifest, flags, client, namespace, sleep, poll_interval, log)
        return None
    if flags.args:
        if action != "get":
            raise ResourceError("$.resource.flags", f"{action} takes its object from the manifest, not from TYPE/NAME arguments")
        if manifest is not None:
            raise ResourceError("$.resource.flags", "give the object either in the manifest or as TYPE NAME flags, not both")
        targets = await _targets(client, flags, namespace, "$.resource.flags")
        if len(targets) != 1 or not targets[0][1]:
            raise ResourceError("$.resource.flags", "get needs exactly one TYPE NAME (a selector would match a list)")
        info, name = targets[0]
        ns = _namespace(info, None, flags, namespace, "$.resource.flags")
        return await _get(client, info, name, ns, flags.ignore_not_found)
    obj = _object(manifest, _MANIFEST)
    info = await _kind_of(client, obj, _MANIFEST)
    ns = _namespace(info, obj, flags, namespace, _MANIFEST)
    body = json.loads(json.dumps(obj))  # a private deep copy, JSON-shaped
    if ns is not None:
        body.setdefault("metadata", {})["namespace"] = ns
    if action == "get":
        return await _get(client, info, _name(obj, _MANIFEST), ns, flags.ignore_not_found)
    if action == "create":
        _name(obj, _MANIFEST, generate=True)
        if flags.save_config:
            _record(body, obj)
        created = await client.create(info, body, namespace=ns)
        log(f"{info.qualified(created['metadata']['name'])} created")
        return Target(info, created["metadata"]["name"], ns, created)
    name = _name(obj, _MANIFEST)
    if action == "replace":
        live = await client.get(info, name, namespace=ns)
        body["metadata"].setdefault("resourceVersion", live["metadata"].get("resourceVersion"))
        if flags.save_config:
            _record(body, obj)
        done = await client.update(info, body, namespace=ns)
        log(f"{info.qualified(name)} replaced")
        return Target(info, name, ns, done)
    return await _apply(client, info, name, ns, obj, body, log)


async def _get(client: KubeClient, info: KindInfo, name: str, ns: str | None, ignore: bool) -> Target | None:
    try:
        return Target(info, name, ns, await client.get(info, name, namespace=ns))
    except KubeNotFound:
        if ignore:
            return None
        raise


def _record(body: dict[str, Any], manifest: dict[str, Any]) -> None:
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {}) or {}
    body["metadata"]["annotations"] = annotations
    clean = json.loads(json.dumps(manifest))
    ((clean.get("metadata") or {}).get("annotations") or {}).pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = json.dumps(clean, separators=(",", ":"), sort_keys=True) + "\n"


def three_way_patch(original: Any, modified: Any, current: Any, /) -> dict[str, Any]:
    """A JSON merge patch taking `current` to `modified`, deleting what `original` had and
    `modified` dropped (kubectl apply's three-way merge, lists replaced whole)."""
    patch: dict[str, Any] = {}
    original = original if isinstance(original, dict) else {}
    current = current if isinstance(current, dict) else {}
    for key, value in modified.items():
        cur = current.get(key)
        if isinstance(value, dict) and isinstance(cur, dict):
            sub = three_way_patch(original.get(key), value, cur)
            if sub:
                patch[key] = sub
        elif key not in current or cur != value:
            patch[key] = value
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    return patch


async def _apply(client: KubeClient, info: KindInfo, name: str, ns: str | None, manifest: dict[str, Any],
                 body: dict[str, Any], log: Callable[[str], Any]) -> Target:
    _record(body, manifest)
    try:
        live = await client.get(info, name, namespace=ns)
    except KubeNotFound:
        created = await client.create(info, body, namespace=ns)
        log(f"{info.qualified(name)} created")
        return Target(info, name, ns, created)
    last = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        original = json.loads(last) if last else {}
    except ValueError:
        original = {}  # kubectl also starts over from an unreadable annotation
    patch = three_way_patch(original, body, live)
    patched = await client.patch(info, name, patch, namespace=ns, patch_kind=PatchKind.MERGE) if patch else live
    log(f"{info.qualified(name)} {'configured' if patch else 'unchanged'}")
    return Target(info, name, ns, patched)


async def _patch(manifest: Any, flags: Flags, client: KubeClient, namespace: str, strategy: str,
                 log: Callable[[str], Any]) -> Target:
    try:
        kind = PatchKind(strategy or "strategic")
    except ValueError:
        raise ResourceError("$.resource.mergeStrategy",
                            f"mergeStrategy must be strategic, merge or json, got {strategy!r}") from None
    if manifest is None:
        raise ResourceError(_MANIFEST, "patch needs the patch as the manifest")
    if kind is PatchKind.JSON:
        if not isinstance(manifest, list) or not all(isinstance(op, dict) for op in manifest):
            raise ResourceError(_MANIFEST, "a json patch (mergeStrategy: json) must be a list of operations")
    elif not isinstance(manifest, dict):
        raise ResourceError(_MANIFEST, f"a {kind} patch must be an object (mapping), got {type(manifest).__name__}")
    if flags.args:
        targets = await _targets(client, flags, namespace, "$.resource.flags")
        if len(targets) != 1 or not targets[0][1]:
            raise ResourceError("$.resource.flags", "patch needs exactly one TYPE NAME (or TYPE/NAME) to patch")
        info, name = targets[0]
        ns = _namespace(info, None, flags, namespace, "$.resource.flags")
    else:
        if kind is PatchKind.JSON:
            raise ResourceError("$.resource.flags", "a json patch needs the object to patch as TYPE NAME flags")
        obj = _object(manifest, _MANIFEST)
        info = await _kind_of(client, obj, _MANIFEST)
        name = _name(obj, _MANIFEST)
        ns = _namespace(info, obj, flags, namespace, _MANIFEST)
    body: Any = json.loads(json.dumps(manifest))
    if flags.save_config and isinstance(body, dict):
        _record(body, manifest)
    patched = await client.patch(info, name, body, namespace=ns, patch_kind=kind)
    log(f"{info.qualified(name)} patched")
    return Target(info, name, ns, patched)


async def _delete(manifest: Any, flags: Flags, client: KubeClient, namespace: str, sleep: Sleep,
                  poll_interval: float, log: Callable[[str], Any]) -> None:
    victims: list[tuple[KindInfo, str, str | None]] = []
    if flags.args:
        if manifest is not None:
            raise ResourceError("$.resource.flags", "give the objects either in the manifest or as flags, not both")
        for info, name in await _targets(client, flags, namespace, "$.resource.flags"):
            ns = _namespace(info, None, flags, namespace, "$.resource.flags")
            if name:
                if flags.selector:
                    raise ResourceError("$.resource.flags", "name cannot be provided when a selector is specified")
                victims.append((info, name, ns))
            elif flags.selector is not None or flags.all:
                for item in await client.list(info, namespace=ns, label_selector=flags.selector or None):
                    victims.append((info, item["metadata"]["name"], ns))
            else:
                raise ResourceError("$.resource.flags", "resource(s) were provided, but no name was specified "
                                                        "(give a name, --selector or --all)")
    else:
        obj = _object(manifest, _MANIFEST)
        info = await _kind_of(client, obj, _MANIFEST)
        victims.append((info, _name(obj, _MANIFEST), _namespace(info, obj, flags, namespace, _MANIFEST)))
    uids: list[tuple[KindInfo, str, str | None, str]] = []
    for info, name, ns in victims:
        try:
            live = await client.get(info, name, namespace=ns)
            await client.delete(info, name, namespace=ns, propagation=flags.propagation,
                                grace_period=flags.grace_period)
        except KubeNotFound:
            continue  # Argo always passes --ignore-not-found to delete
        uids.append((info, name, ns, str((live.get("metadata") or {}).get("uid") or "")))
        log(f"{info.qualified(name)} deleted")
    if not flags.wait:
        return
    for info, name, ns, uid in uids:
        while True:  # kubectl delete --wait: until gone (or replaced by a new object of that name)
            try:
                live = await client.get(info, name, namespace=ns)
            except KubeNotFound:
                break
            except KubeError as exc:
                if not exc.transient:
                    raise
            else:
                if uid and (live.get("metadata") or {}).get("uid") != uid:
                    break
            await sleep(poll_interval)
