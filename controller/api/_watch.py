"""Watch machinery of the embedded store: event history, per-watcher buffers, the stream.

Writers never wait for watchers. A write appends one `_Event` to its resource's bounded history
and offers it to every registered `_Watcher` of that resource, synchronously: the watcher filters
it (namespace, selectors) and appends to its own deque, or, if the deque is at its limit, marks
itself overflowed and stops accepting. An overflowed watcher drains what it holds and then ends
cleanly, like a cacheWatcher the apiserver terminates for being slow: its consumer re-watches
from the last resourceVersion it saw and gets the rest from history, or 410 if that is gone.

History is a per-resource deque of the last `history_size` events. `floor` is the highest
resourceVersion no longer fully covered (the last evicted event, or the last compaction); a
watch from `rv < floor` is Gone, a watch from `rv >= floor` replays every event after `rv`.

Event payloads are encoded once per write (`raw`) and decoded per delivery, so each consumer
owns its dicts and a write costs the same whatever the number of watchers. Selector moves follow
the watch cache (`cacheWatcher.convertToWatchEvent`): an object that stops matching arrives as
DELETED carrying its previous (last matching) state stamped with the event's resourceVersion,
one that starts matching as ADDED; a real DELETED carries the previous state likewise.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from ..clock import Clock, TimerHandle
from .base import EventType, Resource, WatchEvent, WatchStream
from .selectors import FieldSelector, LabelSelector

__all__ = ["Event", "History", "Watcher", "EmbeddedWatchStream", "selector_view"]

Object = dict[str, Any]
_decode = msgspec.json.decode


def selector_view(obj: Object, fields: frozenset[str], /) -> Object:
    """What selectors read of `obj` (namespace, name, labels, the resource's selectable fields).

    History keeps this instead of the object: a pod decodes to ~30 KB of dicts for ~5 KB of JSON,
    and a 50,000-pod workflow leaves ~150,000 pod events behind."""
    meta = obj.get("metadata") or {}
    view: Object = {"metadata": {"namespace": meta.get("namespace"), "name": meta.get("name"),
                                 "labels": meta.get("labels")}}
    for path in fields:
        node: Any = obj
        parts = path.split(".")
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            into = view
            for part in parts[:-1]:
                into = into.setdefault(part, {})
            into[parts[-1]] = node
    return view


class Event:
    """One change: `new` and `old` are the selector views (`selector_view`) of the states after
    and before; `raw` encodes what watchers receive (for DELETED: the previous state stamped with
    the event's rv, as the watch cache sends); `old_src` encodes the previous state."""

    __slots__ = ("type", "rv", "new", "old", "raw", "old_src", "_old_raw")

    def __init__(self, type: EventType, rv: int, new: Object, old: Object | None, raw: bytes,
                 old_src: bytes | None = None) -> None:
        self.type, self.rv, self.new, self.old, self.raw, self.old_src = type, rv, new, old, raw, old_src
        self._old_raw: bytes | None = None

    def old_raw(self) -> bytes:
        """The previous state stamped with this event's rv: what a watcher the object left
        receives as DELETED (rare: decoded from `old_src` when needed)."""
        if self._old_raw is None:
            assert self.old_src is not None
            old = _decode(self.old_src)
            old["metadata"]["resourceVersion"] = str(self.rv)
            self._old_raw = msgspec.json.encode(old)
        return self._old_raw


class History:
    """The last `size` events of one resource; `floor` as described in the module docstring."""

    __slots__ = ("events", "size", "floor")

    def __init__(self, size: int, floor: int) -> None:
        # Ascending rv; every event here has rv > floor.
        self.events: deque[Event] = deque()
        self.size = size
        self.floor = floor

    def append(self, event: Event) -> None:
        self.events.append(event)
        while len(self.events) > self.size:
            self.floor = self.events.popleft().rv

    def compact(self, rv: int) -> None:
        while self.events and self.events[0].rv <= rv:
            self.events.popleft()
        self.floor = max(self.floor, rv)


class Watcher:
    """A registered watch: filters offered events into a bounded deque the stream drains."""

    __slots__ = ("namespace", "labels", "fields", "queue", "limit", "overflowed", "timed_out",
                 "bookmark_due", "_waiter")

    def __init__(self, namespace: str | None, labels: LabelSelector, fields: FieldSelector, limit: int) -> None:
        self.namespace, self.labels, self.fields = namespace, labels, fields
        # (type, rv, raw) ready for delivery, ascending rv.
        self.queue: deque[tuple[EventType, int, bytes]] = deque()
        self.limit = limit
        self.overflowed = False
        self.timed_out = False
        self.bookmark_due = False
        self._waiter: asyncio.Future[None] | None = None

    def _matches(self, obj: Object | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and (obj.get("metadata") or {}).get("namespace") != self.namespace:
            return False
        return self.labels.matches((obj.get("metadata") or {}).get("labels")) and self.fields.matches(obj)

    def translate(self, event: Event) -> EventType | None:
        """The event type this watcher sees for `event`, or None if it sees nothing."""
        if event.type is EventType.DELETED:
            return EventType.DELETED if self._matches(event.old or event.new) else None
        now_in = self._matches(event.new)
        was_in = event.old is not None and self._matches(event.old)
        if now_in:
            return EventType.MODIFIED if was_in else EventType.ADDED
        return EventType.DELETED if was_in else None

    def offer_nowait(self, event: Event) -> None:
        if self.overflowed:
            return
        kind = self.translate(event)
        if kind is None:
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True  # the stream drains, then ends cleanly
        elif kind is EventType.DELETED and event.type is not EventType.DELETED:
            self.queue.append((kind, event.rv, event.old_raw()))  # left the selector: last matching state
        else:
            self.queue.append((kind, event.rv, event.raw))
        self.wake()

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class EmbeddedWatchStream(WatchStream):
    """Delivers a watcher's events; raises a deferred registration error on first iteration."""

    def __init__(self, *, resource: Resource, watcher: Watcher | None, error: Exception | None,
                 clock: Clock, current_rv: Callable[[], int], unregister: Callable[[Watcher], None],
                 allow_bookmarks: bool, timeout: float | None, bookmark_interval: float) -> None:
        self._resource, self._watcher, self._error = resource, watcher, error
        self._clock, self._current_rv, self._unregister = clock, current_rv, unregister
        self._allow_bookmarks, self._bookmark_interval = allow_bookmarks, bookmark_interval
        self._timers: list[TimerHandle] = []
        self._closed = False
        self._started = False
        self._timeout = timeout

    def _start_timers(self) -> None:
        # Timers start at the first read, in the running loop (the real clock needs one).
        watcher = self._watcher
        assert watcher is not None
        if self._timeout is not None:
            def expire() -> None:
                watcher.timed_out = True
                watcher.wake()
            self._timers.append(self._clock.call_at(self._clock.now() + self._timeout, expire))
        if self._allow_bookmarks and self._bookmark_interval > 0:
            self._arm_bookmark()

    def _arm_bookmark(self) -> None:
        watcher = self._watcher
        assert watcher is not None

        def due() -> None:
            watcher.bookmark_due = True
            watcher.wake()
        self._timers.append(self._clock.call_at(self._clock.now() + self._bookmark_interval, due))

    def _bookmark(self) -> WatchEvent:
        # Only emitted with an empty queue: everything up to the current rv that this watcher
        # can see has been delivered, so the current rv is a safe resume point.
        return WatchEvent(EventType.BOOKMARK, {
            "kind": self._resource.kind, "apiVersion": self._resource.api_version,
            "metadata": {"resourceVersion": str(self._current_rv())}})

    def __aiter__(self) -> EmbeddedWatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._error is not None:
            error, self._error = self._error, None
            await self.aclose()
            raise error
        watcher = self._watcher
        if self._closed or watcher is None:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            self._start_timers()
        while True:
            if watcher.queue:
                kind, _, raw = watcher.queue.popleft()
                return WatchEvent(kind, _decode(raw))
            if watcher.overflowed:
                break
            if watcher.timed_out:
                if self._allow_bookmarks:
                    await self.aclose()
                    return self._bookmark()
                break
            if watcher.bookmark_due:
                watcher.bookmark_due = False
                self._arm_bookmark()
                return self._bookmark()
            await watcher.wait()
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.close_nowait()

    def close_nowait(self) -> None:
        if self._closed:
            return
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._watcher is not None:
            self._unregister(self._watcher)

    def __del__(self) -> None:  # an abandoned stream must not keep collecting events
        try:
            self.close_nowait()
        except Exception:  # interpreter shutdown: nothing left to unregister from
            pass
