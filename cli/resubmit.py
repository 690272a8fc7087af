"""`tiphys resubmit WORKFLOW`: run a workflow again as a new Workflow from its spec (§5.12).

The new workflow gets the old `generateName` (else `<name>-`), the user's labels and
annotations (not the controller's `workflows.argoproj.io/completed`/`phase` ones), the label
`workflows.argoproj.io/resubmitted-from-workflow: <name>`, the spec without `shutdown`, and
`-p`/`--priority` overrides. `--memoized` (re-use succeeded nodes) is not implemented and
says so rather than silently resubmitting in full.
"""
from __future__ import annotations

import click

from tiphys.cli._client import CliError, cluster_options, get_workflow, run_command
from tiphys.cli._output import use_color
from tiphys.cli.get import view
from tiphys.cli.submit import apply_parameters, parse_parameters
from tiphys.controller.api import base

__all__ = ["resubmit", "formulate_resubmit"]

RESUBMITTED_LABEL = "workflows.argoproj.io/resubmitted-from-workflow"
_CONTROLLER_LABELS = ("workflows.argoproj.io/completed", "workflows.argoproj.io/phase",
                      "workflows.argoproj.io/workflow-archiving-status")


def formulate_resubmit(wf: dict, /, *, parameters: dict[str, str] | None = None,
                       priority: int | None = None) -> dict:
    meta = wf["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _CONTROLLER_LABELS}
    labels[RESUBMITTED_LABEL] = meta["name"]
    new_meta: dict = {"generateName": meta.get("generateName") or f"{meta['name']}-", "labels": labels}
    if meta.get("annotations"):
        new_meta["annotations"] = dict(meta["annotations"])
    spec = {k: v for k, v in (wf.get("spec") or {}).items() if k != "shutdown"}
    spec = apply_parameters(spec, parameters or {})
    if priority is not None:
        spec["priority"] = priority
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": new_meta, "spec": spec}


@click.command()
@click.argument("workflows", nargs=-1, required=True)
@click.option("-p", "--parameter", "parameters", multiple=True, help="Override a parameter name=value.")
@click.option("--priority", type=int, default=None, help="Priority of the new workflow.")
@click.option("--memoized", is_flag=True, help="Re-use the succeeded nodes (not implemented: refused).")
@click.option("-w", "--wait", "wait_", is_flag=True, help="Wait for completion; exit 1 if Failed/Error.")
@click.option("-o", "--output", type=click.Choice(["", "name", "json", "yaml", "wide"]), default="")
@cluster_options
def resubmit(workflows: tuple[str, ...], parameters: tuple[str, ...], priority: int | None, memoized: bool,
             wait_: bool, output: str, *, target) -> None:
    """Resubmit workflows as new workflows."""
    if memoized:
        raise CliError("--memoized is not supported by tiphys yet; resubmit without it to run every step again")
    params = parse_parameters(parameters)

    async def body(api, ns: str) -> int:
        names = []
        for w in workflows:
            wf = await get_workflow(api, ns, w)
            created = await api.create(base.WORKFLOWS, formulate_resubmit(wf, parameters=params, priority=priority),
                                       namespace=ns)
            names.append(created["metadata"]["name"])
            click.echo(view(created, output=output, color=use_color(False)))
        if wait_:
            from tiphys.cli.wait import await_workflows

            return await await_workflows(api, ns, names)
        return 0

    run_command(target, body)
