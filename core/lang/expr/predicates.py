"""expr-lang's predicate builtins: `all any none one filter map find findIndex findLast
findLastIndex count sum groupBy sortBy reduce`.

Each takes the collection and the compiled closure body (`{ # > 1 }`), pushes `(element, index,
accumulator)` for `#`, `#index` and `#acc`, and charges one step per element to the budget.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .values import Fail, type_name, wrap_int

__all__ = ["PREDICATES", "seq", "sort_key", "check_kinds", "order_desc"]

Fn = Callable[..., Any]


def seq(name: str, v: Any) -> list[Any]:
    if type(v) is not list:
        raise Fail(f"{name}: cannot iterate {type_name(v)}")
    return v


def _run(ctx: Any, body: Fn, elem: Any, index: int, acc: Any = None) -> Any:
    ctx.charge()
    ctx.ptr.append((elem, index, acc))
    try:
        return body(ctx)
    finally:
        ctx.ptr.pop()


def _test(name: str, ctx: Any, body: Fn, elem: Any, index: int) -> bool:
    v = _run(ctx, body, elem, index)
    if type(v) is not bool:
        raise Fail(f"{name}: predicate should return bool, got {type_name(v)}")
    return v


def _p_all(ctx: Any, arr: Any, body: Fn) -> bool:
    return all(_test("all", ctx, body, x, i) for i, x in enumerate(seq("all", arr)))


def _p_any(ctx: Any, arr: Any, body: Fn) -> bool:
    return any(_test("any", ctx, body, x, i) for i, x in enumerate(seq("any", arr)))


def _p_none(ctx: Any, arr: Any, body: Fn) -> bool:
    return not any(_test("none", ctx, body, x, i) for i, x in enumerate(seq("none", arr)))


def _p_one(ctx: Any, arr: Any, body: Fn) -> bool:
    return sum(_test("one", ctx, body, x, i) for i, x in enumerate(seq("one", arr))) == 1


def _p_filter(ctx: Any, arr: Any, body: Fn) -> list[Any]:
    return [x for i, x in enumerate(seq("filter", arr)) if _test("filter", ctx, body, x, i)]


def _p_map(ctx: Any, arr: Any, body: Fn) -> list[Any]:
    return [_run(ctx, body, x, i) for i, x in enumerate(seq("map", arr))]


def _p_find(ctx: Any, arr: Any, body: Fn) -> Any:
    for i, x in enumerate(seq("find", arr)):
        if _test("find", ctx, body, x, i):
            return x
    return None


def _p_find_index(ctx: Any, arr: Any, body: Fn) -> int | None:
    for i, x in enumerate(seq("findIndex", arr)):
        if _test("findIndex", ctx, body, x, i):
            return i
    return None  # expr v1.17 yields nil, not -1, when nothing matches


def _p_find_last(ctx: Any, arr: Any, body: Fn) -> Any:
    items = seq("findLast", arr)
    for i in range(len(items) - 1, -1, -1):
        if _test("findLast", ctx, body, items[i], i):
            return items[i]
    return None


def _p_find_last_index(ctx: Any, arr: Any, body: Fn) -> int | None:
    items = seq("findLastIndex", arr)
    for i in range(len(items) - 1, -1, -1):
        if _test("findLastIndex", ctx, body, items[i], i):
            return i
    return None


def _p_count(ctx: Any, arr: Any, body: Fn | None = None) -> int:
    items = seq("count", arr)
    if body is None:
        return sum(1 for x in items if x is True)
    return sum(1 for i, x in enumerate(items) if _test("count", ctx, body, x, i))


def _add_all(values: list[Any]) -> Any:
    total: Any = 0
    for v in values:
        if type(v) not in (int, float):
            raise Fail(f"sum: invalid operation on {type_name(v)}")
        total = wrap_int(total + v) if type(total) is int and type(v) is int else float(total) + v
    return total


def _p_sum(ctx: Any, arr: Any, body: Fn | None = None) -> Any:
    items = seq("sum", arr)
    if body is not None:
        items = [_run(ctx, body, x, i) for i, x in enumerate(items)]
    return _add_all(items)


def _p_group_by(ctx: Any, arr: Any, body: Fn) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for i, x in enumerate(seq("groupBy", arr)):
        key = _run(ctx, body, x, i)
        if type(key) not in (str, int, float, bool) and key is not None:
            raise Fail(f"groupBy: cannot use {type_name(key)} as map key")
        out.setdefault(key, []).append(x)
    return out


def sort_key(v: Any) -> Any:
    if type(v) in (int, float):
        return (0, v, "")
    if type(v) is str:
        return (1, 0, v)
    raise Fail(f"sort: cannot compare {type_name(v)}")


def check_kinds(values: list[Any]) -> None:
    kinds = {0 if type(v) in (int, float) else 1 for v in values}
    if len(kinds) > 1:
        raise Fail("sort: mixed types")


def order_desc(order: Any) -> bool:
    if order not in ("asc", "desc"):
        raise Fail(f'unknown order {order!r}, use "asc" or "desc"')
    return order == "desc"


def _p_sort_by(ctx: Any, arr: Any, body: Fn, order: Any = "asc") -> list[Any]:
    items = seq("sortBy", arr)
    keys = [_run(ctx, body, x, i) for i, x in enumerate(items)]
    check_kinds(keys)
    ctx.charge(len(items))
    pairs = sorted(zip((sort_key(k) for k in keys), range(len(items))), reverse=order_desc(order))
    return [items[i] for _, i in pairs]


def _p_reduce(ctx: Any, arr: Any, body: Fn, *init: Any) -> Any:
    items = seq("reduce", arr)
    if init:
        acc, start = init[0], 0
    elif items:
        acc, start = items[0], 1
    else:
        raise Fail("reduce of empty array with no initial value")
    for i in range(start, len(items)):
        acc = _run(ctx, body, items[i], i, acc)
    return acc


PREDICATES: dict[str, Fn] = {
    "all": _p_all, "any": _p_any, "none": _p_none, "one": _p_one, "filter": _p_filter,
    "map": _p_map, "find": _p_find, "findIndex": _p_find_index, "findLast": _p_find_last,
    "findLastIndex": _p_find_last_index, "count": _p_count, "sum": _p_sum,
    "groupBy": _p_group_by, "sortBy": _p_sort_by, "reduce": _p_reduce,
}
