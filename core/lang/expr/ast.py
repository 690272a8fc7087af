"""AST of the expr-lang subset, its canonical printer and Argo's identifier collection.

Nodes are frozen msgspec Structs; every node records `pos`, the 1-based column where it starts, so
evaluation errors can name the place. `to_source(node)` prints a fully parenthesised expression
that parses back to the same tree (the property tests check `parse(print(t)) == t` up to `pos`).

`identifiers(node)` mirrors how Argo decides whether an `{{= }}` tag can be evaluated yet: every
member chain rooted at an environment name and made of constant names/keys becomes one dotted
path (`steps['a-b'].outputs.result` → `steps.a-b.outputs.result`); paths under the left side of
`??` or containing `?.` are marked `guarded` and are not required to exist.
"""
from __future__ import annotations

import json
from typing import Union

import msgspec

__all__ = [
    "Node", "Nil", "Bool", "Int", "Float", "Str", "Ident", "Pointer", "Unary", "Binary",
    "Conditional", "Member", "Slice", "Call", "Closure", "Array", "MapLit", "Let", "IdentRef",
    "to_source", "identifiers", "shape",
]


class Nil(msgspec.Struct, frozen=True):
    pos: int = 0


class Bool(msgspec.Struct, frozen=True):
    value: bool
    pos: int = 0


class Int(msgspec.Struct, frozen=True):
    value: int
    pos: int = 0


class Float(msgspec.Struct, frozen=True):
    value: float
    pos: int = 0


class Str(msgspec.Struct, frozen=True):
    value: str
    pos: int = 0


class Ident(msgspec.Struct, frozen=True):
    name: str
    pos: int = 0


class Pointer(msgspec.Struct, frozen=True):
    """`#` (current element), `#index`, `#acc` inside predicates."""

    name: str = ""
    pos: int = 0


class Unary(msgspec.Struct, frozen=True):
    op: str
    operand: "Node"
    pos: int = 0


class Binary(msgspec.Struct, frozen=True):
    op: str
    left: "Node"
    right: "Node"
    pos: int = 0


class Conditional(msgspec.Struct, frozen=True):
    cond: "Node"
    then: "Node"
    other: "Node"
    pos: int = 0


class Member(msgspec.Struct, frozen=True):
    """`obj.name`, `obj[prop]`, and their optional forms `obj?.name`, `obj?.[prop]`."""

    obj: "Node"
    prop: "Node"
    optional: bool = False
    pos: int = 0


class Slice(msgspec.Struct, frozen=True):
    obj: "Node"
    lo: Union["Node", None] = None
    hi: Union["Node", None] = None
    pos: int = 0


class Call(msgspec.Struct, frozen=True):
    callee: "Node"
    args: tuple["Node", ...] = ()
    pos: int = 0


class Closure(msgspec.Struct, frozen=True):
    body: "Node"
    pos: int = 0


class Array(msgspec.Struct, frozen=True):
    items: tuple["Node", ...] = ()
    pos: int = 0


class MapLit(msgspec.Struct, frozen=True):
    pairs: tuple[tuple["Node", "Node"], ...] = ()
    pos: int = 0


class Let(msgspec.Struct, frozen=True):
    name: str
    value: "Node"
    body: "Node"
    pos: int = 0


Node = Union[Nil, Bool, Int, Float, Str, Ident, Pointer, Unary, Binary, Conditional, Member,
             Slice, Call, Closure, Array, MapLit, Let]

_WORD_OPS = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"})
_RESERVED = _WORD_OPS | {"let", "nil", "true", "false"}


def _quote(s: str) -> str:
    # JSON escaping is valid expr-lang (Go) escaping for double-quoted strings.
    return json.dumps(s, ensure_ascii=False)


def _is_name(s: str) -> bool:
    return (bool(s) and (s[0].isalpha() or s[0] in "_$")
            and all(c.isalnum() or c in "_$" for c in s) and s not in _RESERVED)


