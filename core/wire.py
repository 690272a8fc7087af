"""Framing of a Kubernetes watch stream: newline-delimited JSON events over a chunked body.

Both API clients read it, the controller's (`controller/api/_http_watch.py`) and the executor's
in-pod one (`executor/kube/watch.py`); the framing is pure bytes work, so it lives here once.
"""
from __future__ import annotations

__all__ = ["LineSplitter"]


class LineSplitter:
    """Splits a byte stream into non-empty lines, with no limit on line length."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()  # never contains b"\n"

    def feed(self, chunk: bytes, /) -> list[bytes]:
        """Add `chunk`; the lines it completed (without their newline)."""
        if b"\n" not in chunk:
            self._buf += chunk  # only the new bytes are scanned: a long line costs linear time
            return []
        lines = chunk.split(b"\n")
        if self._buf:
            lines[0] = bytes(self._buf) + lines[0]
        self._buf = bytearray(lines.pop())
        return [line for line in lines if line.strip()]

    def flush(self) -> bytes:
        """What is left once the stream ended (a last line without its newline, else b"")."""
        rest, self._buf = bytes(self._buf), bytearray()
        return rest if rest.strip() else b""
