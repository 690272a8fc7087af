"""`tiphys watch WORKFLOW`: redraw `get`'s view on every change until the workflow completes.

On a terminal the view is redrawn in place (cursor up, clear); elsewhere (pipes, CI logs)
a view is printed only when the workflow's phase or progress changes, then once at the end,
so a log does not fill with identical trees.
"""
from __future__ import annotations

import sys

import click

from tiphys.cli._client import cluster_options, resolve_name, run_command
from tiphys.cli._output import use_color
from tiphys.cli.get import view
from tiphys.controller.api import base

__all__ = ["watch", "follow"]


class _Drawer:
    def __init__(self, *, color: bool, utf8: bool) -> None:
        self.color, self.utf8 = color, utf8
        self.live = sys.stdout.isatty()
        self.lines = 0
        self.shown: tuple | None = None  # (phase, progress) last printed
        self.shown_rv: str | None = None

    def __call__(self, wf: dict, /, *, force: bool = False) -> None:
        status = wf.get("status") or {}
        key = (status.get("phase"), status.get("progress"))
        if not (self.live or force or key != self.shown):
            return
        self.shown, self.shown_rv = key, wf["metadata"].get("resourceVersion")
        text = view(wf, color=self.color, utf8=self.utf8)
        if self.lines:
            sys.stdout.write(f"\x1b[{self.lines}F\x1b[J" if self.live else "\n")
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        self.lines = text.count("\n") + 1


async def follow(api: base.Api, namespace: str, name: str, /, *, color: bool, utf8: bool,
                 timeout: float | None = None) -> dict:
    """Draw the workflow until it completes; returns its final state."""
    from tiphys.cli.wait import await_workflows

    drawer = _Drawer(color=color, utf8=utf8)
    final: list[dict] = []

    def on_change(wf: dict) -> None:
        final[:] = [wf]
        drawer(wf)

    await await_workflows(api, namespace, [name], timeout=timeout, quiet=True, on_change=on_change)
    if final[0]["metadata"].get("resourceVersion") != drawer.shown_rv:
        drawer(final[0], force=True)  # the final view, whatever changed since the last one printed
    return final[0]


@click.command()
@click.argument("workflow")
@click.option("--no-color", is_flag=True, help="No ANSI colours.")
@click.option("--no-utf8", is_flag=True, help="Words and ASCII instead of glyphs.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds (exit 1).")
@cluster_options
def watch(workflow: str, no_color: bool, no_utf8: bool, timeout: float | None, *, target) -> None:
    """Watch a workflow until it completes."""
    async def body(api, ns: str) -> int:
        name = await resolve_name(api, ns, workflow)
        await follow(api, ns, name, color=use_color(no_color), utf8=not no_utf8, timeout=timeout)
        return 0

    run_command(target, body)
