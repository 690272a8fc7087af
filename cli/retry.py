"""`tiphys retry WORKFLOW`: re-run a Failed/Error workflow from its failed steps, keeping what succeeded (§5.12).

The new status is built here, client-side, as Argo's `FormulateRetryWorkflow` does:

* deleted: failed or errored execution nodes (Pod, Container, Suspend, HTTP, Plugin), with
  `--restart-successful` also the nodes `--node-field-selector` matches, then everything
  reachable from those through `children` (the downstream nodes), and the `wf.onExit` tree;
* reset to Running (message and finish cleared, `startedAt` now): the enclosing nodes of
  deleted ones — their boundary (Steps/DAG) chain up to the root and the group/Retry nodes
  that list them as children; Skipped nodes stay as they are;
* the workflow: phase `""`, `finishedAt`/`message` cleared, the `completed`, `phase` and
  archiving labels removed, `spec.shutdown` cleared, `-p` overrides applied.

The pods (and task results, named by node ID) of deleted nodes are deleted first, then the
workflow is updated (conflict = someone else changed it: an error, not a silent retry).
"""
from __future__ import annotations

import click

from tiphys.cli._client import CliError, cluster_options, get_workflow, run_command
from tiphys.cli._nodes import NodeSelector
from tiphys.cli._output import nodes_as_dicts
from tiphys.cli.control import now_iso, with_nodes
from tiphys.cli.submit import apply_parameters, parse_parameters
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound
from tiphys.core.status import ids

__all__ = ["retry", "formulate_retry"]

_EXECUTION = frozenset({"Pod", "Container", "Suspend", "HTTP", "Plugin"})
_ENCLOSING = frozenset({"Steps", "DAG", "StepGroup", "TaskGroup", "Retry"})
_DROP_LABELS = ("workflows.argoproj.io/completed", "workflows.argoproj.io/phase",
                "workflows.argoproj.io/workflow-archiving-status")


def _downstream(nodes: dict[str, dict], roots: set[str]) -> set[str]:
    seen, stack = set(), list(roots)
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in nodes:
            continue
        seen.add(nid)
        stack.extend(nodes[nid].get("children") or ())
    return seen


def formulate_retry(wf: dict, /, *, restart_successful: bool = False, selector: str | None = None,
                    parameters: dict[str, str] | None = None) -> tuple[dict, list[dict]]:
    """The retried workflow and the deleted nodes (whose pods must go)."""
    name = wf["metadata"]["name"]
    phase = (wf.get("status") or {}).get("phase") or ""
    if phase == "Succeeded":
        if not (restart_successful and selector):
            raise CliError(f"workflow {name} Succeeded: retry needs --restart-successful and --node-field-selector")
    elif phase not in ("Failed", "Error"):
        raise CliError(f"cannot retry workflow {name} in phase {phase or 'Pending'}: it must be Failed or Error")
    sel = NodeSelector(selector) if selector else None
    nodes = nodes_as_dicts(wf)
    roots = {nid for nid, n in nodes.items()
             if n.get("type") in _EXECUTION and n.get("phase") in ("Failed", "Error")}
    if restart_successful and sel is not None:
        roots |= {nid for nid, n in nodes.items() if sel.matches(n)}
    exit_id = ids.node_id(name, f"{name}.onExit")
    if exit_id in nodes:
        roots.add(exit_id)
    deleted = _downstream(nodes, roots)
    parents: dict[str, list[str]] = {}
    for nid, n in nodes.items():
        for c in n.get("children") or ():
            parents.setdefault(c, []).append(nid)
    reset: set[str] = set()
    stack = list(deleted)
    while stack:
        nid = stack.pop()
        n = nodes[nid]
        up = [p for p in parents.get(nid, ()) if nodes[p].get("type") in _ENCLOSING]
        if n.get("boundaryID"):
            up.append(n["boundaryID"])
        for p in up:
            if p in nodes and p not in deleted and p not in reset and nodes[p].get("phase") != "Skipped":
                reset.add(p)
                stack.append(p)
    now = now_iso()
    kept: dict[str, dict] = {}
    for nid, n in nodes.items():
        if nid in deleted:
            continue
        n = dict(n)
        if n.get("children"):
            n["children"] = [c for c in n["children"] if c not in deleted]
        if n.get("outboundNodes"):
            n["outboundNodes"] = [c for c in n["outboundNodes"] if c not in deleted]
        if nid in reset:
            n["phase"] = "Running"
            n["startedAt"] = now
            for k in ("message", "finishedAt", "outputs"):
                n.pop(k, None)
        kept[nid] = n
    meta = dict(wf["metadata"])
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _DROP_LABELS}
    spec = {k: v for k, v in (wf.get("spec") or {}).items() if k != "shutdown"}
    spec = apply_parameters(spec, parameters or {})
    new = with_nodes({**wf, "metadata": meta, "spec": spec}, kept)
    status = new["status"]
    status["phase"] = ""
    for k in ("finishedAt", "message", "conditions"):
        status.pop(k, None)
    return new, [nodes[nid] for nid in sorted(deleted)]


def _pod_name(wf: dict, node: dict) -> str:
    version = ids.pod_name_version((wf["metadata"].get("annotations") or {}).get(
        "workflows.argoproj.io/pod-name-format"))
    template = (node.get("templateRef") or {}).get("template") or node.get("templateName") or ""
    return ids.pod_name(wf["metadata"]["name"], node.get("name") or "", template, version=version)


@click.command()
@click.argument("workflows", nargs=-1, required=True)
@click.option("--restart-successful", is_flag=True, help="Also re-run the nodes --node-field-selector matches.")
@click.option("--node-field-selector", "selector", default=None, help="Nodes to re-run with --restart-successful.")
@click.option("-p", "--parameter", "parameters", multiple=True, help="Override a parameter name=value.")
@click.option("-w", "--wait", "wait_", is_flag=True, help="Wait for completion; exit 1 if Failed/Error.")
@cluster_options
def retry(workflows: tuple[str, ...], restart_successful: bool, selector: str | None, parameters: tuple[str, ...],
          wait_: bool, *, target) -> None:
    """Retry failed workflows from their failed steps."""
    params = parse_parameters(parameters)

    async def body(api, ns: str) -> int:
        names = []
        for w in workflows:
            wf = await get_workflow(api, ns, w)
            new, dropped = formulate_retry(wf, restart_successful=restart_successful, selector=selector,
                                           parameters=params)
            for node in dropped:
                if node.get("type") == "Pod":
                    try:
                        await api.delete(base.PODS, _pod_name(wf, node), namespace=ns, grace_period_seconds=0)
                    except NotFound:
                        pass
                try:
                    await api.delete(base.WORKFLOW_TASK_RESULTS, node["id"], namespace=ns)
                except NotFound:
                    pass
            await api.update(base.WORKFLOWS, new, namespace=ns)
            names.append(wf["metadata"]["name"])
            click.echo(f"workflow {wf['metadata']['name']} retried ({len(dropped)} node(s) to re-run)")
        if wait_:
            from tiphys.cli.wait import await_workflows

            return await await_workflows(api, ns, names)
        return 0

    run_command(target, body)
