"""Loops: `withItems`, `withParam`, `withSequence`, expanded node names and output aggregation.

`expand_items(items)` turns the loop's list into `LoopItem`s that carry exactly what Argo derives
from each item (`operator.go: processItem`, §3.8): the scope entries `item` / `item.<key>`
(strings as-is, numbers and booleans as JSON text, maps and lists as compact JSON: the item's
own keys sorted, nested values kept as written, since Go holds each nested value as raw JSON)
and the description used in the node name `name(index:description)` (strings JSON-escaped with
`<>&` kept, maps as `k:v` pairs sorted by that text and joined by `,`, lists as Go prints them:
`[a b 3]`), with every `(` and `)` removed.

`parse_with_param` decodes the substituted `withParam` text keeping numbers as written (Go keeps
the raw JSON of each item). `expand_sequence` follows `expandSequence`: integers (strings allowed),
`count` or `end`, descending when start > end, each value rendered by the Go printf `format` as a
string item.

`aggregate_outputs` builds the `<prefix>.outputs.result` / `.outputs.parameters` /
`.outputs.parameters.<p>` scope entries of a finished loop from its Succeeded children in index
order (`processAggregateNodeOutputs`).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from ._go import RawJSON, RawObject, format_float_json, go_json, go_sprintf_int, load_raw
from .errors import LoopError

__all__ = ["LoopItem", "LoopChild", "expand_items", "parse_with_param", "expand_sequence",
           "item_scope", "item_description", "loop_node_name", "aggregate_outputs",
           "MAX_LOOP_ITEMS"]

MAX_LOOP_ITEMS = 100_000  # a loop larger than this is refused rather than expanded


class LoopItem(msgspec.Struct, frozen=True):
    """One expanded item: its index, the value, the `item*` scope entries and the node-name part."""

    index: int
    value: Any
    scope: dict[str, str]
    description: str

    def node_name(self, name: str, /) -> str:
        return f"{name}({self.index}:{self.description})"


class LoopChild(msgspec.Struct, frozen=True):
    """A loop child node as aggregation needs it."""

    index: int
    phase: str
    result: str | None = None
    parameters: dict[str, str] = {}
    hooked: bool = False


def _scalar_text(v: Any) -> str:
    if isinstance(v, RawJSON):
        return str(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        try:
            return format_float_json(v)
        except ValueError:
            raise LoopError(f"loop item {v!r} is not a JSON number") from None
    raise LoopError(f"unsupported loop item type {type(v).__name__}")


def _is_map(v: Any) -> bool:
    return isinstance(v, (dict, RawObject))


def _pairs(v: Any) -> list[tuple[str, Any]]:
    return list(v.pairs) if isinstance(v, RawObject) else list(v.items())


def _value_text(v: Any, *, top: bool = True) -> str:
    """`{{item}}` (top) / `{{item.k}}` text: strings unquoted, everything else JSON — the item's
    own map with sorted keys, nested values in the order they were written (raw JSON)."""
    if isinstance(v, str) and not isinstance(v, RawJSON):
        return v
    if isinstance(v, (list, tuple)) or _is_map(v):
        return go_json(_sorted(v) if top else _raw(v))
    if v is None:
        return "null"
    return _scalar_text(v)


def _sorted(v: Any) -> Any:
    """Go's view of an item: the top-level map is `map[string]Item` (marshalled with sorted keys)
    while every nested value is an `Item` holding raw JSON, which keeps its key order."""
    if _is_map(v):
        return {k: _raw(x) for k, x in _pairs(v)}
    if isinstance(v, (list, tuple)):
        return [_raw(x) for x in v]
    return v


def _raw(v: Any) -> Any:
    if _is_map(v):
        return RawObject([(k, _raw(x)) for k, x in _pairs(v)])
    if isinstance(v, (list, tuple)):
        return [_raw(x) for x in v]
    return v


def _desc_scalar(v: Any) -> str:
    """Item.String(): the JSON text, string quotes stripped, `<>&` left readable."""
    if isinstance(v, str) and not isinstance(v, RawJSON):
        return json.dumps(v, ensure_ascii=False)[1:-1]
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)) or _is_map(v):
        return go_json(_raw(v), html=False)  # a nested Item prints its raw JSON
    return _scalar_text(v)


def item_description(value: Any, /) -> str:
    """The part of the node name that describes a loop item (before removing parentheses)."""
    if _is_map(value):
        return ",".join(sorted(f"{k}:{_desc_scalar(v)}" for k, v in _pairs(value)))
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_desc_scalar(v) for v in value) + "]"
    return _desc_scalar(value)


def item_scope(value: Any, /) -> dict[str, str]:
    """`item` and, for maps, `item.<key>` scope entries."""
    if value is None:
        raise LoopError("loop items must not be null")
    scope = {"item": _value_text(value)}
    if _is_map(value):
        for k, v in _pairs(value):
            scope[f"item.{k}"] = _value_text(v, top=False)
    return scope


def loop_node_name(name: str, index: int, value: Any, /) -> str:
    """`name(index:description)` with parentheses removed from the description."""
    desc = item_description(value).replace("(", "").replace(")", "")
    return f"{name}({index}:{desc})"


def expand_items(items: Sequence[Any], /) -> list[LoopItem]:
    """Expand a `withItems` list (or a decoded `withParam` list)."""
    if not isinstance(items, (list, tuple)):
        raise LoopError(f"loop items must be a list, got {type(items).__name__}")
    if len(items) > MAX_LOOP_ITEMS:
        raise LoopError(f"loop has {len(items)} items, more than the {MAX_LOOP_ITEMS} allowed")
    out = []
    for i, v in enumerate(items):
        desc = item_description(v).replace("(", "").replace(")", "")
        out.append(LoopItem(i, v, item_scope(v), desc))
    return out


def parse_with_param(text: str, /) -> list[Any]:
    """Decode a substituted `withParam` value; it must be a JSON list."""
    try:
        value = load_raw(text)
    except (ValueError, RecursionError) as exc:
        raise LoopError(f"withParam value could not be parsed as a JSON list: {text[:200]}: {exc}") from None
    if value is None:
        # Go's json.Unmarshal of `null` into the item slice leaves it nil without an error: no
        # items (a data template's empty listing is `null`, Go's nil slice)
        return []
    if not isinstance(value, list):
        raise LoopError(f"withParam value could not be parsed as a JSON list: {text[:200]}")
    return value


def _atoi(field: str, v: Any) -> int:
    if isinstance(v, bool):
        raise LoopError(f"withSequence.{field}: {v!r} is not an integer")
    if isinstance(v, int):
        return v
    text = str(v)
    if not text.strip() or text != text.strip() or not text.lstrip("+-").isdigit() or not text.isascii():
        raise LoopError(f'withSequence.{field}: strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def expand_sequence(*, count: Any = None, start: Any = None, end: Any = None,
                    format: str = "") -> list[str]:
    """`withSequence` items as strings (Argo `expandSequence`)."""
    first = _atoi("start", start) if start is not None else 0
    if end is not None:
        last = _atoi("end", end)
    elif count is not None:
        n = _atoi("count", count)
        if n == 0:
            return []
        last = first + n - 1
    else:
        raise LoopError("neither end nor count was specified in withSequence")
    if abs(last - first) + 1 > MAX_LOOP_ITEMS:
        raise LoopError(f"withSequence expands to more than {MAX_LOOP_ITEMS} items")
    step = 1 if first <= last else -1
    fmt = format or "%d"
    out = []
    for i in range(first, last + step, step):
        text = go_sprintf_int(fmt, i)
        # Argo re-parses `"` + text + `"` as a JSON string item
        if any(c in text for c in '"\\') or any(ord(c) < 0x20 for c in text):
            raise LoopError(f"withSequence format {fmt!r} produced {text!r}, not a valid JSON string")
        out.append(text)
    return out


def _json_list_of_objects(values: list[str]) -> list[Any] | None:
    parsed = []
    for v in values:
        try:
            x = json.loads(v, parse_int=float)
        except (ValueError, RecursionError):
            return None
        if not isinstance(x, (list, dict)):
            return None
        parsed.append(x)
    return parsed


def aggregate_outputs(prefix: str, children: Iterable[LoopChild], /) -> dict[str, str]:
    """Scope entries for a finished loop's aggregated outputs (`prefix` = `steps.<s>` / `tasks.<t>`)."""
    kids = sorted((c for c in children if not c.hooked), key=lambda c: c.index)
    if not kids:
        return {}
    params: list[dict[str, str]] = []
    per_name: dict[str, list[str]] = {}
    results: list[Any] = []
    for child in kids:
        if child.phase != "Succeeded":
            continue
        if child.parameters:
            params.append(dict(child.parameters))
            for name, value in child.parameters.items():
                per_name.setdefault(name, []).append(value)
        if child.result is not None:
            try:
                results.append(load_raw(child.result))
            except (ValueError, RecursionError):
                raise LoopError(
                    f"{prefix}: cannot aggregate outputs.result of child {child.index}: "
                    f"{child.result[:100]!r} is not valid JSON") from None
    out = {f"{prefix}.outputs.result": go_json(results),
           f"{prefix}.outputs.parameters": go_json(params)}
    for name, values in per_name.items():
        objects = _json_list_of_objects(values)
        out[f"{prefix}.outputs.parameters.{name}"] = go_json(objects if objects is not None else values)
    return out