def to_source(node: Node, /) -> str:
    """Canonical, fully parenthesised source for `node`."""
    t = type(node)
    if t is Nil:
        return "nil"
    if t is Bool:
        return "true" if node.value else "false"
    if t is Int:
        return str(node.value)
    if t is Float:
        return repr(node.value)
    if t is Str:
        return _quote(node.value)
    if t is Ident:
        return node.name
    if t is Pointer:
        return "#" + node.name
    if t is Unary:
        sep = " " if node.op == "not" else ""
        return f"({node.op}{sep}{to_source(node.operand)})"
    if t is Binary:
        return f"({to_source(node.left)} {node.op} {to_source(node.right)})"
    if t is Conditional:
        return f"({to_source(node.cond)} ? {to_source(node.then)} : {to_source(node.other)})"
    if t is Member:
        obj = _postfix_base(node.obj)
        prop = node.prop
        if type(prop) is Str and _is_name(prop.value):
            return f"{obj}{'?.' if node.optional else '.'}{prop.value}"
        return f"{obj}{'?.' if node.optional else ''}[{to_source(prop)}]"
    if t is Slice:
        lo = "" if node.lo is None else to_source(node.lo)
        hi = "" if node.hi is None else to_source(node.hi)
        return f"{_postfix_base(node.obj)}[{lo}:{hi}]"
    if t is Call:
        return f"{_postfix_base(node.callee)}({', '.join(to_source(a) for a in node.args)})"
    if t is Closure:
        return "{" + to_source(node.body) + "}"
    if t is Array:
        return "[" + ", ".join(to_source(i) for i in node.items) + "]"
    if t is MapLit:
        parts = []
        for k, v in node.pairs:
            key = _quote(k.value) if type(k) is Str else f"({to_source(k)})"
            parts.append(f"{key}: {to_source(v)}")
        return "{" + ", ".join(parts) + "}"
    if t is Let:
        return f"(let {node.name} = {to_source(node.value)}; {to_source(node.body)})"
    raise TypeError(f"not an expr node: {node!r}")


def _postfix_base(node: Node) -> str:
    text = to_source(node)
    if type(node) in (Int, Float, Closure, MapLit):
        return f"({text})"
    return text


def shape(node: object, /) -> object:
    """The node as nested tuples without positions (structural comparison in tests)."""
    if isinstance(node, tuple):
        return tuple(shape(x) for x in node)
    if isinstance(node, msgspec.Struct):
        return (type(node).__name__,) + tuple(
            shape(getattr(node, f)) for f in node.__struct_fields__ if f != "pos")
    return node


class IdentRef(msgspec.Struct, frozen=True):
    """One environment path read by an expression."""

    path: str
    column: int
    guarded: bool = False


def identifiers(node: Node, /) -> tuple[IdentRef, ...]:
    """Environment paths the expression reads (see module docstring)."""
    out: list[IdentRef] = []
    _collect(node, out, False, frozenset())
    return tuple(out)


def _chain(node: Node) -> tuple[list[str], bool, Node | None, list[Node]]:
    """Split a member chain: (constant path from an Ident root, optional?, root, dynamic props)."""
    props: list[Node] = []
    optional = False
    cur = node
    while type(cur) is Member:
        props.append(cur.prop)
        optional = optional or cur.optional
        cur = cur.obj
    props.reverse()
    if type(cur) is not Ident:
        return [], optional, cur, props
    path = [cur.name]
    rest: list[Node] = []
    for i, p in enumerate(props):
        if type(p) is Str:
            path.append(p.value)
        else:
            rest = props[i:]
            break
    return path, optional, cur, rest


def _collect(node: Node, out: list[IdentRef], guarded: bool, bound: frozenset[str]) -> None:
    t = type(node)
    if t is Ident:
        if node.name not in bound:
            out.append(IdentRef(node.name, node.pos, guarded))
        return
    if t is Member:
        path, optional, root, rest = _chain(node)
        if type(root) is Ident:
            if root.name not in bound:
                out.append(IdentRef(".".join(path), root.pos, guarded or optional))
        else:
            _collect(root, out, guarded, bound)
            # props of the chain may themselves read variables
            cur = node
            while type(cur) is Member:
                _collect(cur.prop, out, guarded, bound)
                cur = cur.obj
            return
        for p in rest:
            _collect(p, out, guarded, bound)
        return
    if t is Binary and node.op == "??":
        _collect(node.left, out, True, bound)
        _collect(node.right, out, guarded, bound)
        return
    if t is Call:
        callee = node.callee
        if type(callee) is Member:
            _collect(callee.obj, out, guarded, bound)  # `sprig.upper(...)`, `(a - b).Seconds()`
        elif type(callee) is not Ident:
            _collect(callee, out, guarded, bound)
        for a in node.args:
            _collect(a, out, guarded, bound)
        return
    if t is Let:
        _collect(node.value, out, guarded, bound)
        _collect(node.body, out, guarded, bound | {node.name})
        return
    for f in node.__struct_fields__:
        child = getattr(node, f)
        if isinstance(child, msgspec.Struct):
            _collect(child, out, guarded, bound)
        elif isinstance(child, tuple):
            for c in child:
                if isinstance(c, tuple):
                    for cc in c:
                        _collect(cc, out, guarded, bound)
                else:
                    _collect(c, out, guarded, bound)
