"""`template`, `cluster-template`, `cron`: create / list / get / delete (and cron suspend / resume).

The three groups share one implementation over the resource each manages. `create FILE...`
takes documents of the group's kind only (others are refused naming file and kind) and
checks them with the linter first, as `argo template create` does (`--strict` off skips
nothing here: lint errors always refuse). `get` prints a summary, or the object with
`-o json|yaml`; `list` prints NAME (and cron's schedule columns).
"""
from __future__ import annotations

import click

from tiphys.cli._client import CliError, cluster_options, run_command
from tiphys.cli._output import age, dump, table
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound
from tiphys.core.spec import load_text

__all__ = ["template", "cluster_template", "cron"]


class _Kind:
    def __init__(self, resource: base.Resource, label: str) -> None:
        self.resource = resource
        self.kind = resource.kind
        self.label = label  # how messages name it, e.g. "WorkflowTemplate"

    def ns(self, namespace: str) -> str | None:
        return namespace if self.resource.namespaced else None


def _load(kind: _Kind, files: tuple[str, ...]) -> list[dict]:
    from tiphys.core.validate import lint_texts

    texts = []
    for f in files:
        try:
            texts.append((f, open(f, "rb").read()))
        except OSError as exc:
            raise CliError(f"{f}: {exc.strerror}") from None
    errors = [e for r in lint_texts(texts) for e in r.errors]
    if errors:
        raise CliError("; ".join(str(e) for e in errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5
                                                                 else ""))
    out = []
    for f, text in texts:
        for i, doc in enumerate(load_text(text, source=f)):
            if doc.kind != kind.kind:
                raise CliError(f"{f}: document {i + 1} is a {doc.kind or 'document without kind'}, not a {kind.kind}")
            out.append(doc.body)
    if not out:
        raise CliError(f"{', '.join(files)}: no {kind.kind} document")
    return out


def _rows(kind: _Kind, items: list[dict]) -> tuple[list[str], list[list[str]]]:
    if kind.kind == "CronWorkflow":
        rows = []
        for o in items:
            spec, status = o.get("spec") or {}, o.get("status") or {}
            schedule = spec.get("schedule") or ",".join(spec.get("schedules") or [])
            rows.append([o["metadata"]["name"], age(o["metadata"].get("creationTimestamp")),
                         age(status.get("lastScheduledTime")) or "N/A", schedule, spec.get("timezone") or "",
                         str(bool(spec.get("suspend"))).lower()])
        return ["NAME", "AGE", "LAST RUN", "SCHEDULE", "TIMEZONE", "SUSPENDED"], rows
    return ["NAME"], [[o["metadata"]["name"]] for o in items]


def _summary(kind: _Kind, obj: dict) -> str:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    rows = [("Name:", meta["name"])]
    if kind.resource.namespaced:
        rows.append(("Namespace:", meta.get("namespace", "")))
    rows.append(("Created:", meta.get("creationTimestamp", "")))
    if kind.kind == "CronWorkflow":
        rows += [("Schedule:", spec.get("schedule") or ",".join(spec.get("schedules") or [])),
                 ("Suspended:", str(bool(spec.get("suspend"))).lower()),
                 ("ConcurrencyPolicy:", spec.get("concurrencyPolicy") or "Allow")]
        spec = spec.get("workflowSpec") or {}
    rows.append(("Entrypoint:", spec.get("entrypoint") or ""))
    params = (spec.get("arguments") or {}).get("parameters") or []
    lines = [f"{k:<20} {v}".rstrip() for k, v in rows]
    if params:
        lines.append("Parameters:")
        lines += [f"  {p.get('name')}: {p.get('value', '')}" for p in params]
    return "\n".join(lines)


