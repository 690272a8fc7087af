"""Informers: a reflector that mirrors one resource into a read-only, indexed cache.

The reflector follows client-go's `tools/cache/reflector.go` (reference/kubernetes-test-cluster.md
section 7):
* list, replace the cache, then watch from the list's resourceVersion with bookmarks and a
  random 5-10 minute timeout; every event (bookmarks too) advances the resume point;
* a clean end re-watches from the last resourceVersion; a watch that ends within a second with
  no event counts as a failure; 410 Gone on the watch relists (from the last resourceVersion);
  429 waits `retry_after` (or the backoff) and re-watches; any other failure backs off and lists
  again;
* backoff 800 ms doubling to 30 s, jitter 1.0 (each wait is d + rand·d), reset after 2 minutes
  without failures. All waiting goes through the injected `Clock`.

Delivery (client-go `RealFIFO`, in order): handlers are called synchronously, in event order,
from the reflector task; a relist first deletes vanished keys (handlers get
`final_state_unknown=True`), then updates existing keys and adds new ones. A delete carries the
last known state. UID is not identity: a delete and re-create can arrive as one update, so
handlers that care compare UIDs. Handlers must return fast; they only enqueue keys. A handler
that raises is logged and counted (`handler_errors`); the other handlers and later events
still run.

The cache is keyed `namespace/name`. It is eventually consistent and read-only: callers never
mutate what they get; pass `transform` (e.g. strip managedFields and decode into a frozen Struct)
to make that structural. Indexers are named functions of the raw object (before `transform`)
returning the index values; `namespace`, `workflow` (label `workflows.argoproj.io/workflow`) and
`owner` (ownerReference uids) are predefined.

`resync_period` (Argo: 20 minutes for workflows) replays the cache to the handlers as updates of
an object to itself, so level-based reconcilers look again; it is not a relist.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from .api.base import Api, EventType, Resource, WatchEvent, object_key
from .api.errors import ApiError, Gone, ServerTimeout, TooManyRequests
from .clock import Clock

__all__ = ["Backoff", "EventHandler", "FuncHandler", "Store", "Informer", "WatchEndedEarly",
           "index_by_namespace", "index_by_workflow", "index_by_owner", "DEFAULT_INDEXERS",
           "strip_managed_fields"]

T = TypeVar("T")
Object = dict[str, Any]
Indexer = Callable[[Object], Iterable[str]]
_log = logging.getLogger(__name__)
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"


def index_by_namespace(obj: Object, /) -> Iterable[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return (namespace,) if namespace else ()


def index_by_workflow(obj: Object, /) -> Iterable[str]:
    name = ((obj.get("metadata") or {}).get("labels") or {}).get(WORKFLOW_LABEL)
    return (name,) if name else ()


def index_by_owner(obj: Object, /) -> Iterable[str]:
    return tuple(ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or ()
                 if ref.get("uid"))


DEFAULT_INDEXERS: dict[str, Indexer] = {
    "namespace": index_by_namespace, "workflow": index_by_workflow, "owner": index_by_owner}


def strip_managed_fields(obj: Object, /) -> Object:
    """The transform Argo's informers apply: drop `metadata.managedFields`."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


class Backoff:
    """client-go's jittered backoff manager: `next()` gives the wait before the next attempt."""

    def __init__(self, *, clock: Clock, initial: float = 0.8, cap: float = 30.0, factor: float = 2.0,
                 jitter: float = 1.0, reset_after: float = 120.0, rng: random.Random | None = None) -> None:
        self._clock, self._rng = clock, rng if rng is not None else random.Random()
        self._initial, self._cap, self._factor = initial, cap, factor
        self._jitter, self._reset_after = jitter, reset_after
        self._duration = initial
        self._last: float | None = None

    def next(self) -> float:
        now = self._clock.now()
        if self._last is not None and now - self._last > self._reset_after:
            self._duration = self._initial
        self._last = now
        base = self._duration
        self._duration = min(self._cap, self._duration * self._factor)
        return base + self._rng.random() * self._jitter * base if self._jitter > 0 else base


class EventHandler(Protocol[T]):
    def on_add(self, obj: T, /) -> None: ...

    def on_update(self, old: T, new: T, /) -> None: ...

    def on_delete(self, obj: T, /, *, final_state_unknown: bool) -> None: ...


