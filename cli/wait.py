"""`tiphys wait WORKFLOW...`: block until each workflow completes; exit 1 if any ended Failed or Error.

Completion is the controller's `workflows.argoproj.io/completed=true` label, followed by a
watch (re-listed after 410 Gone). Each finished workflow prints `<name> <Phase> at <finishedAt>`
with Go's time format, as `argo wait` does.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import click

from tiphys.cli._client import CliError, cluster_options, resolve_name, run_command
from tiphys.cli._output import go_time
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound
from tiphys.controller.local import wait_completed

__all__ = ["wait", "await_workflows", "FAILED_PHASES"]

FAILED_PHASES = ("Failed", "Error")


async def await_workflows(api: base.Api, namespace: str, names: list[str], /, *, timeout: float | None = None,
                          ignore_not_found: bool = False, quiet: bool = False,
                          on_change: Callable[[dict], Any] | None = None) -> int:
    """Wait for all; print a line per workflow unless `quiet`; 1 if any Failed/Error, else 0."""
    async def one(name: str) -> dict | None:
        try:
            return await wait_completed(api, name, namespace, timeout=timeout or 10 ** 9, on_change=on_change)
        except NotFound:
            if ignore_not_found:
                return None
            raise CliError(f"workflow {name!r} not found in namespace {namespace}") from None
        except asyncio.TimeoutError:
            raise CliError(f"timed out after {timeout:g}s waiting for workflow {name!r}") from None

    finals = await asyncio.gather(*(one(n) for n in names))
    status = 0
    for name, wf in zip(names, finals):
        if wf is None:
            continue
        st = wf.get("status") or {}
        phase = st.get("phase") or ""
        if not quiet:
            click.echo(f"{name} {phase} at {go_time(st.get('finishedAt'))}")
        if phase in FAILED_PHASES:
            status = 1
    return status


@click.command()
@click.argument("workflows", nargs=-1, required=True)
@click.option("--ignore-not-found", is_flag=True, help="Do not fail when a workflow does not exist.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds (exit 1).")
@cluster_options
def wait(workflows: tuple[str, ...], ignore_not_found: bool, timeout: float | None, *, target) -> None:
    """Wait for workflows to complete; exit 1 when any ended Failed or Error."""
    async def body(api, ns: str) -> int:
        names = [await resolve_name(api, ns, w) for w in workflows]
        return await await_workflows(api, ns, names, timeout=timeout, ignore_not_found=ignore_not_found)

    run_command(target, body)
