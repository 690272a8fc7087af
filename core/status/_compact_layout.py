"""The compact form's column layout, shared by its encoder and decoder (see `compact`).

Schema evolution follows msgspec's rules for `array_like` Structs: columns are only ever
appended, and a layout that changes the meaning of a column bumps `LAYOUT_VERSION`.
"""
from __future__ import annotations

import calendar
import time
from typing import Any

import msgspec

__all__ = ["Layout", "LAYOUT_VERSION", "epoch", "rfc3339", "F_ID", "F_DISPLAY", "F_BOUNDARY", "F_CHILDREN",
           "F_OUTBOUND", "F_STARTED", "F_FINISHED", "F_HOST", "F_RESOURCES", "F_NAME", "SAME_AS_PREVIOUS",
           "HASH_MARK", "WF_MARK", "HOLE", "HOLE_JSON"]

LAYOUT_VERSION = 1

# Shape flags: which specialised fields were taken out of the node into columns.
F_ID, F_DISPLAY, F_BOUNDARY, F_CHILDREN, F_OUTBOUND = 1, 2, 4, 8, 16
F_STARTED, F_FINISHED, F_HOST, F_RESOURCES, F_NAME = 32, 64, 128, 256, 512
SAME_AS_PREVIOUS = -1  # a children/outbound count: the same list as the previous node's

# Markers inside shape JSON; JSON-escaped NULs cannot collide with a real value's text
# unless it holds a literal NUL, which the encoder checks for.
HASH_MARK = "\x00h"
WF_MARK = "\x00w"
HOLE = "\x00s"
HOLE_JSON = '"\\u0000s"'


class Layout(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """The columns; `version` first so a reader can refuse a layout it does not know."""

    version: int
    workflow: str
    count: int
    lcp: list[int]             # per node: shared prefix with the previous name (-1: no name)
    suffix: list[str]          # per named node: the rest of its name
    shape: list[int]           # per node: index into `shapes`
    shapes: list[tuple[int, list[str], str, int]]  # flags, resource keys, shape JSON, string holes
    boundary: list[int]        # per node with F_BOUNDARY: index of its boundary node
    kids: list[int]            # children then outbound, per flag: count (or -1) and deltas
    started: list[int]         # per F_STARTED node: seconds since the previous start
    finished: list[int]        # per F_FINISHED node: seconds since its start (or the previous start)
    host: list[int]            # per F_HOST node: index into `hosts`
    hosts: list[str]
    resources: list[int]       # per F_RESOURCES node, per key: 2q+1 (q x run time) or 2v
    strings: list[str | int]   # per hole: a string, or an int back-reference within the node
    other_ids: list[str]       # per node without F_ID: its ID as stored
    hashes: bytes              # per F_ID node but the root: the ID's number, uint32 little-endian


_epoch_cache: dict[str, int] = {}
_text_cache: dict[int, str] = {}


def epoch(text: Any) -> int | None:
    """Seconds of a canonical `YYYY-MM-DDTHH:MM:SSZ`, else None (the value stays in the shape)."""
    if type(text) is not str:
        return None
    value = _epoch_cache.get(text)
    if value is not None:
        return value
    if len(text) != 20 or text[10] != "T" or text[19] != "Z":
        return None
    try:
        value = calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None
    if rfc3339(value) != text:  # e.g. a year < 1000 that strftime would pad differently
        return None
    if len(_epoch_cache) > 1 << 16:
        _epoch_cache.clear()
    _epoch_cache[text] = value
    return value


def rfc3339(seconds: int) -> str:
    """Second-resolution UTC RFC3339 of an epoch (cached: a run spans few distinct seconds)."""
    text = _text_cache.get(seconds)
    if text is None:
        if len(_text_cache) > 1 << 16:
            _text_cache.clear()
        text = _text_cache[seconds] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    return text
