"""Names, template shapes, the CRD's CEL rules and enum values."""
from __future__ import annotations

import re
from typing import Iterator

from tiphys.core.cron import CronSpecError, read_cron
from tiphys.core.spec import SpecError
from tiphys.core.validate.context import SpecContext, TemplateSite, _dict, _list

__all__ = ["check_structure", "TEMPLATE_TYPES", "NAME_RE"]

NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")  # templates, steps, tasks (validate.go)
PARAM_RE = re.compile(r"^[-a-zA-Z0-9_]+$")  # parameters and artifacts
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TEMPLATE_TYPES = ("container", "containerSet", "script", "resource", "data", "suspend", "steps", "dag", "http",
                  "plugin")
MAX_NAME = 128
MAX_TEMPLATES = 200
MAX_DAG_TASKS = 200

# field path suffix (relative to a template or spec) -> allowed values
ENUMS_TEMPLATE = {
    ("retryStrategy", "retryPolicy"): {"Always", "OnFailure", "OnError", "OnTransientError"},
    ("resource", "action"): {"get", "create", "apply", "delete", "replace", "patch"},
    ("resource", "mergeStrategy"): {"strategic", "merge", "json"},
    ("container", "imagePullPolicy"): {"Always", "Never", "IfNotPresent"},
    ("script", "imagePullPolicy"): {"Always", "Never", "IfNotPresent"},
}
ENUMS_SPEC = {
    ("podGC", "strategy"): {"", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"},
    ("shutdown",): {"", "Stop", "Terminate"},
    ("volumeClaimGC", "strategy"): {"", "OnWorkflowCompletion", "OnWorkflowSuccess"},
    ("artifactGC", "strategy"): {"", "OnWorkflowCompletion", "OnWorkflowDeletion", "Never"},
    ("retryStrategy", "retryPolicy"): {"Always", "OnFailure", "OnError", "OnTransientError"},
}
ENUMS_CRON = {("concurrencyPolicy",): {"Allow", "Forbid", "Replace"}}


def check_structure(ctx: SpecContext) -> Iterator[SpecError]:
    yield from _metadata(ctx)
    sites = ctx.templates
    if len(sites) > MAX_TEMPLATES:
        yield ctx.error(ctx.spec_path + ("templates",), f"at most {MAX_TEMPLATES} templates are allowed, got {len(sites)}",
                        "templates-max")
    seen: dict[str, int] = {}
    for site in sites:
        name = site.body.get("name")
        if not isinstance(name, str) or not name:
            yield ctx.error(site.path + ("name",), "template name is required", "name-required")
        else:
            yield from _name(ctx, site.path + ("name",), name, "template")
            if name in seen:
                yield ctx.error(site.path + ("name",), f"template name {name!r} is not unique", "name-unique")
            seen[name] = 1
        yield from _template(ctx, site)
    yield from _enums(ctx, ctx.spec, ctx.spec_path, ENUMS_SPEC)
    if ctx.kind == "CronWorkflow":
        enum_errors = list(_enums(ctx, _dict(ctx.doc.body.get("spec")), ("spec",), ENUMS_CRON))
        yield from enum_errors
        cron = _dict(ctx.doc.body.get("spec"))
        if not _list(cron.get("schedules")) and not cron.get("schedule"):
            yield ctx.error(("spec", "schedules"), "a CronWorkflow needs at least one schedule", "cron-schedule")
        else:
            try:  # the cron controller's own reader: schedules, timezone, policies, as it will run them
                read_cron(ctx.doc.body)
            except CronSpecError as exc:
                error = ctx.error(_json_path(exc.path), exc.message, "cron-spec")
                if all(e.path != error.path for e in enum_errors):
                    yield error  # not already said by the enum rule
    yield from _parameters(ctx, _list(_dict(ctx.spec.get("arguments")).get("parameters")),
                           ctx.spec_path + ("arguments", "parameters"))


def _metadata(ctx: SpecContext) -> Iterator[SpecError]:
    meta = _dict(ctx.doc.body.get("metadata"))
    name, generate = meta.get("name"), meta.get("generateName")
    limit = 52 if ctx.kind == "CronWorkflow" else 63
    if isinstance(name, str) and name:
        if len(name) > limit:
            yield ctx.error(("metadata", "name"), f"name {name!r} is longer than {limit} characters", "name-length")
        if not DNS1123_SUBDOMAIN.match(name):
            yield ctx.error(("metadata", "name"), f"name {name!r} must be a lowercase RFC 1123 subdomain "
                            "(a-z, 0-9, '-' and '.', starting and ending alphanumeric)", "name-pattern")
    if isinstance(generate, str) and generate:
        stem = generate.rstrip("-.")
        if stem and not DNS1123_SUBDOMAIN.match(stem):
            yield ctx.error(("metadata", "generateName"), f"generateName {generate!r} must be a lowercase RFC 1123 "
                            "subdomain prefix", "name-pattern")


def _name(ctx: SpecContext, path: tuple, name: str, what: str) -> Iterator[SpecError]:
    if len(name) > MAX_NAME:
        yield ctx.error(path, f"{what} name {name!r} is longer than {MAX_NAME} characters", "name-length")
    if not NAME_RE.match(name):
        yield ctx.error(path, f"{what} name {name!r} must consist of alphanumeric characters or '-', and must "
                        "start with an alphanumeric character", "name-pattern")


def _template(ctx: SpecContext, site: TemplateSite) -> Iterator[SpecError]:
    t = site.body
    types = [k for k in TEMPLATE_TYPES if t.get(k) is not None]
    if len(types) > 1:
        yield ctx.error(site.path, f"template {site.name!r} has more than one type: {', '.join(types)}",
                        "template-type")
    elif not types:
        yield ctx.error(site.path, f"template {site.name!r} type is unspecified (one of {', '.join(TEMPLATE_TYPES)})",
                        "template-type")
    if t.get("steps") is not None or t.get("dag") is not None:
        for key in ("timeout", "activeDeadlineSeconds"):
            if t.get(key) is not None:
                yield ctx.error(site.path + (key,), f"{key} is not allowed on steps or dag templates", "leaf-only")
    yield from _enums(ctx, t, site.path, ENUMS_TEMPLATE)
    inputs = _dict(t.get("inputs"))
    yield from _parameters(ctx, _list(inputs.get("parameters")), site.path + ("inputs", "parameters"))
    yield from _artifacts(ctx, _list(inputs.get("artifacts")), site.path + ("inputs", "artifacts"))
    outputs = _dict(t.get("outputs"))
    yield from _parameters(ctx, _list(outputs.get("parameters")), site.path + ("outputs", "parameters"))
    yield from _artifacts(ctx, _list(outputs.get("artifacts")), site.path + ("outputs", "artifacts"))
    for i, group in enumerate(_list(t.get("steps"))):
        seen: set[str] = set()
        for j, step in enumerate(_list(group)):
            yield from _step_like(ctx, _dict(step), site.path + ("steps", i, j), "step")
            name = _dict(step).get("name")
            if isinstance(name, str) and name in seen:
                yield ctx.error(site.path + ("steps", i, j, "name"), f"step name {name!r} is not unique in its group",
                                "name-unique")
            seen.add(name)
    dag = _dict(t.get("dag"))
    tasks = _list(dag.get("tasks"))
    if len(tasks) > MAX_DAG_TASKS:
        yield ctx.error(site.path + ("dag", "tasks"), f"a DAG may have at most {MAX_DAG_TASKS} tasks, got {len(tasks)}",
                        "dag-max")
    for k, task in enumerate(tasks):
        yield from _step_like(ctx, _dict(task), site.path + ("dag", "tasks", k), "task")


def _step_like(ctx: SpecContext, step: dict, path: tuple, what: str) -> Iterator[SpecError]:
    name = step.get("name")
    if not isinstance(name, str) or not name:
        yield ctx.error(path + ("name",), f"{what} name is required", "name-required")
    else:
        yield from _name(ctx, path + ("name",), name, what)
    refs = [k for k in ("template", "templateRef", "inline") if step.get(k) is not None]
    if len(refs) != 1:
        msg = "needs one of template, templateRef or inline" if not refs else f"sets more than one of {', '.join(refs)}"
        yield ctx.error(path, f"{what} {name!r} {msg}", "template-ref")
    loops = [k for k in ("withItems", "withParam", "withSequence") if step.get(k) is not None]
    if len(loops) > 1:
        yield ctx.error(path, f"{what} {name!r} sets more than one of {', '.join(loops)}", "loop-exclusive")
    seq = _dict(step.get("withSequence"))
    if seq.get("count") is not None and seq.get("end") is not None:
        yield ctx.error(path + ("withSequence",), "withSequence.count and withSequence.end are exclusive",
                        "sequence-exclusive")
    args = _dict(step.get("arguments"))
    yield from _parameters(ctx, _list(args.get("parameters")), path + ("arguments", "parameters"))
    yield from _artifacts(ctx, _list(args.get("artifacts")), path + ("arguments", "artifacts"))
    if isinstance(step.get("inline"), dict):
        yield from _template(ctx, TemplateSite(path + ("inline",), step["inline"]))


def _parameters(ctx: SpecContext, params: list, path: tuple) -> Iterator[SpecError]:
    seen: set[str] = set()
    for i, p in enumerate(params):
        p = _dict(p)
        name = p.get("name")
        if not isinstance(name, str) or not name:
            yield ctx.error(path + (i, "name"), "parameter name is required", "name-required")
            continue
        if not PARAM_RE.match(name):
            yield ctx.error(path + (i, "name"), f"parameter name {name!r} must consist of alphanumeric characters, "
                            "'_' or '-'", "name-pattern")
        if name in seen:
            yield ctx.error(path + (i, "name"), f"parameter name {name!r} is not unique", "name-unique")
        seen.add(name)
        enum = p.get("enum")
        if isinstance(enum, list):
            if not enum:
                yield ctx.error(path + (i, "enum"), "enum must not be empty", "enum")
            allowed = {_text(v) for v in enum}
            for key in ("value", "default"):
                v = p.get(key)
                if v is not None and "{{" not in _text(v) and _text(v) not in allowed:
                    yield ctx.error(path + (i, key), f"value {_text(v)!r} is not one of the enum values "
                                    f"{sorted(allowed)}", "enum")


def _artifacts(ctx: SpecContext, artifacts: list, path: tuple) -> Iterator[SpecError]:
    seen: set[str] = set()
    for i, a in enumerate(artifacts):
        a = _dict(a)
        name = a.get("name")
        if not isinstance(name, str) or not name:
            yield ctx.error(path + (i, "name"), "artifact name is required", "name-required")
            continue
        if not PARAM_RE.match(name):
            yield ctx.error(path + (i, "name"), f"artifact name {name!r} must consist of alphanumeric characters, "
                            "'_' or '-'", "name-pattern")
        if name in seen:
            yield ctx.error(path + (i, "name"), f"artifact name {name!r} is not unique", "name-unique")
        seen.add(name)
        p = a.get("path")
        if isinstance(p, str) and ".." in p.split("/"):
            yield ctx.error(path + (i, "path"), f"artifact path {p!r} must not contain '..'", "artifact-path")


def _enums(ctx: SpecContext, body: dict, base: tuple, table: dict) -> Iterator[SpecError]:
    for suffix, allowed in table.items():
        value: object = body
        for key in suffix:
            value = _dict(value).get(key)
        if isinstance(value, str) and "{{" not in value and value not in allowed:
            yield ctx.error(base + suffix, f"{value!r} is not one of {sorted(v for v in allowed if v)}", "enum")


def _text(value: object) -> str:
    from tiphys.core.spec import as_text

    return as_text(value)


def _json_path(text: str) -> tuple:
    """`$.spec.schedules[1]` -> ("spec", "schedules", 1)."""
    parts: list = []
    for piece in text.removeprefix("$").strip(".").split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        for index in filter(None, rest.replace("]", "").split("[")):
            parts.append(int(index) if index.isdigit() else index)
    return tuple(parts)