class FuncHandler(Generic[T]):
    """An `EventHandler` from optional callables (kopf/client-go `ResourceEventHandlerFuncs`)."""

    def __init__(self, *, add: Callable[[T], object] | None = None,
                 update: Callable[[T, T], object] | None = None,
                 delete: Callable[[T, bool], object] | None = None) -> None:
        self._add, self._update, self._delete = add, update, delete

    def on_add(self, obj: T, /) -> None:
        if self._add is not None:
            self._add(obj)

    def on_update(self, old: T, new: T, /) -> None:
        if self._update is not None:
            self._update(old, new)

    def on_delete(self, obj: T, /, *, final_state_unknown: bool) -> None:
        if self._delete is not None:
            self._delete(obj, final_state_unknown)


class Store(Generic[T]):
    """The informer's cache: objects by `namespace/name`, plus named indexes."""

    def __init__(self, indexers: dict[str, Indexer]) -> None:
        self._items: dict[str, T] = {}
        self._indexers = dict(indexers)
        # index name -> value -> keys; `_values[key][name]` are the values `key` is filed under.
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in indexers}
        self._values: dict[str, dict[str, tuple[str, ...]]] = {}

    def get(self, key: str, /) -> T | None:
        return self._items.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def list(self) -> list[T]:
        return list(self._items.values())

    def by_index(self, index: str, value: str, /) -> list[T]:
        """Objects filed under `value` in the named index (KeyError for an unknown index)."""
        keys = self._indices[index].get(value, ())
        return [self._items[k] for k in sorted(keys)]

    def index_keys(self, index: str, value: str, /) -> list[str]:
        return sorted(self._indices[index].get(value, ()))

    def _put(self, key: str, raw: Object, obj: T) -> T | None:
        old = self._items.get(key)
        self._unindex(key)
        self._items[key] = obj
        values: dict[str, tuple[str, ...]] = {}
        for name, fn in self._indexers.items():
            values[name] = tuple(fn(raw))
            for value in values[name]:
                self._indices[name].setdefault(value, set()).add(key)
        self._values[key] = values
        return old

    def _pop(self, key: str) -> T | None:
        self._unindex(key)
        return self._items.pop(key, None)

    def _unindex(self, key: str) -> None:
        for name, values in self._values.pop(key, {}).items():
            index = self._indices[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


class WatchEndedEarly(Exception):
    """A watch closed within a second without delivering anything (treated as a failure)."""


class Informer(Generic[T]):
    """List+watch one resource into a `Store`, notifying handlers in order. Run with `run()`."""

    def __init__(self, api: Api, resource: Resource, /, *, clock: Clock, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 transform: Callable[[Object], T] | None = None,
                 indexers: dict[str, Indexer] | None = None,
                 watch_timeout: tuple[float, float] = (300.0, 600.0),
                 resync_period: float | None = None,
                 rng: random.Random | None = None) -> None:
        self._api, self._resource, self._clock = api, resource, clock
        self._namespace, self._labels, self._fields = namespace, label_selector, field_selector
        self._transform = transform
        self._rng = rng if rng is not None else random.Random()
        self._watch_timeout = watch_timeout
        self.store: Store[T] = Store(DEFAULT_INDEXERS if indexers is None else indexers)
        self._handlers: list[EventHandler[T]] = []
        self._synced: asyncio.Event | None = None
        self._has_synced = False
        self.backoff = Backoff(clock=clock, rng=self._rng)
        self.last_resource_version: str | None = None
        self._list_rv: str | None = "0"
        self.relists = 0  # lists done (the first included), for observability and tests
        self.handler_errors = 0  # handler calls that raised (logged, then skipped)
        if resync_period is not None and resync_period < 1.0:
            raise ValueError(f"Informer: resync_period must be at least 1 s, got {resync_period}")
        self._resync_period = resync_period

    def add_handler(self, handler: EventHandler[T], /) -> None:
        """Register `handler`; a late one first gets a synthetic add for every cached object."""
        self._handlers.append(handler)
        for obj in self.store.list():
            self._call(handler.on_add, obj)

    def has_synced(self) -> bool:
        return self._has_synced

    async def wait_synced(self) -> None:
        if self._synced is None:
            self._synced = asyncio.Event()
            if self._has_synced:
                self._synced.set()
        await self._synced.wait()

    def _convert(self, raw: Object) -> T:
        return self._transform(raw) if self._transform is not None else raw  # type: ignore[return-value]

    def _call(self, method: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:
        # A handler's bug must not stop the informer (and with it every later notification):
        # log it with its traceback and go on, as one bad event should not blind the controller.
        try:
            method(*args, **kwargs)
        except Exception:
            self.handler_errors += 1
            _log.exception("informer %s: handler %r failed", self._resource.plural, method)

    def _notify_upsert(self, old: T | None, obj: T) -> None:
        for handler in self._handlers:
            if old is None:
                self._call(handler.on_add, obj)
            else:
                self._call(handler.on_update, old, obj)

    def _notify_delete(self, obj: T, final_state_unknown: bool) -> None:
        for handler in self._handlers:
            self._call(handler.on_delete, obj, final_state_unknown=final_state_unknown)

    def _replace(self, items: list[Object]) -> None:
        fresh = {object_key(item): item for item in items}
        for key in [k for k in self.store.keys() if k not in fresh]:
            gone = self.store._pop(key)
            assert gone is not None
            self._notify_delete(gone, True)
        for key, raw in fresh.items():
            obj = self._convert(raw)
            self._notify_upsert(self.store._put(key, raw, obj), obj)
        if not self._has_synced:
            self._has_synced = True
            if self._synced is not None:
                self._synced.set()

    def _apply(self, event: WatchEvent) -> None:
        raw = event.object
        key = object_key(raw)
        obj = self._convert(raw)
        if event.type is EventType.DELETED:
            self.store._pop(key)
            self._notify_delete(obj, False)
        else:
            self._notify_upsert(self.store._put(key, raw, obj), obj)

    def resync_nowait(self) -> None:
        """Replay every cached object to the handlers as an update of itself (not a relist)."""
        for obj in self.store.list():
            for handler in self._handlers:
                self._call(handler.on_update, obj, obj)

    async def _resync_forever(self, period: float) -> None:
        while True:
            await self._clock.sleep(period)
            if self._has_synced:
                self.resync_nowait()

    async def run(self) -> None:
        """List and watch forever (until cancelled), backing off between failed attempts;
        with `resync_period`, also replay the cache to the handlers that often."""
        resync = (asyncio.ensure_future(self._resync_forever(self._resync_period))
                  if self._resync_period is not None else None)
        try:
            await self._run()
        finally:
            if resync is not None:
                resync.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self._list_and_watch()
            except asyncio.CancelledError:
                raise
            except (ApiError, OSError, WatchEndedEarly, asyncio.TimeoutError) as exc:
                _log.warning("informer %s: %r; retrying after backoff", self._resource.plural, exc)
            await self._clock.sleep(self.backoff.next())

    async def _list_and_watch(self) -> None:
        try:
            # First list "0" (a cache may serve it), then at least as fresh as what we saw;
            # after a list 410 (or a too-large rv) a consistent read.
            result = await self._api.list(self._resource, namespace=self._namespace,
                                          label_selector=self._labels, field_selector=self._fields,
                                          resource_version=self._list_rv)
        except (Gone, ServerTimeout):
            self._list_rv = None  # the next list is a consistent read
            raise
        self.relists += 1
        self._replace(result.items)
        self.last_resource_version = self._list_rv = result.resource_version
        while True:
            low, high = self._watch_timeout
            started, delivered = self._clock.now(), 0
            try:
                async with self._api.watch(self._resource, namespace=self._namespace,
                                           label_selector=self._labels, field_selector=self._fields,
                                           resource_version=self.last_resource_version,
                                           allow_bookmarks=True,
                                           timeout=low + self._rng.random() * (high - low)) as stream:
                    async for event in stream:
                        delivered += 1
                        if event.type is not EventType.BOOKMARK:
                            self._apply(event)
                        rv = event.resource_version
                        if rv:
                            self.last_resource_version = rv
            except Gone:
                self._list_rv = self.last_resource_version
                return  # relist from the last resourceVersion, after the backoff wait
            except TooManyRequests as exc:
                await self._clock.sleep(exc.retry_after if exc.retry_after is not None else self.backoff.next())
                continue
            if delivered == 0 and self._clock.now() - started < 1.0:
                raise WatchEndedEarly(f"watch of {self._resource.plural} closed immediately")