def _group(name: str, kind: _Kind, help_: str) -> click.Group:
    @click.group(name, help=help_)
    def group() -> None:
        pass

    @group.command("create")
    @click.argument("files", nargs=-1, required=True)
    @click.option("-o", "--output", type=click.Choice(["", "name", "json", "yaml"]), default="")
    @cluster_options
    def create(files: tuple[str, ...], output: str, *, target) -> None:
        """Create from files."""
        bodies = _load(kind, files)

        async def body(api, ns: str) -> int:
            for b in bodies:
                created = await api.create(kind.resource, b, namespace=kind.ns(ns))
                click.echo(dump(created, fmt=output) if output in ("json", "yaml") else
                           created["metadata"]["name"] if output == "name" else _summary(kind, created))
            return 0

        run_command(target, body)

    @group.command("list")
    @click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace.")
    @click.option("-o", "--output", type=click.Choice(["", "name", "json", "yaml"]), default="")
    @cluster_options
    def list_(all_namespaces: bool, output: str, *, target) -> None:
        """List them."""
        async def body(api, ns: str) -> int:
            where = None if all_namespaces else kind.ns(ns)
            items = (await api.list(kind.resource, namespace=where)).items
            if output in ("json", "yaml"):
                click.echo(dump(items, fmt=output))
            elif output == "name":
                for o in items:
                    click.echo(o["metadata"]["name"])
            elif not items:
                click.echo(f"No {kind.label}s found")
            else:
                headers, rows = _rows(kind, items)
                if all_namespaces and kind.resource.namespaced:
                    headers = ["NAMESPACE", *headers]
                    rows = [[o["metadata"].get("namespace", ""), *r] for o, r in zip(items, rows)]
                click.echo(table(headers, rows))
            return 0

        run_command(target, body)

    @group.command("get")
    @click.argument("names", nargs=-1, required=True)
    @click.option("-o", "--output", type=click.Choice(["", "name", "json", "yaml"]), default="")
    @cluster_options
    def get(names: tuple[str, ...], output: str, *, target) -> None:
        """Show one or more."""
        async def body(api, ns: str) -> int:
            for n in names:
                try:
                    obj = await api.get(kind.resource, n, namespace=kind.ns(ns))
                except NotFound:
                    raise CliError(f"{kind.label} {n!r} not found"
                                   + (f" in namespace {ns}" if kind.resource.namespaced else "")) from None
                click.echo(dump(obj, fmt=output) if output in ("json", "yaml") else
                           obj["metadata"]["name"] if output == "name" else _summary(kind, obj))
            return 0

        run_command(target, body)

    @group.command("delete")
    @click.argument("names", nargs=-1)
    @click.option("--all", "all_", is_flag=True, help="Delete all of them.")
    @cluster_options
    def delete(names: tuple[str, ...], all_: bool, *, target) -> None:
        """Delete by name, or --all."""
        if bool(names) == all_:
            raise click.UsageError("give NAMES or --all (one of them)")

        async def body(api, ns: str) -> int:
            targets = list(names) or [o["metadata"]["name"] for o in
                                      (await api.list(kind.resource, namespace=kind.ns(ns))).items]
            status = 0
            for n in targets:
                try:
                    await api.delete(kind.resource, n, namespace=kind.ns(ns))
                except NotFound:
                    click.echo(f"{kind.label} '{n}' not found", err=True)
                    status = 1
                    continue
                click.echo(f"{kind.label} '{n}' deleted")
            return status

        run_command(target, body)

    return group


template = _group("template", _Kind(base.WORKFLOW_TEMPLATES, "WorkflowTemplate"), "Manage WorkflowTemplates.")
cluster_template = _group("cluster-template", _Kind(base.CLUSTER_WORKFLOW_TEMPLATES, "ClusterWorkflowTemplate"),
                          "Manage ClusterWorkflowTemplates.")
_CRON = _Kind(base.CRON_WORKFLOWS, "CronWorkflow")
cron = _group("cron", _CRON, "Manage CronWorkflows.")


def _cron_suspend(verb: str, value: bool) -> click.Command:
    @cron.command(verb)
    @click.argument("names", nargs=-1, required=True)
    @cluster_options
    def command(names: tuple[str, ...], *, target) -> None:
        async def body(api, ns: str) -> int:
            for n in names:
                try:
                    await api.patch(base.CRON_WORKFLOWS, n, {"spec": {"suspend": value}}, namespace=ns)
                except NotFound:
                    raise CliError(f"CronWorkflow {n!r} not found in namespace {ns}") from None
                click.echo(f"CronWorkflow '{n}' {'suspended' if value else 'resumed'}")
            return 0

        run_command(target, body)

    command.__doc__ = f"{verb.capitalize()} CronWorkflows."
    return command


_cron_suspend("suspend", True)
_cron_suspend("resume", False)
