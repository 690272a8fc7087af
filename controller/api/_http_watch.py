"""The watch stream of the HTTP client: newline-delimited JSON events over a chunked response.

The apiserver writes one JSON `WatchEvent` per line. We read whatever bytes arrive
(`readany`) and split on `\\n` ourselves, because aiohttp's `readline` refuses lines over
its 128 KiB buffer limit and a Workflow with a large status is one long line (kopf hit this:
nolar/kopf#275). A line can span any number of chunks; the splitter only scans each new
chunk for newlines, so a long line costs linear time.

Errors follow the `WatchStream` contract: opening happens on the first `__anext__`, so a
410 at open time and an `ERROR` event mid-stream both surface from iteration as typed
errors (`Gone` above all). A stream the server closes, or a connection that drops mid-
stream, ends iteration cleanly, as client-go's StreamWatcher treats EOF and resets: the
consumer re-watches from the last resourceVersion it saw.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec

from tiphys.core.wire import LineSplitter

from .base import EventType, WatchEvent, WatchStream
from .errors import ApiError, from_status

__all__ = ["LineSplitter", "HttpWatchStream"]


class _WireEvent(msgspec.Struct):
    type: str
    object: dict[str, Any]


_decode_event = msgspec.json.Decoder(_WireEvent).decode
_TYPES = {t.value: t for t in EventType}


def decode_event(line: bytes, /) -> WatchEvent:
    """One wire line to a `WatchEvent`; an `ERROR` event raises its typed error."""
    try:
        wire = _decode_event(line)
    except msgspec.DecodeError as exc:
        raise ApiError(f"watch: undecodable event ({exc}): {line[:200]!r}", status=500,
                       reason="InternalError") from None
    kind = _TYPES.get(wire.type)
    if kind is not None:
        return WatchEvent(kind, wire.object)
    if wire.type == "ERROR":
        raise from_status(wire.object)
    raise ApiError(f"watch: unknown event type {wire.type!r}", status=500, reason="InternalError")


class HttpWatchStream(WatchStream):
    """Iterate for events; `open` is called lazily and returns the 200 response (or raises)."""

    def __init__(self, open: Callable[[], Awaitable[aiohttp.ClientResponse]], /) -> None:
        self._open = open
        self._resp: aiohttp.ClientResponse | None = None
        self._splitter = LineSplitter()
        self._lines: deque[bytes] = deque()
        self._closed = False

    def __aiter__(self) -> HttpWatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        try:
            if self._resp is None:
                self._resp = await self._open()
            while not self._lines:
                if not await self._read_more():
                    await self.aclose()
                    raise StopAsyncIteration
            return decode_event(self._lines.popleft())
        except ApiError:
            await self.aclose()
            raise

    async def _read_more(self) -> bool:
        """Read one chunk into `_lines`; False once the stream is over."""
        assert self._resp is not None
        try:
            chunk = await self._resp.content.readany()
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            # Dropped mid-stream: a clean end (module docstring); a partial line is garbage.
            self._splitter.flush()
            return False
        if not chunk:
            last = self._splitter.flush()
            if last:
                self._lines.append(last)
                return True
            return False
        self._lines.extend(self._splitter.feed(chunk))
        return True

    async def aclose(self) -> None:
        self._closed = True
        self._lines.clear()
        if self._resp is not None:
            # close(), not release(): the body is unread, the connection cannot be reused.
            self._resp.close()
            self._resp = None
