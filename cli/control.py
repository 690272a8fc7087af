"""`suspend`, `resume`, `stop`, `terminate`: the client-side edits of §5.12; the controller only reacts.

* suspend: `spec.suspend: true` (read-modify-update, retried on conflict); refused once the
  workflow completed.
* resume: `spec.suspend` removed and every active Suspend node (type Suspend, Running) made
  Succeeded now, its supplied outputs given their defaults; `--node-field-selector` limits
  that to matching nodes.
* stop / terminate: merge patch `spec.shutdown: Stop|Terminate`, refused once completed
  (Argo's `patchShutdownStrategy`). `stop --node-field-selector S --message M` first fails
  the matching suspend nodes with M.

Edited nodes are written back as plain `status.nodes` (a compressed map is replaced): the
controller reads either form.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import click

from tiphys.cli._client import CliError, cluster_options, get_workflow, resolve_name, run_command
from tiphys.cli._nodes import NodeSelector
from tiphys.cli._output import is_completed, nodes_as_dicts
from tiphys.controller.api import base
from tiphys.controller.api.errors import Conflict
from tiphys.core.plan import suspend as supplied

__all__ = ["suspend", "resume", "stop", "terminate", "update_workflow", "with_nodes", "now_iso"]

_CONFLICT_RETRIES = 5


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_nodes(wf: dict, nodes: dict[str, dict], /) -> dict:
    status = {k: v for k, v in (wf.get("status") or {}).items() if k != "compressedNodes"}
    status["nodes"] = nodes
    return {**wf, "status": status}


async def update_workflow(api: base.Api, namespace: str, name: str, edit: Callable[[dict], dict | None], /) -> dict:
    """Read, `edit` (None: nothing to write), update; retried from a fresh read on conflict."""
    for attempt in range(_CONFLICT_RETRIES + 1):
        wf = await get_workflow(api, namespace, name)
        changed = edit(wf)
        if changed is None:
            return wf
        try:
            return await api.update(base.WORKFLOWS, changed, namespace=namespace)
        except Conflict:
            if attempt == _CONFLICT_RETRIES:
                raise
    raise AssertionError("unreachable")


def _active_suspend(node: dict) -> bool:
    return node.get("type") == "Suspend" and node.get("phase") == "Running"


def _set_suspend_nodes(wf: dict, selector: NodeSelector | None, *, phase: str, message: str) -> int:
    """Mark matching active suspend nodes; returns how many (edits `wf` in place)."""
    nodes = nodes_as_dicts(wf)
    count = 0
    for node in nodes.values():
        if not _active_suspend(node) or (selector is not None and not selector.matches(node)):
            continue
        if phase == "Succeeded":  # resumed: supplied outputs settle (Argo's updateSuspendedNode)
            try:
                if (outputs := supplied.with_defaults(node.get("outputs"))) is not None:
                    node["outputs"] = outputs
            except supplied.SuppliedError as exc:
                raise CliError(f"node {node.get('name')}: {exc}") from None
        node["phase"] = phase
        node["finishedAt"] = now_iso()
        node["message"] = message
        count += 1
    if count:
        wf["status"] = with_nodes(wf, nodes)["status"]
    return count


def _names_command(name: str, verb: str, help_: str):
    def decorate(func):
        @click.command(name, help=help_)
        @click.argument("workflows", nargs=-1, required=True)
        @cluster_options
        def command(workflows: tuple[str, ...], *, target, **kwargs) -> None:
            async def body(api, ns: str) -> int:
                for w in workflows:
                    wname = await resolve_name(api, ns, w)
                    await func(api, ns, wname, **kwargs)
                    click.echo(f"workflow {wname} {verb}")
                return 0

            run_command(target, body)

        command.__doc__ = help_
        return command
    return decorate


@_names_command("suspend", "suspended", "Suspend workflows: no new steps start; running pods continue.")
async def suspend(api, ns: str, name: str) -> None:
    def edit(wf: dict) -> dict | None:
        if is_completed(wf):
            raise CliError(f"cannot suspend completed workflows: {name}")
        if (wf.get("spec") or {}).get("suspend"):
            return None
        return {**wf, "spec": {**wf["spec"], "suspend": True}}

    await update_workflow(api, ns, name, edit)


async def _resume(api, ns: str, name: str, selector: str | None = None) -> None:
    sel = NodeSelector(selector) if selector else None

    def edit(wf: dict) -> dict | None:
        if is_completed(wf):
            raise CliError(f"cannot resume completed workflows: {name}")
        wf = {**wf, "spec": {k: v for k, v in (wf.get("spec") or {}).items() if not (k == "suspend" and sel is None)}}
        if not _set_suspend_nodes(wf, sel, phase="Succeeded", message="Resumed by: tiphys CLI") and sel is not None:
            raise CliError(f"{name}: no active suspend node matches --node-field-selector {selector!r}")
        return wf

    await update_workflow(api, ns, name, edit)


async def _shutdown(api, ns: str, name: str, strategy: str) -> None:
    wf = await get_workflow(api, ns, name)
    if is_completed(wf):
        raise CliError(f"cannot shutdown a completed workflow: {name}")
    await api.patch(base.WORKFLOWS, name, {"spec": {"shutdown": strategy}}, namespace=ns)


async def _stop(api, ns: str, name: str, selector: str | None = None, message: str = "") -> None:
    if selector:
        sel = NodeSelector(selector)

        def edit(wf: dict) -> dict | None:
            wf = dict(wf)
            if not _set_suspend_nodes(wf, sel, phase="Failed", message=message):
                raise CliError(f"{name}: no active suspend node matches --node-field-selector {selector!r}")
            return wf

        await update_workflow(api, ns, name, edit)
    await _shutdown(api, ns, name, "Stop")


@_names_command("terminate", "terminated", "Terminate workflows: pods are killed, exit handlers do not run.")
async def terminate(api, ns: str, name: str) -> None:
    await _shutdown(api, ns, name, "Terminate")


resume = _names_command("resume", "resumed", "Resume suspended workflows (or only matching suspend nodes).")(_resume)
resume = click.option("--node-field-selector", "selector", default=None,
                      help="Only resume suspend nodes matching this selector.")(resume)
stop = _names_command("stop", "stopped", "Stop workflows: pods are killed, exit handlers run.")(_stop)
stop = click.option("--message", default="", help="Message for the nodes failed by --node-field-selector.")(stop)
stop = click.option("--node-field-selector", "selector", default=None,
                    help="Fail only suspend nodes matching this selector (then stop).")(stop)
