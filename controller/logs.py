"""Structured logs for the controller process: one JSON object per line, or readable text.

The controller logs through the standard `logging` module everywhere (`logging.getLogger(
"tiphys.<part>")`); this module only decides how records leave the process. `configure(
format="json")` installs a formatter that writes `{"time", "level", "logger", "msg", ...}` with
every `extra=` field of the record merged in, so `_log.info("lease acquired", extra={"lease":
name})` becomes `{"msg": "lease acquired", "lease": "..."}` — the shape log collectors index
without parsing. structlog is not a dependency: the formatter is twenty lines on `logging`.

A `LevelCounter` handler counts records by level for the `log_messages` metric Argo exports
(the Grafana dashboard plots its rate).
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from typing import IO, Literal

__all__ = ["JsonFormatter", "LevelCounter", "configure", "LOG_FORMATS"]

LOG_FORMATS = ("json", "text")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _iso(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int((created % 1) * 1_000_000):06d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, µs, UTC), level, logger, msg, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"time": _iso(record.created), "level": record.levelname.lower(),
                                    "logger": record.name, "msg": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class _TextFormatter(logging.Formatter):
    """`time level logger: msg key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items()
                          if k not in _STANDARD and not k.startswith("_"))
        line = f"{_iso(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += " " + extras
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LevelCounter(logging.Handler):
    """Counts every record that reaches the root logger, by lower-case level name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname.lower()] += 1


def configure(*, format: Literal["json", "text"] = "json", level: int = logging.INFO,
              stream: IO[str] | None = None) -> LevelCounter:
    """Route the root logger to `stream` (stderr) in `format`; returns the level counter."""
    if format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {format!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tiphys", False):
            root.removeHandler(handler)
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(JsonFormatter() if format == "json" else _TextFormatter())
    counter = LevelCounter()
    for handler in (out, counter):
        handler._tiphys = True  # type: ignore[attr-defined]  # ours to replace on reconfigure
        root.addHandler(handler)
    root.setLevel(level)
    return counter
