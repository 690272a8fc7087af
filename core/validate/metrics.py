"""Custom Prometheus metrics (`metrics.prometheus[]`) are well formed, as Argo checks them.

One metric is checked by `metric_problems`, which yields `(path suffix, message)` pairs; the
lint rule (`check_metrics`) prefixes the site's path, and the planner (core/plan/metrics.py)
calls the same function at run time, so a workflow that skipped `argo lint` meets the same rules.

The rules (Argo's `workflow/validate` and `workflow/metrics`, reference §3.3 and §5.17):
- `name` matches `[a-zA-Z0-9_]+` (it is exported as `argo_workflows_<name>`, so a leading digit
  is fine); label keys match `[a-zA-Z_][a-zA-Z0-9_]*` (a label name is exported as is, and
  Prometheus does not allow it to start with a digit);
- `help` is required (the CRD requires it);
- exactly one of `gauge`, `counter`, `histogram`, with a non-empty `value`;
- `gauge.operation` is `Set`, `Add` or `Sub` (empty means Set);
- `histogram.buckets` is a non-empty list of numbers in strictly increasing order;
- a real-time gauge's value is exactly `{{duration}}` (template level) or `{{workflow.duration}}`
  (workflow level): it is recomputed at every scrape, so it can only be a running clock.
  `resourcesDuration.*` in particular is refused there, as Argo refuses it.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from tiphys.core.spec import SpecError
from tiphys.core.validate.context import SpecContext, _dict, _list

__all__ = ["check_metrics", "first_spec_problem", "metric_problems", "realtime_variable", "METRIC_NAME_RE", "LABEL_KEY_RE",
           "GAUGE_OPERATIONS"]

METRIC_NAME_RE = re.compile(r"^[a-zA-Z0-9_]+$")
LABEL_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
GAUGE_OPERATIONS = ("Set", "Add", "Sub")
_KINDS = ("gauge", "counter", "histogram")


def realtime_variable(*, workflow_level: bool) -> str:
    """The only variable a real-time gauge may be: the running clock of its owner."""
    return "workflow.duration" if workflow_level else "duration"


def metric_problems(metric: Any, /, *, workflow_level: bool) -> Iterator[tuple[tuple, str]]:
    """Problems of one `metrics.prometheus[i]` entry, each with the field path below it."""
    if not isinstance(metric, dict):
        yield (), "a metric must be an object with name, help and one of gauge, counter, histogram"
        return
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        yield ("name",), "metric name is required"
    elif not METRIC_NAME_RE.match(name):
        yield ("name",), (f"metric name '{name}' is invalid: names may only contain alphanumeric "
                          "characters or '_'")
    help_text = metric.get("help")
    if not isinstance(help_text, str) or not help_text:
        yield ("help",), f"metric '{name}': help is required"
    labels = metric.get("labels")
    if labels is not None and not isinstance(labels, list):
        yield ("labels",), "labels must be a list of {key, value}"
    for i, label in enumerate(_list(labels)):
        key = _dict(label).get("key")
        if not isinstance(key, str) or not LABEL_KEY_RE.match(key):
            yield ("labels", i, "key"), (f"metric label '{key}' is invalid: keys may only contain alphanumeric "
                                         "characters or '_', and may not start with a digit")
        if not isinstance(_dict(label).get("value"), str):
            yield ("labels", i, "value"), f"metric label '{key}' needs a string value"
    when = metric.get("when")
    if when is not None and not isinstance(when, str):
        yield ("when",), "when must be a string"
    kinds = [k for k in _KINDS if metric.get(k) is not None]
    if len(kinds) != 1:
        what = "sets " + ", ".join(kinds) if kinds else "sets none"
        yield (), f"metric '{name}' must be exactly one of gauge, counter or histogram ({what})"
        return
    kind = kinds[0]
    body = metric[kind]
    if not isinstance(body, dict):
        yield (kind,), f"metric '{name}': {kind} must be an object"
        return
    value = body.get("value")
    if not isinstance(value, str) or not value.strip():
        yield (kind, "value"), f"metric '{name}': missing {kind}.value"
    if kind == "gauge":
        op = body.get("operation")
        if op not in (None, "", *GAUGE_OPERATIONS):
            yield (kind, "operation"), (f"metric '{name}': gauge operation '{op}' is not one of "
                                        f"{', '.join(GAUGE_OPERATIONS)}")
        realtime = body.get("realtime")
        if realtime is not None and not isinstance(realtime, bool):
            yield (kind, "realtime"), f"metric '{name}': realtime must be true or false"
        if realtime is True and isinstance(value, str):
            var = realtime_variable(workflow_level=workflow_level)
            if "resourcesDuration." in value:
                yield (kind, "value"), f"metric '{name}': 'resourcesDuration.*' metrics cannot be used in real-time"
            elif _tag(value) != var:
                yield (kind, "value"), (f"metric '{name}': a real-time gauge's value must be '{{{{{var}}}}}' "
                                        f"at {'workflow' if workflow_level else 'template'} level, got '{value}'")
    if kind == "histogram":
        yield from _buckets(name, body.get("buckets"))


def _tag(value: str) -> str | None:
    text = value.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        return text[2:-2].strip()
    return None


def _buckets(name: Any, buckets: Any) -> Iterator[tuple[tuple, str]]:
    if not isinstance(buckets, list) or not buckets:
        yield ("histogram", "buckets"), f"metric '{name}': histogram buckets are required"
        return
    previous: float | None = None
    for i, b in enumerate(buckets):
        try:
            bound = float(b) if not isinstance(b, bool) else None
        except (TypeError, ValueError):
            bound = None
        if bound is None or bound != bound:
            yield ("histogram", "buckets", i), f"metric '{name}': bucket {b!r} is not a number"
            return
        if previous is not None and bound <= previous:
            yield ("histogram", "buckets", i), (f"metric '{name}': histogram buckets must be in increasing order: "
                                                f"{bound:g} follows {previous:g}")
            return
        previous = bound


def check_metrics(ctx: SpecContext) -> Iterator[SpecError]:
    """Lint rule: the workflow's and every template's `metrics.prometheus[]`."""
    sites = [(ctx.spec_path, ctx.spec, True)] + [(s.path, s.body, False) for s in ctx.templates]
    for base, owner, workflow_level in sites:
        metrics = owner.get("metrics")
        if metrics is None:
            continue
        if not isinstance(metrics, dict) or not isinstance(metrics.get("prometheus"), list):
            yield ctx.error(base + ("metrics",), "metrics needs a 'prometheus' list", "metrics")
            continue
        for i, metric in enumerate(metrics["prometheus"]):
            for suffix, message in metric_problems(metric, workflow_level=workflow_level):
                yield ctx.error(base + ("metrics", "prometheus", i) + suffix, message, "metrics")


def first_spec_problem(spec: dict, /) -> str | None:
    """The first metric problem of a workflow spec as `<field path>: <message>`, or None.

    The controller's first-reconcile check (Argo validates the spec before running it and fails
    the workflow with `invalid spec: ...`); lint reports all of them with file and line instead.
    """
    owners = [("spec", spec, True)] + [(f"spec.templates[{i}]", t, False)
                                       for i, t in enumerate(_list(spec.get("templates"))) if isinstance(t, dict)]
    for base, owner, workflow_level in owners:
        metrics = owner.get("metrics")
        if metrics is None:
            continue
        prom = metrics.get("prometheus") if isinstance(metrics, dict) else None
        if not isinstance(prom, list):
            return f"{base}.metrics: metrics needs a 'prometheus' list"
        for i, metric in enumerate(prom):
            for suffix, message in metric_problems(metric, workflow_level=workflow_level):
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in suffix)
                return f"{base}.metrics.prometheus[{i}]{where}: {message}"
    return None
