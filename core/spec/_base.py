"""The base of every spec Struct and the few scalar types the schema cannot express."""
from __future__ import annotations

from typing import Any, Union

import msgspec

# Go's `AnyString` accepts a JSON string, number or bool and reads it as text; we keep the
# written type so a round trip is lossless, and render it with `as_text` where Argo would.
AnyString = Union[str, int, float, bool]
IntOrString = Union[int, str]
Quantity = Union[str, int, float]
Number = Union[int, float]


class _Base(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, repr_omit_defaults=True):
    """Every spec object: keyword-only, immutable, absent fields omitted when encoded."""


def as_text(value: Any) -> str:
    """Render an AnyString the way Go's AnyString.String() does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
