"""`tiphys get WORKFLOW`: `argo get`'s header and node tree (§7.3), or the object as json/yaml/name.

The tree is `render.render_workflow`'s. `-o wide` adds Argo's ARTIFACTS, RESOURCESDURATION and
NODENAME columns: the renderer draws the default columns, a recording `Style` notes which node
each row shows, and the rows are re-cut at the header's column starts (colour is off for
that, so character positions are column positions) and re-aligned with the extra cells.
"""
from __future__ import annotations

import click

from tiphys.cli._client import cluster_options, get_workflow, run_command
from tiphys.cli._output import dump, read_nodes, resources_duration_text, use_color, workflow_status
from tiphys.cli.render import Style, render_workflow
from tiphys.core.spec import NodeStatus

__all__ = ["get", "view"]


class _Recording(Style):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.seen: list[NodeStatus] = []

    def glyph(self, node: NodeStatus) -> str:
        self.seen.append(node)
        return super().glyph(node)


def _wide_cells(n: NodeStatus) -> tuple[str, str, str]:
    arts = ",".join(a.name for a in ((n.outputs.artifacts if n.outputs else None) or []) if a.name)
    res = resources_duration_text(n.resources_duration)
    return arts, res, n.host_node_name or ""


def _wide(wf: dict, nodes: dict[str, NodeStatus], utf8: bool) -> str:
    style = _Recording(color=False, utf8=utf8)
    text = render_workflow(wf, nodes, style=style)
    lines = text.split("\n")
    h = next(i for i, line in enumerate(lines) if line.startswith("STEP"))
    head, rows = lines[:h], lines[h:]
    starts = [rows[0].index(c) for c in ("STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE")]
    cut = []
    for line in rows:
        cells = [line[a:b].rstrip() if b is not None else line[a:].rstrip()
                 for a, b in zip(starts, starts[1:] + [None])]
        cut.append(cells)
    seen = iter(style.seen)
    out = [["STEP", "TEMPLATE", "PODNAME", "DURATION", "ARTIFACTS", "MESSAGE", "RESOURCESDURATION", "NODENAME"]]
    for cells in cut[1:]:
        if not cells[0].strip():  # the blank row before the onExit tree
            out.append([""] * 8)
            continue
        arts, res, host = _wide_cells(next(seen))
        out.append(cells[:4] + [arts, cells[4], res, host])
    widths = [max(len(r[i]) for r in out) for i in range(8)]
    table = ["".join(c + " " * (widths[i] - len(c) + 2) if i < 7 else c for i, c in enumerate(r)).rstrip()
             for r in out]
    return "\n".join(head + table)


def view(wf: dict, /, *, output: str = "", color: bool = False, utf8: bool = True) -> str:
    """The text `get` prints for `output` ('' is the default view)."""
    if output in ("json", "yaml"):
        return dump(wf, fmt=output)
    if output == "name":
        return wf["metadata"]["name"]
    nodes = read_nodes(wf)
    if output == "wide":
        return _wide(wf, nodes, utf8)
    text = render_workflow(wf, nodes, style=Style(color=color, utf8=utf8), header=output != "short")
    # The renderer prints the bare phase; Argo's header shows the list's STATUS word.
    phase = (wf.get("status") or {}).get("phase") or "Pending"
    status = workflow_status(wf)
    if status != phase and output != "short":
        text = text.replace(f"{'Status:':<20} {phase}", f"{'Status:':<20} {status}", 1)
    return text


@click.command()
@click.argument("workflow")
@click.option("-o", "--output", type=click.Choice(["", "json", "yaml", "name", "wide", "short"]), default="",
              help="Output format (default: the header and node tree).")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also NO_COLOR, TERM=dumb, non-TTY).")
@click.option("--no-utf8", is_flag=True, help="Words and ASCII instead of glyphs.")
@cluster_options
def get(workflow: str, output: str, no_color: bool, no_utf8: bool, *, target) -> None:
    """Show a workflow (`@latest`: the namespace's newest)."""
    async def body(api, ns: str) -> int:
        wf = await get_workflow(api, ns, workflow)
        click.echo(view(wf, output=output, color=use_color(no_color), utf8=not no_utf8))
        return 0

    run_command(target, body)
