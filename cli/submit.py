"""`tiphys submit FILE...` / `--from KIND/NAME`: create workflows, then optionally wait, watch or log.

Files hold Workflow documents (other kinds are refused, naming file and kind); `-` reads
stdin. `--from workflowtemplate/NAME` (also `clusterworkflowtemplate/`, `cronwf/`) builds
the workflow Argo's `NewWorkflowFromWorkflowTemplate` builds: `generateName: NAME-`, a
`workflowTemplateRef` and the template label. `-p name=value` overrides or adds
`spec.arguments.parameters`. The default output is `get`'s view of the created workflow;
`--wait` prints `<name> <Phase> at <time>` and exits 1 when any ended Failed or Error.
"""
from __future__ import annotations

import sys

import click

from tiphys.cli._client import CliError, cluster_options, run_command
from tiphys.cli.get import view
from tiphys.cli._output import dump, use_color
from tiphys.controller.api import base
from tiphys.controller.api.errors import NotFound
from tiphys.core.spec import load_text

__all__ = ["submit", "apply_parameters", "parse_parameters", "load_parameter_file", "workflow_from"]

_FROM_KINDS = {"workflowtemplate": "WorkflowTemplate", "wftmpl": "WorkflowTemplate",
               "clusterworkflowtemplate": "ClusterWorkflowTemplate", "cwftmpl": "ClusterWorkflowTemplate",
               "cronworkflow": "CronWorkflow", "cronwf": "CronWorkflow", "cwf": "CronWorkflow"}


def parse_parameters(values: tuple[str, ...], /, *, flag: str = "-p") -> dict[str, str]:
    given: dict[str, str] = {}
    for p in values:
        name, sep, value = p.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{p!r} is not name=value", param_hint=flag)
        given[name] = value
    return given


def load_parameter_file(path: str, /) -> dict[str, str]:
    """`-f`: a mapping of parameter names to values; non-string values are written as JSON, as Argo does."""
    import json

    import yaml

    try:
        data = yaml.safe_load(open(path, "rb"))
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--parameter-file") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path}: expected a mapping of parameter names to values",
                                 param_hint="--parameter-file")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def apply_parameters(spec: dict, given: dict[str, str], /) -> dict:
    """`spec` with `arguments.parameters` overridden (value replaces valueFrom) or extended."""
    if not given:
        return spec
    args = dict(spec.get("arguments") or {})
    out, seen = [], set()
    for p in args.get("parameters") or []:
        if p.get("name") in given:
            p = {k: v for k, v in p.items() if k != "valueFrom"} | {"value": given[p["name"]]}
            seen.add(p["name"])
        out.append(p)
    out += [{"name": k, "value": v} for k, v in given.items() if k not in seen]
    return {**spec, "arguments": {**args, "parameters": out}}


def _load_files(files: tuple[str, ...]) -> list[dict]:
    wfs = []
    for f in files:
        try:
            text = sys.stdin.buffer.read() if f == "-" else open(f, "rb").read()
        except OSError as exc:
            raise CliError(f"{f}: {exc.strerror}") from None
        try:
            docs = load_text(text, source=f)
        except Exception as exc:  # the loader's typed errors already name file and line
            raise CliError(str(exc)) from None
        for i, doc in enumerate(docs):
            if doc.kind != "Workflow":
                raise CliError(f"{f}: document {i + 1} is a {doc.kind or 'document without kind'}, "
                               "not a Workflow (use `template create` / `cron create` for templates)")
            wfs.append(doc.body)
    if not wfs:
        raise CliError(f"{', '.join(files)}: no Workflow document")
    return wfs


async def workflow_from(api: base.Api, namespace: str, ref: str, /) -> dict:
    """The workflow `--from KIND/NAME` submits; the referenced object must exist."""
    kind_text, sep, name = ref.partition("/")
    kind = _FROM_KINDS.get(kind_text.lower())
    if not sep or not name or kind is None:
        raise click.BadParameter(f"{ref!r}: expected workflowtemplate/NAME, clusterworkflowtemplate/NAME or "
                                 "cronwf/NAME", param_hint="--from")
    resource = {"WorkflowTemplate": base.WORKFLOW_TEMPLATES, "ClusterWorkflowTemplate": base.CLUSTER_WORKFLOW_TEMPLATES,
                "CronWorkflow": base.CRON_WORKFLOWS}[kind]
    try:
        obj = await api.get(resource, name, namespace=namespace if resource.namespaced else None)
    except NotFound:
        where = f" in namespace {namespace}" if resource.namespaced else ""
        raise CliError(f"--from: {kind} {name!r} not found{where}") from None
    if kind == "CronWorkflow":
        return {"metadata": {"generateName": f"{name}-", "labels": {"workflows.argoproj.io/cron-workflow": name}},
                "spec": dict((obj.get("spec") or {}).get("workflowSpec") or {})}
    label = "workflows.argoproj.io/cluster-workflow-template" if kind == "ClusterWorkflowTemplate" else \
        "workflows.argoproj.io/workflow-template"
    ref_spec = {"name": name, **({"clusterScope": True} if kind == "ClusterWorkflowTemplate" else {})}
    return {"metadata": {"generateName": f"{name}-", "labels": {label: name}},
            "spec": {"workflowTemplateRef": ref_spec}}


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise click.BadParameter(f"{part!r} is not key=value", param_hint="-l")
        out[k.strip()] = v.strip()
    return out


