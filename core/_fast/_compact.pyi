"""Type stubs for the compact codec's Cython loops (see tiphys.core.status._compact_encode/_decode)."""
from collections.abc import Callable
from typing import Any

FLAGS: dict[str, int]
MARKERS: dict[str, str]

def rows(keys: list[str], nodes: list[Any], workflow: str, wf_json: str, absent: object, encoder: Any,
         fallback: Callable[[str, Any], tuple], cache: tuple[list[str], list[Any], list[Any]] | None = None,
         /) -> tuple[list[Any], tuple[list[str], list[Any], list[Any]]]: ...
def columns(keys: list[str], rows: list[tuple], workflow: str, absent: object,
            with_fields: Callable[[str, list[tuple[str, Any]], str | None], str], raw: Callable[[bytes], Any],
            /) -> tuple: ...
def _msgpack_ints(values: list[int], /) -> bytes: ...
def stamp(layout: Any, shapes: list[tuple], attrs: tuple[str, ...], replace: Callable[..., Any],
          decode_one: Callable[[str], Any], rfc3339: Callable[[int], str], text_cache: dict[int, str],
          hash_mark: str, /) -> tuple[list[str], list[Any]]: ...
