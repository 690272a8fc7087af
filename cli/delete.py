"""`tiphys delete [WORKFLOW...]`: delete named workflows, or those `--all`/`--completed`/`--older`... select.

Named workflows that do not exist are reported (`Workflow 'x' not found`) and make the exit
status 1, after the others are deleted. Selections use `list`'s filters; pods and task
results go with their workflow through the garbage collector (ownerReferences).
"""
from __future__ import annotations

import click

from tiphys.cli._client import cluster_options, resolve_name, run_command
from tiphys.cli.list import parse_duration, select_workflows
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound

__all__ = ["delete"]


@click.command()
@click.argument("workflows", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Delete every workflow (of the namespace, or -A).")
@click.option("--completed", is_flag=True, help="Delete completed workflows.")
@click.option("--older", default=None, help="Delete completed workflows finished longer ago than this (e.g. 1h).")
@click.option("--prefix", default=None, help="Delete workflows whose name starts with this.")
@click.option("--status", "statuses", default=None, help="Delete workflows in these phases (comma list).")
@click.option("--resubmitted", is_flag=True, help="Delete resubmitted workflows.")
@click.option("-l", "--selector", default=None, help="Label selector.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Act on every namespace.")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@cluster_options
def delete(workflows: tuple[str, ...], all_: bool, completed: bool, older: str | None, prefix: str | None,
           statuses: str | None, resubmitted: bool, selector: str | None, all_namespaces: bool, dry_run: bool,
           *, target) -> None:
    """Delete workflows."""
    selecting = all_ or completed or older or prefix or statuses or resubmitted or selector
    if workflows and selecting:
        raise click.UsageError("give WORKFLOW names or selection flags (--all, --completed, ...), not both")
    if not workflows and not selecting:
        raise click.UsageError("nothing to delete: give WORKFLOW names, --all, --completed, --older, --prefix, "
                               "--status or -l")
    older_s = parse_duration(older, flag="--older") if older else None

    async def body(api, ns: str) -> int:
        if workflows:
            targets = [(ns, await resolve_name(api, ns, w)) for w in workflows]
        else:
            found = await select_workflows(api, None if all_namespaces else ns, labels=selector,
                                           completed=completed or older_s is not None, statuses=statuses,
                                           prefix=prefix, older=older_s, resubmitted=resubmitted)
            targets = [(w["metadata"]["namespace"], w["metadata"]["name"]) for w in found]
        status = 0
        for wns, name in targets:
            if dry_run:
                click.echo(f"Workflow '{name}' deleted (dry-run)")
                continue
            try:
                await api.delete(base.WORKFLOWS, name, namespace=wns)
            except NotFound:
                click.echo(f"Workflow '{name}' not found", err=True)
                status = 1
                continue
            click.echo(f"Workflow '{name}' deleted")
        return status

    run_command(target, body)
