"""cowsay and cowthink, built in: what `docker/whalesay` and `argoproj/argosay:v1` have on PATH.

Argo's older examples run `cowsay hello` in images built on `docker/whalesay` (Ubuntu's cowsay
3.03). The node agent has no images, so it puts this module on such pods' PATH. It follows the
Perl program:

- options as `getopts('bde:f:ghlLnNpstT:wW:y')`: `-e` eyes and `-T` tongue (two characters at
  most), the modes `-b -d -g -p -s -t -w -y`, `-f` a cow, `-l` the cows, `-n` no word wrap
  (message from stdin only), `-W` the wrap column (default 40);
- the message is the arguments joined by spaces, else stdin; it is filled as Perl's
  `Text::Wrap::fill` does (paragraphs split at a newline followed by blanks, whitespace
  squeezed, greedy wrap to lines of at most `W - 1` characters, a longer word cut);
- the balloon: one line `< text >`, several `/ \\`, `| |`, `\\ /` (cowthink: `( )`), the text
  padded to the longest line, borders of `_` and `-`.

The cows are `default` (the classic cow) and `docker` (the whale). `docker/whalesay` replaced its
`default.cow` by the whale, so with `whalesay=True` (its pods) `default` is the whale and the
classic cow is `orig-default`, as in that image.

Chosen otherwise: lengths count characters (Perl without `use utf8` counts the bytes of UTF-8
text, so a bubble round an emoji is three columns too wide there), and border lines carry no
trailing blank (cowsay's current output, as the whale's lines lose the trailing blanks of
`docker.cow`). A cow file path in `-f` is not read (cow files are Perl code): only the built-in
cows exist.

Run as `python -m tiphys.executor.cowsay ARGS...`.
"""
from __future__ import annotations

import getopt
import re
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["CowsayError", "COWS", "WHALESAY_COWS", "fill", "balloon", "render", "main"]

_COW = r"""
        {thoughts}   ^__^
         {thoughts}  ({eyes})\_______
            (__)\       )\/\
             {tongue} ||----w |
                ||     ||
"""
_WHALE = "\n".join((  # lines, not one literal: the whale's back is a row of double quotes
    "", "    {thoughts}", "     {thoughts}", "      {thoughts}",
    "                    ##        .",
    "              ## ## ##       ==",
    "           ## ## ## ##      ===",
    '       /""""""""""""""""___/ ===',
    "  ~~~ {{~~ ~~~~ ~~~ ~~~~ ~~ ~   /  ===- ~~~",
    r"       \______ o          __/",
    r"        \    \        __/",
    r"          \____\______/", ""))
COWS = {"default": _COW[1:], "docker": _WHALE[1:]}
WHALESAY_COWS = {"default": _WHALE[1:], "docker": _WHALE[1:], "orig-default": _COW[1:]}
# the face modes, in the order cowsay applies them (a later one wins)
_MODES = (("b", "==", None), ("d", "xx", "U "), ("g", "$$", None), ("p", "@@", None), ("s", "**", "U "),
          ("t", "--", None), ("w", "OO", None), ("y", "..", None))
_PARAGRAPH = re.compile(r"\n\s+")
_END = re.compile(r"\s*\Z")
USAGE = """cow{say,think} version 3.03, (c) 1999 Tony Monroe
Usage: cowsay [-bdgpstwy] [-h] [-e eyes] [-f cowfile]
          [-l] [-n] [-T tongue] [-W wrapcolumn] [message]
"""


class CowsayError(Exception):
    """Bad options or an unknown cow; the message is what cowsay prints before exiting 1."""


def _wrap(text: str, columns: int) -> str:
    """Perl's `Text::Wrap::wrap('', '', text)`: greedy, lines of at most `columns - 1`."""
    width = columns - 1
    fit = re.compile(r"([^\n]{0,%d})(\s|\n+|\Z)" % width)
    cut = re.compile(r"[^\n]{%d}" % width)
    out, nl, remainder, pos = [], "", "", 0
    while not _END.match(text, pos):
        m = fit.match(text, pos)
        if m is not None:
            out.append(nl + m.group(1))
            remainder = m.group(2)
        else:  # a word longer than the line: cut it (`$huge = 'wrap'`)
            m = cut.match(text, pos)
            assert m is not None  # width >= 1 and the text has a character here
            out.append(nl + m.group(0))
            remainder = "\n"
        pos = m.end()
        nl = "\n"
    return "".join(out) + remainder


