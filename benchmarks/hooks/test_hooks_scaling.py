"""Lifecycle hooks keep a pod event's cost flat: a hook is judged when its own node changes phase.

Argo judges every hook expression on every reconcile while it walks the tree, so a fan-out of n
hooked steps costs n evaluations per event. Here the same fan-out (every loop child hooked, the
expression never true) and a workflow-level hook (judged once per plan) are timed per pod event at
1,000 and 10,000 steps, beside the same workflow without hooks. The gate: the per-event cost at
10,000 hooked steps stays within 3x of that at 1,000 (a per-event walk over the hooks would be 10x).
"""
from __future__ import annotations

from benchmarks.controller._pod_events import fan_workflow, per_event_seconds, started

NEVER = 'workflow.status == "Failed"'


def hooked(n: int, *, step_hooks: bool, wf_hooks: bool) -> dict:
    spec = fan_workflow(n)
    hook_template = {"name": "hook", "container": {"image": "busybox", "command": ["true"]}}
    spec["templates"].append(hook_template)
    if step_hooks:
        spec["templates"][0]["steps"][0][0]["hooks"] = {"failed": {"expression": NEVER, "template": "hook"}}
    if wf_hooks:
        spec["hooks"] = {"failed": {"expression": NEVER, "template": "hook"}}
    return spec


def per_event(n: int, **kinds: bool) -> float:
    ex, pods = started(hooked(n, **kinds), n)
    seconds = per_event_seconds(ex, pods)
    assert not any(".hooks." in (node.name or "") for node in ex.nodes.values())
    return seconds


def test_hooked_pod_event_cost_is_flat(record):
    figures = {}
    for n in (1_000, 10_000):
        for label, kinds in (("none", dict(step_hooks=False, wf_hooks=False)),
                             ("step", dict(step_hooks=True, wf_hooks=False)),
                             ("workflow", dict(step_hooks=False, wf_hooks=True))):
            figures[(n, label)] = per_event(n, **kinds)
            record(f"hooks: pod event, {n} steps, {label} hooks", f"{figures[(n, label)] * 1e6:.0f} µs")
    ratio = figures[(10_000, "step")] / figures[(1_000, "step")]
    record("hooks: per-event cost 10k/1k hooked steps", f"{ratio:.2f}x")
    assert ratio < 3.0, f"a pod event costs {ratio:.1f}x more at 10,000 hooked steps than at 1,000"
