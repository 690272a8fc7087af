"""Following a collection by watch, as client-go's RetryWatcher follows it.

    snap = await client.snapshot(kind, namespace=ns, field_selector="metadata.name=wf")
    async with client.watch(kind, namespace=ns, field_selector=..., resource_version=snap.resource_version) as w:
        async for event in w:          # ADDED / MODIFIED / DELETED / BOOKMARK
            ...

The wire: a GET with `?watch=1&resourceVersion=<rv>&allowWatchBookmarks=true&timeoutSeconds=<n>`
answers 200 and then one JSON `WatchEvent` per line, in a chunked body that stays open. The lines
are split here as the bytes arrive (`LineSplitter`), not with aiohttp's `readline`, whose buffer
refuses lines over 128 KiB: a task set with many large templates is one long line.

`WatchStream` is one long-lived iterator over many such requests. It remembers the
resourceVersion of the last event (a BOOKMARK moves it too, without a change: the server's way of
keeping an idle watcher's version fresh, so a reconnect is not refused as too old) and, when a
request ends, opens the next one from there:

* the server ends it cleanly at `timeoutSeconds` -> a new request at once;
* the connection breaks mid-stream (a partial last line is dropped: it was never an event), or a
  request ends within `min_life` of its start -> the same, after a backoff (0.2 s doubling to
  5 s, reset by a request that lived its life), so a flapping server is not hammered.

Nothing is lost or repeated across a reconnect: the server replays every change after the
resourceVersion given. Two things end the iteration with an error instead, for the caller:
`KubeGone` (410, at open or as an ERROR event: the version left the server's window, e.g.
after etcd compaction; the caller lists again and watches from the list's version) and any
other refusal to open (403, 5xx, a refused connection: `KubeError`), which the caller backs off
from. A watch opened without a resourceVersion starts "now": the server first sends an ADDED
event for each object that exists.
"""
from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec

from tiphys.core.wire import LineSplitter

from .errors import KubeError, from_status

__all__ = ["LineSplitter", "Snapshot", "WatchEvent", "WatchEventType", "WatchStream", "decode_event"]


class WatchEventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


class WatchEvent(msgspec.Struct, frozen=True):
    """One change. A BOOKMARK's `object` holds only kind, apiVersion and `metadata.resourceVersion`;
    a DELETED one is the object's last state."""

    type: WatchEventType
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


class Snapshot(msgspec.Struct, frozen=True):
    """A list: `items` as of the collection's `resource_version` (watch from there to follow)."""

    items: list[dict[str, Any]]
    resource_version: str


class _Wire(msgspec.Struct):
    type: str
    object: dict[str, Any]


_decode_wire = msgspec.json.Decoder(_Wire).decode
_TYPES = {t.value: t for t in WatchEventType}


def decode_event(line: bytes, /) -> WatchEvent:
    """One line of the stream; an ERROR event raises its typed error (`KubeGone` for 410)."""
    try:
        wire = _decode_wire(line)
    except msgspec.DecodeError as exc:
        raise KubeError(f"watch: undecodable event ({exc}): {line[:200]!r}", status=500,
                        reason="InternalError") from None
    kind = _TYPES.get(wire.type)
    if kind is not None:
        return WatchEvent(kind, wire.object)
    if wire.type == "ERROR":
        code = wire.object.get("code")
        raise from_status(code if isinstance(code, int) else 500, wire.object, fallback="watch: an ERROR event")
    raise KubeError(f"watch: unknown event type {wire.type!r}", status=500, reason="InternalError")


# opens one watch request from a resourceVersion (None: from now); the 200 response, else a KubeError
Opener = Callable[[str | None], Awaitable[aiohttp.ClientResponse]]


class WatchStream:
    """Events of a watch across reconnects (module docstring). Use `async with`, or `aclose()`."""

    def __init__(self, open: Opener, /, *, resource_version: str | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic, min_life: float = 1.0,
                 backoff: tuple[float, float] = (0.2, 5.0)) -> None:
        self._open, self._sleep, self._clock = open, sleep, clock
        self.resource_version = resource_version or None  # of the last event; where a reconnect starts
        self.requests = 0  # watch requests made so far (observability)
        self._min_life, (self._first_delay, self._max_delay) = min_life, backoff
        self._delay = 0.0  # to wait before the next request; 0 after a request that lived its life
        self._failures = 0
        self._resp: aiohttp.ClientResponse | None = None
        self._opened_at = 0.0
        self._broken = False  # whether the last request's stream broke (else the server ended it)
        self._splitter = LineSplitter()
        self._lines: deque[bytes] = deque()
        self._closed = False

    def __aiter__(self) -> WatchStream:
        return self

    async def __aenter__(self) -> WatchStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __anext__(self) -> WatchEvent:
        try:
            while not self._closed:
                if self._lines:
                    event = decode_event(self._lines.popleft())
                    self.resource_version = event.resource_version or self.resource_version
                    return event
                if self._resp is None:
                    if self._delay:
                        await self._sleep(self._delay)
                    self.requests += 1
                    self._resp = await self._open(self.resource_version)
                    self._opened_at = self._clock()
                    self._splitter = LineSplitter()
                if not await self._read_more():
                    self._ended()
        except KubeError:
            await self.aclose()  # Gone, or the server refused a reconnect: the caller's turn
            raise
        raise StopAsyncIteration

    async def _read_more(self) -> bool:
        """Read one chunk into `_lines`; False once this request's stream is over."""
        assert self._resp is not None
        try:
            chunk = await self._resp.content.readany()
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
            self._splitter.flush()  # broken mid-stream: a partial line was never an event
            self._broken = True
            return False
        if not chunk:
            last = self._splitter.flush()
            if last:
                self._lines.append(last)
                return True
            self._broken = False
            return False
        self._lines.extend(self._splitter.feed(chunk))
        return True

    def _ended(self) -> None:
        """This request is over; how long to wait before the next (module docstring)."""
        assert self._resp is not None
        self._resp.close()  # close, not release: a broken body cannot go back to the pool
        self._resp = None
        if self._broken or self._clock() - self._opened_at < self._min_life:
            self._delay = min(self._first_delay * 2 ** self._failures, self._max_delay)
            self._failures += 1
        else:
            self._delay, self._failures = 0.0, 0

    async def aclose(self) -> None:
        self._closed = True
        self._lines.clear()
        if self._resp is not None:
            self._resp.close()
            self._resp = None
