"""`tiphys list`: `argo list` — the namespace's (or every namespace's) workflows, filtered and sorted.

Columns and status words follow §7.2. `--running`/`--completed` use the controller's
`workflows.argoproj.io/completed` label as Argo does (server-side label selector), `--status`
the phase. `-o wide` adds P/R/C (pending/running/completed pod nodes) and PARAMETERS.
"""
from __future__ import annotations

from datetime import datetime, timezone

import click

from tiphys.cli._client import CliError, cluster_options, run_command
from tiphys.cli._output import (COMPLETED_LABEL, age, dump, read_nodes, table, workflow_duration, workflow_sort_key,
                                workflow_status)
from tiphys.controller.api import base

__all__ = ["list_", "select_workflows", "parse_duration"]

_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Error")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, /, *, flag: str) -> float:
    """`30s`, `5m`, `2h`, `1d`, or a sum of them (`1h30m`), in seconds."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(a + u for a, u in parts) != text:
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 5m, 2h, 1d", param_hint=flag)
    return sum(float(a) * _UNITS[u] for a, u in parts)


def _selector(labels: str | None, running: bool, completed: bool) -> str | None:
    terms = [labels] if labels else []
    if running:
        terms.append(f"{COMPLETED_LABEL}!=true")
    if completed:
        terms.append(f"{COMPLETED_LABEL}=true")
    return ",".join(terms) or None


async def select_workflows(api: base.Api, namespace: str | None, /, *, labels: str | None = None,
                           running: bool = False, completed: bool = False, statuses: str | None = None,
                           prefix: str | None = None, older: float | None = None, since: float | None = None,
                           resubmitted: bool = False) -> list[dict]:
    """The workflows `list`/`delete` act on, in Argo's display order."""
    if running and completed:
        raise click.UsageError("--running and --completed are mutually exclusive")
    wanted = None
    if statuses:
        wanted = {s.strip() for s in statuses.split(",") if s.strip()}
        bad = sorted(wanted - set(_PHASES))
        if bad:
            raise click.BadParameter(f"unknown phase(s) {', '.join(bad)}; expected {', '.join(_PHASES)}",
                                     param_hint="--status")
    label = _selector(labels, running, completed)
    if resubmitted:
        label = ",".join(filter(None, [label, "workflows.argoproj.io/resubmitted-from-workflow"]))
    items = (await api.list(base.WORKFLOWS, namespace=namespace, label_selector=label)).items
    now = datetime.now(timezone.utc)
    out = []
    for wf in items:
        meta, status = wf["metadata"], wf.get("status") or {}
        if wanted is not None and (status.get("phase") or "Pending") not in wanted:
            continue
        if prefix and not meta["name"].startswith(prefix):
            continue
        if older is not None:
            # Argo: finished longer ago than --older; unfinished workflows are never "older"
            finished = status.get("finishedAt")
            if not finished or (now - datetime.fromisoformat(finished.replace("Z", "+00:00"))).total_seconds() < older:
                continue
        if since is not None:
            created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
            if (now - created).total_seconds() > since:
                continue
        out.append(wf)
    out.sort(key=workflow_sort_key)
    return out


def _prc(wf: dict) -> str:
    counts = {"P": 0, "R": 0, "C": 0}
    try:
        nodes = read_nodes(wf)
    except CliError:
        return "?"  # one unreadable status must not hide the other workflows
    for n in nodes.values():
        if n.type_ != "Pod":
            continue
        key = "P" if n.phase in (None, "", "Pending") else "R" if n.phase == "Running" else "C"
        counts[key] += 1
    return f"{counts['P']}/{counts['R']}/{counts['C']}"


def _params(wf: dict) -> str:
    params = ((wf.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    text = ",".join(f"{p.get('name')}={p.get('value', '')}" for p in params)
    return text if len(text) <= 60 else text[:57] + "..."  # Argo truncates long parameter lists


@click.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="Show workflows from all namespaces.")
@click.option("--running", is_flag=True, help="Show only running workflows.")
@click.option("--completed", is_flag=True, help="Show only completed workflows.")
@click.option("--status", "statuses", default=None, help="Only these phases (comma list, e.g. Failed,Error).")
@click.option("--prefix", default=None, help="Only workflows whose name starts with this.")
@click.option("--older", default=None, help="Only workflows finished longer ago than this (e.g. 1h).")
@click.option("--since", default=None, help="Only workflows created within this duration.")
@click.option("--resubmitted", is_flag=True, help="Only resubmitted workflows.")
@click.option("-l", "--selector", default=None, help="Label selector.")
@click.option("--no-headers", is_flag=True, help="Omit the header row.")
@click.option("-o", "--output", type=click.Choice(["", "wide", "name", "json", "yaml"]), default="")
@cluster_options
def list_(all_namespaces: bool, running: bool, completed: bool, statuses: str | None, prefix: str | None,
          older: str | None, since: str | None, resubmitted: bool, selector: str | None, no_headers: bool,
          output: str, *, target) -> None:
    """List workflows."""
    older_s = parse_duration(older, flag="--older") if older else None
    since_s = parse_duration(since, flag="--since") if since else None

    async def body(api, ns: str) -> int:
        wfs = await select_workflows(api, None if all_namespaces else ns, labels=selector, running=running,
                                     completed=completed, statuses=statuses, prefix=prefix, older=older_s,
                                     since=since_s, resubmitted=resubmitted)
        if output in ("json", "yaml"):
            click.echo(dump(wfs, fmt=output))
            return 0
        if output == "name":
            for wf in wfs:
                click.echo(wf["metadata"]["name"])
            return 0
        if not wfs:
            click.echo("No workflows found")
            return 0
        headers = ["NAME", "STATUS", "AGE", "DURATION", "PRIORITY", "MESSAGE"]
        if output == "wide":
            headers += ["P/R/C", "PARAMETERS"]
        if all_namespaces:
            headers.insert(0, "NAMESPACE")
        rows = []
        for wf in wfs:
            meta, status = wf["metadata"], wf.get("status") or {}
            row = [meta["name"], workflow_status(wf), age(meta.get("creationTimestamp")), workflow_duration(wf),
                   str((wf.get("spec") or {}).get("priority") or 0), status.get("message") or ""]
            if output == "wide":
                row += [_prc(wf), _params(wf)]
            if all_namespaces:
                row.insert(0, meta.get("namespace", ""))
            rows.append(row)
        click.echo(table(None if no_headers else headers, rows))
        return 0

    run_command(target, body)

