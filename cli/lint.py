"""`tiphys lint FILE|DIR ...`: validate workflows as Argo does; exit 0 when clean, 1 otherwise."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tiphys.core.validate import lint_texts

SUFFIXES = (".yaml", ".yml", ".json")


def _collect(paths: tuple[str, ...]) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for raw in paths:
        if raw == "-":
            files.append(("<stdin>", sys.stdin.buffer.read()))
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        elif path.exists():
            found = [path]
        else:
            raise click.ClickException(f"{raw}: no such file or directory")
        for p in found:
            try:
                files.append((str(p), p.read_bytes()))
            except OSError as exc:
                raise click.ClickException(f"{p}: {exc.strerror}") from None
    return files


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Treat unknown fields as errors, not warnings.")
@click.option("-o", "--output", type=click.Choice(["pretty", "simple", "json"]), default="pretty",
              help="pretty: one line per problem and a summary; simple: problems only; json: for machines.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
def lint(paths: tuple[str, ...], strict: bool, output: str, quiet: bool) -> None:
    """Validate workflow files the way Argo does.

    Templates referenced with templateRef or workflowTemplateRef resolve against the
    WorkflowTemplates and ClusterWorkflowTemplates given in the same call.
    """
    reports = lint_texts(_collect(paths), strict=strict)
    errors = sum(len(r.errors) for r in reports)
    if output == "json":
        click.echo(json.dumps({
            "files": [{"file": r.source, "documents": r.documents, "skipped": r.skipped,
                       "problems": [p.as_dict() for p in r.problems]} for r in reports],
            "errors": errors,
        }, indent=2))
    else:
        for r in reports:
            for p in r.problems:
                if p.severity == "warning" and quiet:
                    continue
                label = click.style("error", fg="red") if p.severity == "error" else click.style("warning", fg="yellow")
                click.echo(f"{label}: {p}")
        if output == "pretty":
            docs = sum(r.documents for r in reports)
            bad = sum(1 for r in reports if r.errors)
            if errors:
                click.echo(f"{errors} error(s) in {bad} of {len(reports)} file(s) ({docs} documents)")
            else:
                click.echo(f"no errors found in {len(reports)} file(s) ({docs} documents)")
    sys.exit(1 if errors else 0)
