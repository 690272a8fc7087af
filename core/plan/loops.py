"""Which loop, if any, a substituted step or task carries, expanded into (description, item scope)."""
from __future__ import annotations

from tiphys.core.lang.errors import LoopError
from tiphys.core.lang.loops import expand_items, expand_sequence, parse_with_param

__all__ = ["expand", "LoopError"]


def expand(body: dict, /) -> list[tuple[str, dict]] | None:
    """None when the step has no loop; else one (description, scope) per item, in order."""
    if body.get("withItems") is not None:
        items = expand_items(body["withItems"])
    elif body.get("withParam") is not None:
        param = body["withParam"]
        items = expand_items(param if isinstance(param, list) else parse_with_param(str(param)))
    elif body.get("withSequence") is not None:
        seq = body["withSequence"] or {}
        items = expand_items(expand_sequence(count=seq.get("count"), start=seq.get("start"), end=seq.get("end"),
                                             format=seq.get("format") or ""))
    else:
        return None
    return [(item.description, item.scope) for item in items]
