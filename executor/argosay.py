"""argosay: Argo's test image (`argoproj/argosay:v2`), built in.

Argo's examples and e2e tests run `argosay` verbs; with this module a local run needs no image:

    echo                      print "hello argo"
    echo TEXT                 print TEXT
    echo TEXT FILE            write TEXT (no newline added) to FILE, creating its directory
    cat FILE...               copy each FILE to stdout
    sleep DURATION            sleep for a Go duration (`10s`, `1m30s`, `500ms`)
    exit [CODE]               exit with CODE (default 0)
    assert_contains FILE STR  fail unless FILE contains STR
    assert_equals FILE STR    fail unless FILE's content, less one trailing newline, equals STR
                              (a tiphys addition for tests; not in argosay v2)

No verb means `echo`. Errors print to stderr and exit 1, as the Go program does.
Run as `python -m tiphys.executor.argosay VERB ARGS...`.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tiphys.core.lang._go import go_duration as parse_go_duration

__all__ = ["ArgosayError", "main", "parse_duration", "run"]

USAGE = ("usage: argosay [assert_contains file string|assert_equals file string|cat [file...]|"
         "echo [string] [file]|exit [code]|sleep duration]")



class ArgosayError(Exception):
    """A verb failed; the message is what argosay prints before exiting 1."""


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def parse_duration(text: str, /) -> float:
    """Seconds in a Go duration string (`time.ParseDuration`)."""
    try:
        return parse_go_duration(text)
    except ValueError as exc:
        raise ArgosayError(str(exc)) from exc


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ArgosayError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from exc


def run(args: Sequence[str], /, *, stdout: TextIO | None = None) -> int:
    """Run one argosay command; returns its exit code (errors raise ArgosayError)."""
    out = stdout if stdout is not None else sys.stdout
    args = list(args) or ["echo"]
    verb, rest = args[0], args[1:]
    try:
        if verb == "echo":
            if len(rest) == 0:
                print("hello argo", file=out)
            elif len(rest) == 1:
                print(rest[0], file=out)
            elif len(rest) == 2:
                f = Path(rest[1])
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(rest[0])
            else:
                raise ArgosayError("usage: argosay echo [string] [file]")
        elif verb == "cat":
            for path in rest:
                out.write(_read(path))
            out.flush()
        elif verb == "sleep":
            if len(rest) != 1:
                raise ArgosayError("usage: argosay sleep duration")
            time.sleep(max(0.0, parse_duration(rest[0])))
        elif verb == "exit":
            if len(rest) > 1:
                raise ArgosayError("usage: argosay exit [code]")
            try:
                raise _Exit(int(rest[0]) if rest else 0)
            except ValueError as exc:
                raise ArgosayError(f'strconv.Atoi: parsing "{rest[0]}": invalid syntax') from exc
        elif verb in ("assert_contains", "assert_equals"):
            if len(rest) != 2:
                raise ArgosayError(f"usage: {verb} file string")
            data = _read(rest[0])
            if verb == "assert_contains" and rest[1] not in data:
                raise ArgosayError(f'expected "{rest[0]}" to contain "{rest[1]}"')
            if verb == "assert_equals" and data.removesuffix("\n") != rest[1]:
                raise ArgosayError(f'expected "{rest[0]}" to equal "{rest[1]}", got "{data}"')
        else:
            raise ArgosayError(USAGE)
    except _Exit as e:
        return e.code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except ArgosayError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
