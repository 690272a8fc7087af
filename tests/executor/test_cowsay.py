"""The built-in cowsay: balloon, word wrap and cows as the Perl program prints them."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

from tiphys.executor.cowsay import COWS, WHALESAY_COWS, CowsayError, fill, main, run

COW = ("        \\   ^__^\n"
       "         \\  (oo)\\_______\n"
       "            (__)\\       )\\/\\\n"
       "                ||----w |\n"
       "                ||     ||\n")


def say(*args: str, stdin: str = "", **kw) -> str:
    out = io.StringIO()
    assert run(args, stdin=io.StringIO(stdin), stdout=out, **kw) == 0
    return out.getvalue()


def test_hello_is_the_classic_cow():
    """`cowsay hello`, byte for byte."""
    assert say("hello") == " _______\n< hello >\n -------\n" + COW


def test_arguments_are_joined_and_wrapped_below_column_40():
    """Lines hold at most 39 characters; several lines use / | \\ borders padded to the longest."""
    text = say("The quick brown fox jumps over the lazy dog,", "then", "sleeps", "in", "the", "warm", "sun", "all day")
    assert text == (" " + "_" * 41 + "\n"
                    "/ The quick brown fox jumps over the lazy \\\n"
                    "| dog, then sleeps in the warm sun all    |\n"
                    "\\ day                                     /\n"
                    " " + "-" * 41 + "\n" + COW)


@pytest.mark.parametrize("lines,columns,expected", [
    pytest.param(["a  b\t c"], 40, ["a b c"], id="whitespace-squeezed"),
    pytest.param(["one", "two"], 40, ["one two"], id="lines-joined"),
    pytest.param(["one", "", "two"], 40, ["one", "", "two"], id="blank-line-separates-paragraphs"),
    pytest.param(["one", "  two"], 40, ["one", "", "two"], id="indented-line-starts-a-paragraph"),
    pytest.param(["x" * 45 + " y"], 40, ["x" * 39, "xxxxxx y"], id="long-word-cut-rest-joined"),
    pytest.param(["ab cd ef"], 6, ["ab cd", "ef"], id="exactly-width-minus-one"),
    pytest.param(["hello "], 40, ["hello "], id="trailing-blank-kept"),
    pytest.param([], 40, [], id="empty"),
])
def test_fill_matches_text_wrap(lines, columns, expected):
    """Text::Wrap::fill('', '', ...) with $columns = -W."""
    assert fill(lines, columns=columns) == expected


def test_stdin_message_and_width_option():
    """Without arguments the message is stdin; -W sets the wrap column."""
    assert say("-W", "10", stdin="abc def ghi\n").splitlines()[:4] == [" _________", "/ abc def \\", "\\ ghi     /",
                                                                       " ---------"]


def test_no_wrap_keeps_lines_and_expands_tabs():
    """-n: stdin lines as they are (tabs to 8 columns), no filling."""
    assert say("-n", stdin="a\tb\n   c\n").splitlines()[1:3] == ["/ a       b \\", "\\    c      /"]


@pytest.mark.parametrize("args,face", [
    pytest.param(("-e", "^^^", "-T", "VVV"), ("^^", "VV"), id="eyes-tongue-truncated"),
    pytest.param(("-d",), ("xx", "U "), id="dead"),
    pytest.param(("-e", "QQ", "-b"), ("==", "  "), id="mode-beats-eyes"),
    pytest.param(("-sy",), ("..", "U "), id="bundled-later-mode-wins-eyes"),
])
def test_face_options(args, face):
    """-e/-T take two characters; the modes override them (the later mode wins), dead/stoned add a tongue."""
    lines = say(*args, "hi").splitlines()
    assert lines[4] == f"         \\  ({face[0]})\\_______"
    assert lines[6] == f"             {face[1]} ||----w |"


def test_think_uses_round_borders_and_o_thoughts():
    text = say("-W", "5", "one", "two", think=True)
    assert text.splitlines()[:5] == [" _____", "( one )", "( two )", " -----", "        o   ^__^"]


def test_whalesay_default_cow_is_the_whale():
    """docker/whalesay replaced default.cow by the whale; the cow is still there as orig-default."""
    whale = say("hello", cows=WHALESAY_COWS)
    assert whale.splitlines()[3:6] == ["    \\", "     \\", "      \\"]
    assert whale.splitlines()[-1] == "          \\____\\______/"
    assert say("-f", "orig-default", "hello", cows=WHALESAY_COWS) == say("hello")
    assert say("-f", "docker.cow", "hello") == whale  # a `.cow` suffix names the same cow
    assert sorted(COWS) == ["default", "docker"]


@pytest.mark.parametrize("args,message", [
    pytest.param(("-f", "dragon", "x"), "cowsay: Could not find dragon cowfile!", id="unknown-cow"),
    pytest.param(("-q", "x"), "Unknown option: q", id="unknown-option"),
    pytest.param(("-n", "x"), "Usage: cowsay", id="no-wrap-with-arguments"),
    pytest.param(("-W", "wide", "x"), "-W needs a number", id="bad-width"),
    pytest.param(("-W", "1", "x"), "at least 2", id="width-too-small"),
])
def test_errors(args, message):
    with pytest.raises(CowsayError, match=message):
        say(*args)


def test_command_line_exit_codes():
    """As a program: the cow on stdout and 0; an error on stderr and 1."""
    ok = subprocess.run([sys.executable, "-m", "tiphys.executor.cowsay", "hello"], capture_output=True, text=True,
                        check=False, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, " _______\n< hello >\n -------\n" + COW)
    assert main(["-f", "nope", "x"]) == 1