def fill(lines: Sequence[str], /, *, columns: int = 40) -> list[str]:
    """The message's lines as cowsay fills them (`Text::Wrap::fill('', '', lines)`)."""
    if columns < 2:
        raise CowsayError(f"cowsay: the wrap column must be at least 2, got {columns}")
    paragraphs = _PARAGRAPH.split("\n".join(lines))
    while paragraphs and paragraphs[-1] == "":  # Perl's split drops trailing empty fields
        paragraphs.pop()
    text = "\n\n".join(_wrap(re.sub(r"\s+", " ", p), columns) for p in paragraphs)
    out = text.split("\n")
    while out and out[-1] == "":
        out.pop()
    return out


def balloon(lines: Sequence[str], /, *, think: bool = False) -> str:
    """The speech (or thought) balloon round `lines`."""
    lines = list(lines) or [""]
    width = max(len(line) for line in lines)
    if think:
        borders = [("(", ")")] * len(lines)
    elif len(lines) == 1:
        borders = [("<", ">")]
    else:
        borders = [("/", "\\"), *[("|", "|")] * (len(lines) - 2), ("\\", "/")]
    body = [f"{left} {line.ljust(width)} {right}" for line, (left, right) in zip(lines, borders)]
    return "\n".join([" " + "_" * (width + 2), *body, " " + "-" * (width + 2)]) + "\n"


def render(lines: Sequence[str], /, *, cow: str = "default", eyes: str = "oo", tongue: str = "  ",
           think: bool = False, cows: dict[str, str] = COWS) -> str:
    """Balloon and cow, as cowsay prints them."""
    name = cow.removesuffix(".cow")
    if name not in cows:
        raise CowsayError(f"cowsay: Could not find {cow} cowfile!")
    art = cows[name].format(thoughts="o" if think else "\\", eyes=eyes[:2], tongue=tongue[:2])
    return balloon(lines, think=think) + art


def run(args: Sequence[str], /, *, stdin: TextIO, stdout: TextIO, think: bool = False,
        cows: dict[str, str] = COWS) -> int:
    """One cowsay run; raises CowsayError for what cowsay reports as an error."""
    try:
        opts, rest = getopt.getopt(list(args), "bde:f:ghlLnNpstT:wW:y")
    except getopt.GetoptError as exc:
        raise CowsayError(f"Unknown option: {exc.opt}\n{USAGE}".rstrip("\n")) from None
    given = dict(opts)
    if "-h" in given:
        stdout.write(USAGE)
        return 0
    if "-l" in given:
        stdout.write("Cow files in the tiphys built-in cowpath:\n" + " ".join(sorted(cows)) + "\n")
        return 0
    eyes, tongue = given.get("-e", "oo")[:2], given.get("-T", "  ")[:2]
    for flag, mode_eyes, mode_tongue in _MODES:
        if f"-{flag}" in given:
            eyes, tongue = mode_eyes, mode_tongue or tongue
    try:
        columns = int(given.get("-W", "40"))
    except ValueError:
        raise CowsayError(f"cowsay: -W needs a number, got {given['-W']!r}") from None
    if rest and "-n" in given:  # as cowsay: -n reads stdin only
        raise CowsayError(USAGE.rstrip("\n"))
    if rest and rest[0]:  # Perl's `unless ($ARGV[0])`: an empty first argument reads stdin
        message = [" ".join(rest)]
    else:
        message = stdin.read().splitlines()
    lines = [line.expandtabs(8) for line in message] if "-n" in given else fill(message, columns=columns)
    stdout.write(render(lines, cow=given.get("-f", "default"), eyes=eyes, tongue=tongue, think=think,
                        cows=cows))
    stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None, *, think: bool = False, whalesay: bool = False) -> int:
    """The command: `think` for cowthink, `whalesay` for the cows of the docker/whalesay image."""
    try:
        return run(sys.argv[1:] if argv is None else argv, stdin=sys.stdin, stdout=sys.stdout, think=think,
                   cows=WHALESAY_COWS if whalesay else COWS)
    except CowsayError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
