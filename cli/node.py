"""`tiphys node set WORKFLOW --node-field-selector S [--output-parameter N=V] [--phase P] [--message M]`.

Argo's `argo node set` (§5.12): on the active Suspend nodes the selector matches, give supplied
output parameters their values (the value may be a Go-quoted string, as Argo unquotes it), and
set the phase (a fulfilled phase also sets `finishedAt`) and message. The controller adopts
what a client writes into a Suspend node (core.plan.planner.apply_client_resume); a value set
without a phase waits for `resume`, which keeps it.
"""
from __future__ import annotations

import json

import click

from tiphys.cli._client import CliError, cluster_options, resolve_name, run_command
from tiphys.cli._nodes import NodeSelector
from tiphys.cli._output import is_completed, nodes_as_dicts
from tiphys.cli.control import now_iso, update_workflow, with_nodes
from tiphys.core.plan import suspend as supplied

__all__ = ["node", "parse_output_parameter", "set_nodes"]

_PHASES = ("Pending", "Running", "Succeeded", "Skipped", "Failed", "Error", "Omitted")


def parse_output_parameter(text: str, /) -> tuple[str, str]:
    """`NAME=VALUE`; a VALUE in double quotes is unquoted as Go's strconv.Unquote would."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"--output-parameter: expected NAME=VALUE, got {text!r}")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            value = json.loads(value)  # Go's escapes for the cases a shell passes (\" \\ \n \t \uXXXX)
        except json.JSONDecodeError:
            pass  # as Argo: not a valid quoted string, so the text itself
    return name, value


def set_nodes(wf: dict, selector: NodeSelector, /, *, outputs: dict[str, str], phase: str, message: str) -> dict:
    """The workflow with the matching active Suspend nodes edited; refuses as Argo does."""
    nodes = nodes_as_dicts(wf)
    updated = False
    for node in nodes.values():
        if node.get("type") != "Suspend" or node.get("phase") != "Running" or not selector.matches(node):
            continue
        if phase:
            node["phase"] = phase
            if phase in ("Succeeded", "Skipped", "Failed", "Error", "Omitted"):
                node["finishedAt"] = now_iso()
            updated = True
        if message:
            node["message"] = message
            updated = True
        if outputs:
            try:
                node["outputs"] = supplied.supply(node.get("outputs"), outputs)
            except supplied.SuppliedError as exc:
                raise CliError(f"node {node.get('name')}: {exc}") from None
            updated = True
    if not updated:
        raise CliError("currently, set only targets suspend nodes")
    return with_nodes(wf, nodes)


@click.group("node", help="Act on the nodes of a workflow.")
def node() -> None:
    pass


@node.command("set", help="Set the phase, message or supplied output parameters of suspend nodes.")
@click.argument("workflow")
@click.option("--node-field-selector", "selector", required=True, help="Which nodes (e.g. displayName=approve).")
@click.option("--output-parameter", "output_parameters", multiple=True,
              help='A supplied output parameter, NAME=VALUE (e.g. message="Hello, world!"); repeatable.')
@click.option("--phase", default="", type=click.Choice(("",) + _PHASES), help="The nodes' new phase.")
@click.option("--message", default="", help="The nodes' new message.")
@cluster_options
def set_(workflow: str, selector: str, output_parameters: tuple[str, ...], phase: str, message: str, *,
         target) -> None:
    sel = NodeSelector(selector)
    outputs = dict(parse_output_parameter(p) for p in output_parameters)

    async def body(api, ns: str) -> int:
        name = await resolve_name(api, ns, workflow)

        def edit(wf: dict) -> dict:
            if is_completed(wf):
                raise CliError(f"cannot set nodes of completed workflow {name}")
            return set_nodes(wf, sel, outputs=outputs, phase=phase, message=message)

        await update_workflow(api, ns, name, edit)
        click.echo(f"workflow values set on {name}")
        return 0

    run_command(target, body)
