"""Every reference resolves: entrypoint, template, templateRef, workflowTemplateRef, exit handlers,
hooks; and every required input parameter is supplied by its caller."""
from __future__ import annotations

from typing import Iterator

from tiphys.core.spec import SpecError
from tiphys.core.validate.context import SpecContext, _dict, _list

__all__ = ["check_references", "check_hooks", "resolve_callee", "iter_calls"]


def check_references(ctx: SpecContext) -> Iterator[SpecError]:
    ref = _dict(ctx.spec.get("workflowTemplateRef"))
    if ref:
        name = ref.get("name")
        cluster = bool(ref.get("clusterScope"))
        base = ctx.library.lookup(name, cluster) if isinstance(name, str) else None
        if base is None:
            kind = "clusterworkflowtemplate" if cluster else "workflowtemplate"
            yield ctx.error(ctx.spec_path + ("workflowTemplateRef", "name"),
                            f"{kind} {name!r} not found (pass it in the same lint call)", "template-ref")
        else:
            ctx.base_spec = _dict(base.get("spec"))
    entry = ctx.spec.get("entrypoint") or _dict(ctx.base_spec).get("entrypoint")
    if not entry:
        if ctx.kind in ("Workflow", "CronWorkflow") and not ref:
            yield ctx.error(ctx.spec_path + ("entrypoint",), "spec.entrypoint is required", "entrypoint")
    elif isinstance(entry, str) and "{{" not in entry:
        callee = ctx.local_template(entry)
        if callee is None:
            yield ctx.error(ctx.spec_path + ("entrypoint",), f"entrypoint template {entry!r} not found", "entrypoint")
        elif ctx.kind in ("Workflow", "CronWorkflow"):
            supplied = set(ctx.workflow_parameters())
            yield from _inputs_supplied(ctx, callee, supplied, ctx.spec_path + ("entrypoint",), entry,
                                        "spec.arguments.parameters")
    for key, path in _exit_refs(ctx):
        if ctx.local_template(key) is None:
            yield ctx.error(path, f"exit handler template {key!r} not found", "exit-handler")
    for target, path, args, label in iter_calls(ctx):
        yield from _call(ctx, target, path, args, label)


def _exit_refs(ctx: SpecContext) -> Iterator[tuple[str, tuple]]:
    on_exit = ctx.spec.get("onExit")
    if isinstance(on_exit, str) and on_exit and "{{" not in on_exit:
        yield on_exit, ctx.spec_path + ("onExit",)


def iter_calls(ctx: SpecContext) -> Iterator[tuple[dict, tuple, dict, str]]:
    """Every place that calls a template: steps, tasks, hooks (spec, step and task), onExit of steps/tasks.

    Yields (the calling object, its path, its arguments, a label for messages).
    """
    for hook_name, hook in _dict(ctx.spec.get("hooks")).items():
        path = ctx.spec_path + ("hooks", hook_name)
        yield from _hook(ctx, _dict(hook), path, hook_name, ctx.spec_path)
    for site in ctx.templates + _inline_sites(ctx):
        t = site.body
        for i, group in enumerate(_list(t.get("steps"))):
            for j, step in enumerate(_list(group)):
                step = _dict(step)
                path = site.path + ("steps", i, j)
                yield step, path, _dict(step.get("arguments")), f"step {step.get('name')!r}"
                yield from _step_hooks(ctx, step, path)
        for k, task in enumerate(_list(_dict(t.get("dag")).get("tasks"))):
            task = _dict(task)
            path = site.path + ("dag", "tasks", k)
            yield task, path, _dict(task.get("arguments")), f"task {task.get('name')!r}"
            yield from _step_hooks(ctx, task, path)


def _inline_sites(ctx: SpecContext):
    from tiphys.core.validate.context import TemplateSite

    out = []
    for site in ctx.templates:
        for i, group in enumerate(_list(site.body.get("steps"))):
            for j, step in enumerate(_list(group)):
                if isinstance(_dict(step).get("inline"), dict):
                    out.append(TemplateSite(site.path + ("steps", i, j, "inline"), step["inline"]))
        for k, task in enumerate(_list(_dict(site.body.get("dag")).get("tasks"))):
            if isinstance(_dict(task).get("inline"), dict):
                out.append(TemplateSite(site.path + ("dag", "tasks", k, "inline"), task["inline"]))
    return out


