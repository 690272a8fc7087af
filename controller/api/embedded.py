"""The embedded API: an in-process store with Kubernetes' semantics, optionally on SQLite.

Not an HTTP imitation: a dict per resource, a global monotonic resourceVersion, and the rules the
apiserver applies to bodies (`_objects`), watch history and fan-out (`_watch`), and write-through
persistence (`sqlite`). Everything runs on one event loop and no method suspends between reading
and writing the store, so each write is atomic and writes are totally ordered by resourceVersion.

Invariants:
* `_objects[rkey][(ns, name)].raw` is the encoded object whose `metadata.resourceVersion` is the
  rv of its last write; `.obj` is the same object decoded, private (never handed out).
* `_by_uid` maps every live uid to its (rkey, ns, name); `_dependents` maps an owner uid to the
  (rkey, ns, name) of every live object naming it in `ownerReferences`.
* every write goes persistence → memory → history → watchers, in that order.

Deletion, finalizers and the ownerReference garbage collector live in `_gc` (a mixin): they
run synchronously inside the delete that triggers them, where a real cluster's
kube-controller-manager does it moments later.

Deviations from a real apiserver, on purpose: no namespace objects are required to exist, no
admission, no managedFields, no strategic merge patch (415), no list pagination; a list always
reads the latest state whatever resourceVersion is asked; a watch from a resourceVersion ahead of
the store fails at once with ServerTimeout (a real server blocks until it gets there).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from ..clock import Clock, RealClock
from . import _objects
from ._gc import GarbageCollector
from ._watch import EmbeddedWatchStream, Event, History, Watcher, selector_view
from .base import (Api, EventType, ListResult, PatchType, Preconditions, Propagation, Resource,
                   WatchStream)
from .errors import (AlreadyExists, ApiError, BadRequest, Conflict, Gone, Invalid, NotFound, ServerTimeout,
                     StatusCause, UnsupportedMediaType)
from .patch import apply_json_patch, apply_merge_patch
from .selectors import FieldSelector, parse_field_selector, parse_label_selector
from .sqlite import SqlitePersistence

__all__ = ["EmbeddedApi"]

Object = dict[str, Any]
_encode = msgspec.json.encode
_decode = msgspec.json.decode
_Ref = tuple[str, str, str]  # (resource key, namespace, name)


class _Entry:
    __slots__ = ("obj", "raw")

    def __init__(self, obj: Object, raw: bytes) -> None:
        self.obj, self.raw = obj, raw


class EmbeddedApi(GarbageCollector, Api):
    """In-process `Api`. `path` persists every write to that SQLite file and reloads it on start."""

    def __init__(self, *, path: str | Path | None = None, clock: Clock | None = None,
                 history_size: int = 10_000, watch_buffer: int = 10_000,
                 bookmark_interval: float = 60.0, durable: bool = False) -> None:
        if history_size < 1 or watch_buffer < 1:
            raise ValueError("EmbeddedApi: history_size and watch_buffer must be at least 1")
        self._clock = clock if clock is not None else RealClock()
        self._history_size, self._watch_buffer = history_size, watch_buffer
        self._bookmark_interval = bookmark_interval
        self._objects: dict[str, dict[tuple[str, str], _Entry]] = {}
        self._resources: dict[str, Resource] = {}
        self._histories: dict[str, History] = {}
        self._watchers: dict[str, set[Watcher]] = {}
        self._by_uid: dict[str, _Ref] = {}
        self._dependents: dict[str, set[_Ref]] = {}
        self._rv = 0
        self._compacted = 0  # history before this rv is gone for every resource
        self._persistence = SqlitePersistence(path, durable=durable) if path is not None else None
        if self._persistence is not None:
            self._reload()

    # -- bookkeeping -----------------------------------------------------------------------

    def _reload(self) -> None:
        assert self._persistence is not None
        snapshot = self._persistence.load()
        self._resources.update(snapshot.resources)
        for rkey, ns, name, raw in snapshot.rows:
            obj = _decode(raw)
            self._objects.setdefault(rkey, {})[(ns, name)] = _Entry(obj, raw)
            self._index_add((rkey, ns, name), obj)
        # Watch history does not survive a restart: older resourceVersions are Gone, so
        # informers relist once, as after an apiserver restart.
        self._rv = self._compacted = snapshot.resource_version

    @property
    def resource_version(self) -> str:
        """The store's current resourceVersion (of its last write)."""
        return str(self._rv)

    def compact(self, resource_version: str | None = None) -> None:
        """Forget watch history up to `resource_version` (default: now), as etcd compaction does."""
        rv = self._rv if resource_version is None else int(resource_version)
        self._compacted = max(self._compacted, rv)
        for history in self._histories.values():
            history.compact(rv)

    def _history(self, rkey: str) -> History:
        history = self._histories.get(rkey)
        if history is None:
            history = self._histories[rkey] = History(self._history_size, self._compacted)
        return history

    def _index_add(self, ref: _Ref, obj: Object) -> None:
        self._by_uid[obj["metadata"]["uid"]] = ref
        for uid in _objects.owner_uids(obj):
            self._dependents.setdefault(uid, set()).add(ref)

    def _index_remove(self, ref: _Ref, obj: Object) -> None:
        self._by_uid.pop(obj["metadata"]["uid"], None)
        for uid in _objects.owner_uids(obj):
            refs = self._dependents.get(uid)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del self._dependents[uid]

    def _commit(self, resource: Resource, kind: EventType, ns: str, name: str, new: Object,
                old: Object | None) -> Object:
        """Stamp the next rv on `new` and publish the write. Returns a caller-owned copy."""
        rkey = resource.key
        rv = self._rv + 1
        new["metadata"]["resourceVersion"] = str(rv)
        raw = _encode(new)
        event_raw = raw
        if kind is EventType.DELETED and old is not None:
            # Watchers get the last stored state (not the caller's final edit), stamped with this rv.
            event_raw = _encode(dict(old, metadata=dict(old["metadata"], resourceVersion=str(rv))))
        if self._persistence is not None:
            if kind is EventType.DELETED:
                self._persistence.remove(resource, ns, name, rv)
            else:
                self._persistence.put(resource, ns, name, rv, raw)
        self._rv = rv
        self._resources.setdefault(rkey, resource)
        table = self._objects.setdefault(rkey, {})
        prev = table.get((ns, name)) if old is not None else None
        old_raw = prev.raw if prev is not None else None
        if old is not None:
            self._index_remove((rkey, ns, name), old)
        if kind is EventType.DELETED:
            del table[(ns, name)]
        else:
            table[(ns, name)] = _Entry(new, raw)
            self._index_add((rkey, ns, name), new)
        fields = resource.selectable_fields
        event = Event(kind, rv, selector_view(new, fields),
                      None if old is None else selector_view(old, fields), event_raw, old_raw)
        self._history(rkey).append(event)
        for watcher in tuple(self._watchers.get(rkey, ())):
            watcher.offer_nowait(event)
        return _decode(raw)

    # -- argument handling -----------------------------------------------------------------

    @staticmethod
    def _namespace(resource: Resource, namespace: str | None) -> str:
        if resource.namespaced:
            if not namespace:
                raise BadRequest(f"{resource.plural} is namespaced: a namespace is required")
            return namespace
        if namespace:
            raise BadRequest(f"{resource.plural} is cluster-scoped: got namespace {namespace!r}")
        return ""

    def _entry(self, resource: Resource, ns: str, name: str) -> _Entry:
        entry = self._objects.get(resource.key, {}).get((ns, name))
        if entry is None:
            group = f".{resource.group}" if resource.group else ""
            raise NotFound(f'{resource.plural}{group} "{name}" not found')
        return entry

    @staticmethod
    def _copy_body(body: Any, what: str) -> Object:
        if not isinstance(body, dict):
            raise BadRequest(f"{what}: body must be a JSON object, got {type(body).__name__}")
        try:
            return _decode(_encode(body))
        except (TypeError, msgspec.EncodeError) as exc:
            raise BadRequest(f"{what}: body is not JSON-serialisable ({exc})") from None

    @staticmethod
    def _fields(resource: Resource, selector: str | None) -> FieldSelector:
        fields = parse_field_selector(selector)
        for path in fields.paths:
            if not resource.supports_field(path):
                raise BadRequest(f'field label not supported: {path} (resource {resource.plural})')
        return fields

    @staticmethod
    def _check_subresource(resource: Resource, subresource: str | None) -> None:
        if subresource is None:
            return
        if subresource != "status" or not resource.status_subresource:
            raise NotFound(f"{resource.plural} has no subresource {subresource!r}")

    @staticmethod
    def _check_uid(wanted: Any, entry: _Entry) -> None:
        uid = entry.obj["metadata"]["uid"]
        if wanted and wanted != uid:  # a uid in the body is a precondition, as on a real server
            raise Conflict(f"Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}")

    @staticmethod
    def _check_rv(resource: Resource, name: str, wanted: Any, entry: _Entry) -> None:
        if wanted and str(wanted) != entry.obj["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has'
                           " been modified; please apply your changes to the latest version and try again")

    # -- reads -------------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, /, *, namespace: str | None = None) -> Object:
        return _decode(self._entry(resource, self._namespace(resource, namespace), name).raw)

    async def list(self, resource: Resource, /, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   resource_version: str | None = None) -> ListResult:
        labels, fields = parse_label_selector(label_selector), self._fields(resource, field_selector)
        if resource_version not in (None, "", "0"):
            self._check_not_ahead(resource_version)  # any rv up to now: the latest state satisfies it
        if namespace and not resource.namespaced:
            raise BadRequest(f"{resource.plural} is cluster-scoped: got namespace {namespace!r}")
        items = []
        table = self._objects.get(resource.key, {})
        for (ns, _name) in sorted(table):
            entry = table[(ns, _name)]
            if namespace and ns != namespace:
                continue
            if labels.matches(entry.obj["metadata"].get("labels")) and fields.matches(entry.obj):
                items.append(_decode(entry.raw))
        return ListResult(items, str(self._rv))

    def watch(self, resource: Resource, /, *, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              resource_version: str | None = None, allow_bookmarks: bool = False,
              timeout: float | None = None) -> WatchStream:
        watcher: Watcher | None = None
        error: ApiError | None = None
        try:
            watcher = self._register(resource, namespace, label_selector, field_selector, resource_version)
        except ApiError as exc:
            error = exc
        return EmbeddedWatchStream(
            resource=resource, watcher=watcher, error=error, clock=self._clock,
            current_rv=lambda: self._rv, unregister=lambda w: self._watchers.get(resource.key, set()).discard(w),
            allow_bookmarks=allow_bookmarks, timeout=timeout, bookmark_interval=self._bookmark_interval)

    def _check_not_ahead(self, resource_version: str) -> int:
        try:
            rv = int(resource_version)
        except ValueError:
            raise BadRequest(f"invalid resourceVersion {resource_version!r}") from None
        if rv > self._rv:
            raise ServerTimeout(f"Too large resource version: {rv}, current: {self._rv}", causes=(
                StatusCause("", "ResourceVersionTooLarge", "Too large resource version"),))
        return rv

    def _register(self, resource: Resource, namespace: str | None, label_selector: str | None,
                  field_selector: str | None, resource_version: str | None) -> Watcher:
        labels, fields = parse_label_selector(label_selector), self._fields(resource, field_selector)
        watcher = Watcher(namespace or None, labels, fields, self._watch_buffer)
        rkey = resource.key
        if resource_version in (None, "", "0"):
            table = self._objects.get(rkey, {})
            for key in sorted(table):
                entry = table[key]
                if watcher.translate(Event(EventType.ADDED, 0, entry.obj, None, entry.raw)) is not None:
                    watcher.queue.append((EventType.ADDED, self._rv, entry.raw))
        else:
            rv = self._check_not_ahead(resource_version)
            history = self._history(rkey)
            if rv < history.floor:
                raise Gone(f"too old resource version: {rv} ({history.floor})")
            replay = [event for event in history.events if event.rv > rv]
            watcher.limit = len(replay) + self._watch_buffer
            for event in replay:
                watcher.offer_nowait(event)
        watcher.limit = max(watcher.limit, len(watcher.queue) + self._watch_buffer)
        self._watchers.setdefault(rkey, set()).add(watcher)
        return watcher

    # -- writes ------------------------------------------------------------------------------

    async def create(self, resource: Resource, body: Object, /, *, namespace: str | None = None) -> Object:
        obj = self._copy_body(body, f"create {resource.plural}")
        meta = obj.get("metadata")
        body_ns = meta.get("namespace") if isinstance(meta, dict) else None
        if namespace and body_ns and body_ns != namespace:
            raise BadRequest(f"the namespace of the provided object ({body_ns}) does not match the"
                             f" namespace sent on the request ({namespace})")
        ns = self._namespace(resource, (namespace or body_ns) if resource.namespaced else namespace)
        table = self._objects.get(resource.key, {})
        name = meta.get("name") if isinstance(meta, dict) else None
        if not name and isinstance(meta, dict) and meta.get("generateName"):
            # The apiserver would answer a collision with AlreadyExists; a few draws make it moot.
            for _ in range(16):
                name = _objects.generate_name(str(meta["generateName"]))
                if (ns, name) not in table:
                    break
        obj = _objects.prepare_create(resource, obj, namespace=ns or None, name=name or None,
                                      now=self._clock.now())
        if (ns, obj["metadata"]["name"]) in table:
            raise AlreadyExists(f'{resource.plural} "{obj["metadata"]["name"]}" already exists')
        return self._commit(resource, EventType.ADDED, ns, obj["metadata"]["name"], obj, None)

    async def update(self, resource: Resource, body: Object, /, *, namespace: str | None = None,
                     subresource: str | None = None) -> Object:
        new = self._copy_body(body, f"update {resource.plural}")
        meta = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
        name = meta.get("name")
        if not name:
            raise BadRequest(f"update {resource.plural}: metadata.name is required")
        ns = self._namespace(resource, namespace or (meta.get("namespace") if resource.namespaced else None))
        self._check_subresource(resource, subresource)
        entry = self._entry(resource, ns, name)
        if not meta.get("resourceVersion") and not resource.unconditional_update:
            raise Invalid(f'{resource.plural} "{name}" is invalid: metadata.resourceVersion: Invalid value: 0:'
                          " must be specified for an update", causes=(StatusCause(
                              "metadata.resourceVersion", "FieldValueInvalid", "must be specified for an update"),))
        self._check_uid(meta.get("uid"), entry)
        self._check_rv(resource, name, meta.get("resourceVersion"), entry)
        return self._write(resource, ns, name, new, entry, subresource)

    async def patch(self, resource: Resource, name: str, patch: Any, /, *, namespace: str | None = None,
                    patch_type: PatchType = PatchType.MERGE, subresource: str | None = None) -> Object:
        ns = self._namespace(resource, namespace)
        self._check_subresource(resource, subresource)
        entry = self._entry(resource, ns, name)
        current = _decode(entry.raw)
        if patch_type is PatchType.MERGE:
            if not isinstance(patch, dict):
                raise BadRequest(f"merge patch of {resource.plural} {name!r} must be a JSON object")
            patched = apply_merge_patch(current, self._copy_body(patch, "merge patch"))
        elif patch_type is PatchType.JSON:
            patched = apply_json_patch(current, patch)
        else:
            raise UnsupportedMediaType(f"the embedded API does not support {patch_type.value}"
                                       f" (use {PatchType.MERGE.value} or {PatchType.JSON.value})")
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise BadRequest(f"patch of {resource.plural} {name!r} must leave an object with metadata")
        self._check_uid(patched["metadata"].get("uid"), entry)
        self._check_rv(resource, name, patched["metadata"].get("resourceVersion"), entry)
        return self._write(resource, ns, name, patched, entry, subresource)

    def _write(self, resource: Resource, ns: str, name: str, new: Object, entry: _Entry,
               subresource: str | None) -> Object:
        old = entry.obj
        if subresource == "status":
            new = _objects.prepare_status_update(resource, new, old)
        else:
            new = _objects.prepare_update(resource, new, old)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:  # a no-op write keeps its resourceVersion and sends no event
            return _decode(entry.raw)
        if "deletionTimestamp" in new["metadata"] and not new["metadata"].get("finalizers"):
            return self._remove(resource, ns, name, new, old)
        return self._commit(resource, EventType.MODIFIED, ns, name, new, old)

    # -- deletion and garbage collection -----------------------------------------------------

    async def delete(self, resource: Resource, name: str, /, *, namespace: str | None = None,
                     preconditions: Preconditions | None = None,
                     propagation: Propagation = Propagation.BACKGROUND,
                     grace_period_seconds: int | None = None) -> Object:
        ns = self._namespace(resource, namespace)
        entry = self._entry(resource, ns, name)
        meta = entry.obj["metadata"]
        if preconditions is not None:
            if preconditions.uid is not None and preconditions.uid != meta["uid"]:
                raise Conflict(f'Precondition failed: UID in precondition: {preconditions.uid},'
                               f' UID in object meta: {meta["uid"]}')
            self._check_rv(resource, name, preconditions.resource_version, entry)
        return self._delete(resource, ns, name, Propagation(propagation), grace_period_seconds)

    async def delete_collection(self, resource: Resource, /, *, namespace: str | None,
                                label_selector: str | None = None, field_selector: str | None = None,
                                propagation: Propagation = Propagation.BACKGROUND,
                                grace_period_seconds: int | None = None) -> list[Object]:
        # The apiserver lists the matches, deletes each as a single delete would (a match that
        # is gone meanwhile is skipped) and answers with the list as it read it: so do we.
        ns = self._namespace(resource, namespace)
        labels, fields = parse_label_selector(label_selector), self._fields(resource, field_selector)
        propagation = Propagation(propagation)
        table = self._objects.get(resource.key, {})
        matches = sorted((name, entry.raw) for (n, name), entry in table.items()
                         if n == ns and labels.matches(entry.obj["metadata"].get("labels")) and fields.matches(entry.obj))
        for name, _raw in matches:
            if (ns, name) in table:  # not removed by the cascade of an earlier match
                self._delete(resource, ns, name, propagation, grace_period_seconds)
        return [_decode(raw) for _name, raw in matches]

    async def close(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.overflowed = True  # streams drain and end cleanly
                watcher.wake()
        self._watchers.clear()
        if self._persistence is not None:
            self._persistence.close()
            self._persistence = None