def customise(wf: dict, /, *, params: dict[str, str], entrypoint: str | None, name: str | None,
              generate_name: str | None, labels: dict[str, str], service_account: str | None,
              priority: int | None) -> dict:
    meta = dict(wf.get("metadata") or {})
    spec = apply_parameters(dict(wf.get("spec") or {}), params)
    if entrypoint:
        spec["entrypoint"] = entrypoint
    if service_account:
        spec["serviceAccountName"] = service_account
    if priority is not None:
        spec["priority"] = priority
    if name:
        meta["name"] = name
        meta.pop("generateName", None)
    elif generate_name:
        meta["generateName"] = generate_name
        meta.pop("name", None)
    if labels:
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", **wf, "metadata": meta, "spec": spec}


@click.command()
@click.argument("files", nargs=-1)
@click.option("--from", "from_", default=None, metavar="KIND/NAME",
              help="Submit from workflowtemplate/NAME, clusterworkflowtemplate/NAME or cronwf/NAME.")
@click.option("-p", "--parameter", "parameters", multiple=True, help="Input parameter name=value (repeatable).")
@click.option("-f", "--parameter-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A YAML/JSON mapping of input parameters (-p wins).")
@click.option("--entrypoint", default=None, help="Override the entrypoint.")
@click.option("--name", default=None, help="Override metadata.name.")
@click.option("--generate-name", default=None, help="Override metadata.generateName.")
@click.option("-l", "--labels", default=None, help="Labels to add: k=v,k2=v2.")
@click.option("--serviceaccount", default=None, help="Run the workflow's pods with this service account.")
@click.option("--priority", type=int, default=None, help="Workflow priority.")
@click.option("--dry-run", is_flag=True, help="Print the workflow that would be created; create nothing.")
@click.option("-w", "--wait", "wait_", is_flag=True, help="Wait for completion; exit 1 if Failed/Error.")
@click.option("--watch", "watch_", is_flag=True, help="Watch the workflow until it completes.")
@click.option("--log", "log_", is_flag=True, help="After completion print the pods' logs.")
@click.option("-o", "--output", type=click.Choice(["", "name", "json", "yaml", "wide"]), default="")
@click.option("--no-color", is_flag=True, help="No ANSI colours.")
@click.option("--no-utf8", is_flag=True, help="Words and ASCII instead of glyphs.")
@cluster_options
def submit(files: tuple[str, ...], from_: str | None, parameters: tuple[str, ...], parameter_file: str | None,
           entrypoint: str | None,
           name: str | None, generate_name: str | None, labels: str | None, serviceaccount: str | None,
           priority: int | None, dry_run: bool, wait_: bool, watch_: bool, log_: bool, output: str,
           no_color: bool, no_utf8: bool, *, target) -> None:
    """Submit workflows from files or from a template."""
    if bool(files) == bool(from_):
        raise click.UsageError("give workflow FILES or --from KIND/NAME (one of them)")
    params = {**(load_parameter_file(parameter_file) if parameter_file else {}), **parse_parameters(parameters)}
    extra = _labels(labels)
    if name and len(files) > 1:
        raise click.UsageError("--name needs exactly one workflow")
    local = _load_files(files) if files else []
    color, utf8 = use_color(no_color), not no_utf8

    async def body(api, ns: str) -> int:
        sources = local or [await workflow_from(api, ns, from_)]
        wfs = [customise(w, params=params, entrypoint=entrypoint, name=name, generate_name=generate_name,
                         labels=extra, service_account=serviceaccount, priority=priority) for w in sources]
        if dry_run:
            for wf in wfs:
                click.echo(dump(wf, fmt="json" if output == "json" else "yaml"))
            return 0
        created = [await api.create(base.WORKFLOWS, wf, namespace=ns) for wf in wfs]
        for wf in created:
            click.echo(view(wf, output=output, color=color, utf8=utf8))
        names = [wf["metadata"]["name"] for wf in created]
        status = 0
        if watch_:
            from tiphys.cli.watch import follow

            for n in names:  # as Argo's: --watch shows the outcome, only --wait turns it into a status
                await follow(api, ns, n, color=color, utf8=utf8)
        if wait_ or log_:
            from tiphys.cli.wait import await_workflows

            status = await await_workflows(api, ns, names, quiet=not wait_)
        if log_:
            from tiphys.cli.logs import print_logs

            for n in names:
                # the run's outcome decides the exit status; unavailable logs are reported only
                await print_logs(api, ns, n, fatal=False)
        return int(status)

    run_command(target, body)
