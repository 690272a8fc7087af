r"""Tokeniser for the expr-lang subset (github.com/expr-lang/expr v1.17, `parser/lexer`).

Tokens are plain tuples `(kind, value, column)` with a 1-based column. Kinds: `num` (int or
float), `str`, `name` (identifiers, incl. `$`/`_`), `op` (operators and keyword operators such as
`and`, `in`, `matches`), `bracket` (`( ) [ ] { }`), `punct` (`, : ? ?. . #`), `eof`.
String literals follow Go's escapes (`\n`, `\t`, `\xNN`, `\uNNNN`, octal `\101`); backtick
strings are raw. Numbers accept `_` separators, `0x`/`0o`/`0b` prefixes and exponents.
"""
from __future__ import annotations

from ..errors import ExprSyntaxError

__all__ = ["Token", "tokenize", "KEYWORD_OPS"]

Token = tuple[str, object, int]

KEYWORD_OPS = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith",
                         "endsWith", "let"})
_OPS2 = ("==", "!=", "<=", ">=", "&&", "||", "**", "??", "?.", "..")
_OPS1 = "+-*/%^<>!|=;"
_PUNCT = ",:?.#"
_BRACKETS = "()[]{}"
_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", "'": "'", '"': '"', "`": "`"}


def _is_ident_start(c: str) -> bool:
    return c.isalpha() or c in "_$"


def _is_ident_part(c: str) -> bool:
    return c.isalnum() or c in "_$"


def tokenize(src: str, /) -> list[Token]:
    """Split `src` into tokens or raise `ExprSyntaxError` naming the column."""
    toks: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise ExprSyntaxError("unclosed comment", source=src, column=i + 1)
            i = j + 2
            continue
        if c.isdigit() and c.isascii():
            i = _number(src, i, toks)
            continue
        if c in "'\"":
            i = _string(src, i, toks)
            continue
        if c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise ExprSyntaxError("literal not terminated", source=src, column=i + 1)
            toks.append(("str", src[i + 1:j], i + 1))
            i = j + 1
            continue
        if _is_ident_start(c):
            j = i + 1
            while j < n and _is_ident_part(src[j]):
                j += 1
            word = src[i:j]
            toks.append(("op" if word in KEYWORD_OPS else "name", word, i + 1))
            i = j
            continue
        if c == "#":
            j = i + 1
            while j < n and _is_ident_part(src[j]):
                j += 1
            toks.append(("pointer", src[i + 1:j], i + 1))
            i = j
            continue
        two = src[i:i + 2]
        if two in _OPS2:
            if two == "?." and i + 2 < n and src[i + 2].isdigit():
                toks.append(("punct", "?", i + 1))  # `a ?.5 : 1` is a ternary, not `?.`
                i += 1
                continue
            toks.append(("punct" if two in ("?.",) else "op", two, i + 1))
            i += 2
            continue
        if c in _BRACKETS:
            toks.append(("bracket", c, i + 1))
        elif c in _PUNCT:
            toks.append(("punct", c, i + 1))
        elif c in _OPS1:
            toks.append(("op", c, i + 1))
        else:
            raise ExprSyntaxError(f"unrecognized character: {c!r}", source=src, column=i + 1)
        i += 1
    toks.append(("eof", None, max(n, 1)))  # expr reports end of input at the last column
    return toks


def _number(src: str, i: int, toks: list[Token]) -> int:
    n = len(src)
    start = i
    if src.startswith(("0x", "0X", "0o", "0O", "0b", "0B"), i):
        j = i + 2
        while j < n and (src[j].isalnum() or src[j] == "_"):
            j += 1
        text = src[i:j]
        try:
            value = int(text.replace("_", ""), 0)
        except ValueError:
            raise ExprSyntaxError(f"invalid number literal {text}", source=src, column=i + 1) from None
        toks.append(("num", value, i + 1))
        return j
    j = i
    is_float = False
    while j < n and (src[j].isdigit() and src[j].isascii() or src[j] == "_"):
        j += 1
    # A dot starts a fraction unless it begins `..` (range) or a member name (`1.foo` is invalid anyway).
    if j < n and src[j] == "." and not src.startswith("..", j):
        is_float = True
        j += 1
        while j < n and (src[j].isdigit() and src[j].isascii() or src[j] == "_"):
            j += 1
    if j < n and src[j] in "eE":
        k = j + 1
        if k < n and src[k] in "+-":
            k += 1
        if k < n and src[k].isdigit() and src[k].isascii():
            is_float = True
            j = k
            while j < n and src[j].isdigit() and src[j].isascii():
                j += 1
    if j < n and _is_ident_part(src[j]):
        raise ExprSyntaxError(f"bad number syntax: {src[start:j + 1]!r}", source=src, column=start + 1)
    text = src[start:j]
    if text.endswith("_") or "__" in text or "_." in text or "._" in text:
        raise ExprSyntaxError(f"invalid number literal {text}", source=src, column=start + 1)
    clean = text.replace("_", "")
    try:
        value: object = float(clean) if is_float else int(clean)
    except ValueError:
        raise ExprSyntaxError(f"invalid number literal {text}", source=src, column=start + 1) from None
    if isinstance(value, int) and not -(2 ** 63) <= value < 2 ** 63:
        raise ExprSyntaxError(f"integer literal {text} overflows int", source=src, column=start + 1)
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        raise ExprSyntaxError(f"float literal {text} out of range", source=src, column=start + 1)
    toks.append(("num", value, start + 1))
    return j


def _string(src: str, i: int, toks: list[Token]) -> int:
    quote = src[i]
    n = len(src)
    j = i + 1
    buf: list[str] = []
    while True:
        if j >= n:
            raise ExprSyntaxError("literal not terminated", source=src, column=n + 1)
        c = src[j]
        if c == quote:
            break
        if c == "\n":
            raise ExprSyntaxError("literal not terminated", source=src, column=j + 1)
        if c != "\\":
            buf.append(c)
            j += 1
            continue
        if j + 1 >= n:
            raise ExprSyntaxError("literal not terminated", source=src, column=n + 1)
        e = src[j + 1]
        if e in _SIMPLE_ESC:
            buf.append(_SIMPLE_ESC[e])
            j += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = src[j + 2:j + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ExprSyntaxError("invalid char escape", source=src, column=j + 1)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ExprSyntaxError("escape sequence is invalid Unicode code point",
                                      source=src, column=j + 1)
            buf.append(chr(code))
            j += 2 + width
        elif e in "01234567":
            digits = src[j + 1:j + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ExprSyntaxError("invalid char escape", source=src, column=j + 1)
            buf.append(chr(int(digits, 8)))
            j += 4
        else:
            raise ExprSyntaxError("invalid char escape", source=src, column=j + 2)
    toks.append(("str", "".join(buf), i + 1))
    return j + 1
