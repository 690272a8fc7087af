"""Durations as Argo reads them: Go duration strings (`1h5m30s`, `500ms`) or plain seconds."""
from __future__ import annotations

from tiphys.core.lang._go import go_duration

__all__ = ["parse_duration", "DurationError"]


class DurationError(ValueError):
    pass


def parse_duration(text: str, /) -> float:
    """Seconds in `text`; raises DurationError naming the text when it is neither form."""
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    try:
        return go_duration(s)
    except ValueError:
        raise DurationError(f"invalid duration {text!r}") from None
