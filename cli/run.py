"""`tiphys run FILE`: run a workflow on this machine — embedded API, controller and kubelet in one process.

The same Engine that runs against a kube-apiserver runs here against the embedded API; pods run
on the local node agent (or complete at once with `--simulate`). The view is `argo watch`'s tree.

What `-f` files hold (templates, ConfigMaps, Secrets, PVCs) is created before the controller
starts, in the workflow's namespace, and so is the `artifact-repositories` ConfigMap of Argo's
quick-start install (keys `default-v1` and `my-key`, both the local artifact directory) unless a
`-f` file brings its own: examples with `artifactRepositoryRef` run as they do there.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import click

from tiphys.core.validate import lint_texts

__all__ = ["run"]


def _load(file: str, extra: tuple[str, ...]) -> tuple[dict, list[tuple[str, bytes]]]:
    files = [(file, Path(file).read_bytes())] + [(f, Path(f).read_bytes()) for f in extra]
    reports = lint_texts(files)
    errors = [e for r in reports for e in r.errors]
    if errors:
        for e in errors:
            click.echo(f"error: {e}", err=True)
        raise SystemExit(1)
    from tiphys.core.spec import load_text

    docs = [d for d in load_text(files[0][1], source=file) if d.kind == "Workflow"]
    if not docs:
        raise click.ClickException(f"{file}: no Workflow document")
    return docs[0].body, files[1:]


def _apply_parameters(wf: dict, params: tuple[str, ...]) -> dict:
    if not params:
        return wf
    given = {}
    for p in params:
        name, sep, value = p.partition("=")
        if not sep:
            raise click.BadParameter(f"{p!r} is not name=value", param_hint="-p")
        given[name] = value
    spec = dict(wf.get("spec") or {})
    args = dict(spec.get("arguments") or {})
    out, seen = [], set()
    for p in args.get("parameters") or []:
        if p.get("name") in given:
            p = {**p, "value": given[p["name"]]}
            p.pop("valueFrom", None)
            seen.add(p["name"])
        out.append(p)
    out += [{"name": k, "value": v} for k, v in given.items() if k not in seen]
    args["parameters"] = out
    spec["arguments"] = args
    return {**wf, "spec": spec}


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-p", "--parameter", "parameters", multiple=True, help="Workflow parameter name=value.")
@click.option("-f", "--template-file", "templates", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Files of WorkflowTemplates, ClusterWorkflowTemplates, ConfigMaps or Secrets the workflow uses.")
@click.option("--simulate", is_flag=True, help="Complete pods at once instead of running them.")
@click.option("--log", "show_logs", is_flag=True, help="Print each step's log when it ends.")
@click.option("-o", "--output", type=click.Choice(["tree", "json"]), default="tree")
@click.option("--no-color", is_flag=True, default=bool(os.environ.get("NO_COLOR")), help="No ANSI colours.")
@click.option("--no-utf8", is_flag=True, help="Words and ASCII instead of glyphs.")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait for the end.")
@click.option("--state", type=click.Path(dir_okay=False), default=None,
              help="Persist the embedded API to this SQLite file.")
def run(file: str, parameters: tuple[str, ...], templates: tuple[str, ...], simulate: bool, show_logs: bool,
        output: str, no_color: bool, no_utf8: bool, timeout: float, state: str | None) -> None:
    """Run a workflow to completion on this machine; exit 0 when it Succeeded."""
    wf, template_files = _load(file, templates)
    wf = _apply_parameters(wf, parameters)
    phase = asyncio.run(_run(wf, template_files, simulate=simulate, output=output, color=not no_color,
                             utf8=not no_utf8, timeout=timeout, state=state, show_logs=show_logs))
    sys.exit(0 if phase == "Succeeded" else 1)


def _supporting_kinds() -> dict:
    from tiphys.controller.api import base

    return {"WorkflowTemplate": base.WORKFLOW_TEMPLATES, "ClusterWorkflowTemplate": base.CLUSTER_WORKFLOW_TEMPLATES,
            "ConfigMap": base.CONFIG_MAPS, "Secret": base.SECRETS, "PersistentVolumeClaim": base.PERSISTENT_VOLUME_CLAIMS}


def _print_logs(wf: dict, nodes: dict, root: Path) -> None:
    """Each pod's main-container log, prefixed with its step's display name, in start order."""
    from tiphys.core.status import ids

    meta = wf["metadata"]
    for node in sorted((n for n in nodes.values() if n.type_ == "Pod"), key=lambda n: n.started_at or ""):
        template = node.template_ref.template if node.template_ref else (node.template_name or "")
        pod = ids.pod_name(meta["name"], node.name or "", template)
        path = Path(root) / "logs" / meta["namespace"] / pod / "main.log"
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                click.echo(f"{node.display_name}: {line}")


async def _run(wf: dict, template_files: list, *, simulate: bool, output: str, color: bool, utf8: bool,
               timeout: float, state: str | None, show_logs: bool) -> str:
    from tiphys.cli.render import Style, render_workflow
    from tiphys.controller.api import base
    from tiphys.controller.local import LocalSession
    from tiphys.controller.status_writer import StatusWriter
    from tiphys.core.spec import load_text

    SUPPORTING_KINDS = _supporting_kinds()
    style = Style(color=color and sys.stdout.isatty(), utf8=utf8)
    reader = StatusWriter()
    live = output == "tree" and sys.stdout.isatty()
    last_lines = [0]

    def draw(obj: dict) -> None:
        if not live:
            return
        try:
            nodes = reader.read_nodes(obj.get("status") or {})
        except ValueError:
            return
        text = render_workflow(obj, nodes, style=style)
        if last_lines[0]:
            sys.stdout.write(f"\x1b[{last_lines[0]}F\x1b[J")
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        last_lines[0] = text.count("\n") + 1

    namespace = (wf.get("metadata") or {}).get("namespace") or "default"
    preload = []
    for _, text in template_files:
        for doc in load_text(text):
            resource = SUPPORTING_KINDS.get(doc.kind)
            if resource is not None:
                meta = {**(doc.body.get("metadata") or {})}
                if resource.namespaced:
                    meta.setdefault("namespace", namespace)  # as `kubectl apply -n`: a document's own wins
                preload.append((resource, {**doc.body, "metadata": meta}))
    async with LocalSession(kubelet="sim" if simulate else "agent", state_path=state, namespace=namespace,
                            preload=preload, artifact_repositories=True) as session:
        created = await session.submit(wf)
        name, ns = created["metadata"]["name"], created["metadata"]["namespace"]
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        try:
            loop.add_signal_handler(signal.SIGINT, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
        from tiphys.controller.local import wait_completed

        waiter = asyncio.ensure_future(wait_completed(session.api, name, ns, timeout=timeout, on_change=draw,
                                                    artifact_gc=True))
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            click.echo("\nstopping the workflow (Ctrl-C again to abort)...", err=True)
            await session.api.patch(base.WORKFLOWS, name, {"spec": {"shutdown": "Stop"}}, namespace=ns)
            loop.remove_signal_handler(signal.SIGINT)
        stopper.cancel()
        final = await waiter
        nodes = reader.read_nodes(final.get("status") or {})
        log_root = getattr(session.kubelet, "root_dir", None)
        if show_logs and log_root is not None:
            _print_logs(final, nodes, log_root)
    if output == "json":
        click.echo(json.dumps(final, indent=2))
    else:
        if not live:
            click.echo(render_workflow(final, nodes, style=style))
        else:
            draw(final)
    return (final.get("status") or {}).get("phase", "")
