"""`tiphys logs WORKFLOW [POD]`: the pods' container logs through the API (`pods/<name>/log`).

The workflow's pods are those labelled `workflows.argoproj.io/workflow=<name>`, in creation
order; POD may also be a node's ID, name or display name. Each line is printed as
`<pod>: <line>` as Argo does. A pod whose log the server cannot return (no kubelet, pod not
started, node gone) is reported as `error: <pod>: ...` on stderr and makes the exit status
1, after the other pods' logs are printed. `-f` streams every pod's log and picks up pods
created later, until the workflow completes and every stream ended.
"""
from __future__ import annotations

import asyncio
import re

import click

from tiphys.cli._client import cluster_options, get_workflow, read_log, run_command, stream_log
from tiphys.cli._output import is_completed, read_nodes
from tiphys.controller.api import base
from tiphys.controller.api.errors import ApiError
from tiphys.core.status import ids

__all__ = ["logs", "print_logs"]

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"


def _pod_for(wf: dict, wanted: str) -> str:
    """A pod name for POD given as pod name, node ID, node name or display name."""
    name = wf["metadata"]["name"]
    version = ids.pod_name_version((wf["metadata"].get("annotations") or {}).get(
        "workflows.argoproj.io/pod-name-format"))
    for node_id, n in read_nodes(wf).items():
        if n.type_ != "Pod":
            continue
        template = n.template_ref.template if n.template_ref else (n.template_name or "")
        pod = ids.pod_name(name, n.name or "", template, version=version)
        if wanted in (pod, node_id, n.name, n.display_name):
            return pod
    return wanted  # not a node: take it as a pod name and let the server say whether it exists


class _Printer:
    def __init__(self, grep: str | None) -> None:
        self.grep = re.compile(grep) if grep else None
        self.failed = False

    def lines(self, pod: str, text: str) -> None:
        for line in text.splitlines():
            self.line(pod, line)

    def line(self, pod: str, line: str) -> None:
        if self.grep is None or self.grep.search(line):
            click.echo(f"{pod}: {line}")

    def error(self, pod: str, container: str, exc: ApiError) -> None:
        self.failed = True
        click.echo(f"error: {pod}: cannot fetch the log of container {container}: {exc}", err=True)


async def _pods(api, ns: str, name: str) -> list[dict]:
    items = (await api.list(base.PODS, namespace=ns, label_selector=f"{WORKFLOW_LABEL}={name}")).items
    return sorted(items, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


async def print_logs(api, ns: str, workflow: str, pod: str | None = None, /, *, container: str = "main",
                     grep: str | None = None, tail: int | None = None, timestamps: bool = False,
                     since_seconds: int | None = None, follow: bool = False, fatal: bool = True) -> int:
    """Print the logs; 1 when some log could not be fetched (raised as CliError if none could)."""
    wf = await get_workflow(api, ns, workflow)
    name = wf["metadata"]["name"]
    printer = _Printer(grep)
    opts = dict(container=container, tail=tail, timestamps=timestamps, since_seconds=since_seconds)
    if pod is not None:
        pods = [_pod_for(wf, pod)]
    else:
        pods = [p["metadata"]["name"] for p in await _pods(api, ns, name)]
    if not follow:
        for p in pods:
            try:
                printer.lines(p, await read_log(api, ns, p, **opts))
            except ApiError as exc:
                printer.error(p, container, exc)
        if pod is None and not pods:
            click.echo(f"workflow {name} has no pods", err=True)
        return 1 if printer.failed and fatal else 0

    async def stream(p: str) -> None:
        try:
            async for line in stream_log(api, ns, p, **opts):
                printer.line(p, line)
        except ApiError as exc:
            printer.error(p, container, exc)

    tasks: dict[str, asyncio.Task] = {}
    while True:
        current = pods if pod is not None else [p["metadata"]["name"] for p in await _pods(api, ns, name)]
        for p in current:
            if p not in tasks:
                tasks[p] = asyncio.ensure_future(stream(p))
        done = pod is not None or is_completed(await get_workflow(api, ns, name))
        if done:
            await asyncio.gather(*tasks.values())
            if pod is None:  # pods created between the last listing and completion
                late = [p["metadata"]["name"] for p in await _pods(api, ns, name) if p["metadata"]["name"] not in tasks]
                await asyncio.gather(*(stream(p) for p in late))
            return 1 if printer.failed and fatal else 0
        await asyncio.sleep(1.0)


@click.command()
@click.argument("workflow")
@click.argument("pod", required=False)
@click.option("-c", "--container", default="main", show_default=True, help="The container.")
@click.option("-f", "--follow", is_flag=True, help="Stream the logs until the workflow completes.")
@click.option("--grep", default=None, help="Only lines matching this regular expression.")
@click.option("--tail", type=int, default=None, help="Only the last N lines of each log.")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its timestamp.")
@click.option("--since", "since_seconds", type=int, default=None, help="Only lines newer than N seconds.")
@click.option("--no-color", is_flag=True, help="No ANSI colours (the output has none).")
@cluster_options
def logs(workflow: str, pod: str | None, container: str, follow: bool, grep: str | None, tail: int | None,
         timestamps: bool, since_seconds: int | None, no_color: bool, *, target) -> None:
    """Print the logs of a workflow's pods (or of one pod / node)."""
    if grep is not None:
        try:
            re.compile(grep)
        except re.error as exc:
            raise click.BadParameter(f"{grep!r}: {exc}", param_hint="--grep") from None

    async def body(api, ns: str) -> int:
        return await print_logs(api, ns, workflow, pod, container=container, grep=grep, tail=tail,
                                timestamps=timestamps, since_seconds=since_seconds, follow=follow)

    run_command(target, body)