def _step_hooks(ctx: SpecContext, step: dict, path: tuple):
    on_exit = step.get("onExit")
    if isinstance(on_exit, str) and on_exit:
        yield {"template": on_exit}, path + ("onExit",), {}, f"onExit of {step.get('name')!r}"
    for hook_name, hook in _dict(step.get("hooks")).items():
        yield from _hook(ctx, _dict(hook), path + ("hooks", hook_name), hook_name, path)


def _hook(ctx: SpecContext, hook: dict, path: tuple, hook_name: str, owner: tuple):
    yield hook, path, _dict(hook.get("arguments")), f"hook {hook_name!r}"


def check_hooks(ctx: SpecContext) -> Iterator[SpecError]:
    for hooks, base in _all_hooks(ctx):
        for name, hook in hooks.items():
            if name != "exit" and not _dict(hook).get("expression"):
                yield ctx.error(base + (name, "expression"), f"hook {name!r} needs an expression (only 'exit' runs "
                                "unconditionally)", "hook-expression")


def _all_hooks(ctx: SpecContext):
    yield _dict(ctx.spec.get("hooks")), ctx.spec_path + ("hooks",)
    for site in ctx.templates:
        for i, group in enumerate(_list(site.body.get("steps"))):
            for j, step in enumerate(_list(group)):
                yield _dict(_dict(step).get("hooks")), site.path + ("steps", i, j, "hooks")
        for k, task in enumerate(_list(_dict(site.body.get("dag")).get("tasks"))):
            yield _dict(_dict(task).get("hooks")), site.path + ("dag", "tasks", k, "hooks")


def resolve_callee(ctx: SpecContext, caller: dict) -> tuple[dict | None, str | None]:
    """The template a step/task/hook calls, or (None, why not)."""
    inline = caller.get("inline")
    if isinstance(inline, dict):
        return inline, None
    name = caller.get("template")
    if isinstance(name, str) and name:
        if "{{" in name:
            return None, None  # resolved at run time
        t = ctx.local_template(name)
        return (t, None) if t is not None else (None, f"template {name!r} not found")
    ref = _dict(caller.get("templateRef"))
    if ref:
        owner, template = ref.get("name"), ref.get("template")
        if not isinstance(owner, str) or not isinstance(template, str) or not owner or not template:
            return None, "templateRef needs name and template"
        cluster = bool(ref.get("clusterScope"))
        kind = "clustertemplate" if cluster else "workflowtemplate"
        if ctx.library.lookup(owner, cluster) is None:
            return None, f"{kind} {owner!r} not found (pass it in the same lint call)"
        t = ctx.library.template(owner, template, cluster)
        return (t, None) if t is not None else (None, f"template {template!r} not found in {kind} {owner!r}")
    return None, None


def _call(ctx: SpecContext, caller: dict, path: tuple, args: dict, label: str) -> Iterator[SpecError]:
    callee, why = resolve_callee(ctx, caller)
    if why:
        key = "templateRef" if caller.get("templateRef") is not None else "template"
        yield ctx.error(path + (key,), f"{label}: {why}", "template-ref")
    if callee is None:
        return
    supplied = {p.get("name") for p in _list(args.get("parameters")) if isinstance(p, dict)}
    yield from _inputs_supplied(ctx, callee, supplied, path, label, "arguments.parameters")
    given_artifacts = {a.get("name") for a in _list(args.get("artifacts")) if isinstance(a, dict)}
    for a in _list(_dict(callee.get("inputs")).get("artifacts")):
        a = _dict(a)
        if a.get("name") in given_artifacts or a.get("optional") or a.get("from") or _has_location(a):
            continue
        yield ctx.error(path + ("arguments", "artifacts"),
                        f"{label}: input artifact {a.get('name')!r} of template {callee.get('name')!r} was not supplied",
                        "input-missing")


def _inputs_supplied(ctx, callee: dict, supplied: set, path: tuple, label: str, where: str) -> Iterator[SpecError]:
    for p in _list(_dict(callee.get("inputs")).get("parameters")):
        p = _dict(p)
        if p.get("name") in supplied or p.get("value") is not None or p.get("default") is not None:
            continue
        if p.get("valueFrom") is not None:
            continue
        yield ctx.error(path, f"{label}: inputs.parameters.{p.get('name')} was not supplied "
                        f"(template {callee.get('name')!r} needs it in {where})", "input-missing")


_LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")


def _has_location(artifact: dict) -> bool:
    return any(artifact.get(k) is not None for k in _LOCATIONS)
