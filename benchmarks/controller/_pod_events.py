"""What the pod-event scaling benchmarks share: a steps fan-out of n pods started by the planner,
and the median CPU cost of one pod event on it.

`per_event_seconds` samples `SAMPLE` pods spread over the fan-out; each sample is one `plan()`
call that observes one pod Succeeded with its task result, timed in this process's CPU time (the
machine is shared: wall time would count other people's work). The plan-scaling benchmark
(benchmarks/controller/test_plan_scaling.py) and the hooks benchmark (benchmarks/hooks/) time the
same event on different workflows.
"""
from __future__ import annotations

import statistics
import time

from tiphys.core.plan import CreatePod, Execution, Observed, WorkflowMeta, new_execution, plan

NOW = 1_800_000_000.0
SAMPLE = 300


def fan_workflow(n: int, /) -> dict:
    """A workflow spec: `fan`, n loop children of one container, then `join`."""
    return {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [
            [{"name": "fan", "template": "work", "withSequence": {"count": str(n)}}],
            [{"name": "join", "template": "work"}]]},
        {"name": "work", "container": {"image": "busybox", "command": ["true"]}}]}


def succeeded(pod: dict, /) -> dict:
    done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2027-01-15T08:00:00Z",
                           "finishedAt": "2027-01-15T08:00:01Z"}}
    status = {"phase": "Succeeded", "containerStatuses": [{"name": "wait", "state": done},
                                                          {"name": "main", "state": done}]}
    return {**pod, "status": status}


def task_result(pod: dict, /) -> dict:
    meta = pod["metadata"]
    return {"metadata": {"name": meta["annotations"]["workflows.argoproj.io/node-id"], "namespace": "default",
                         "labels": {"workflows.argoproj.io/workflow": "wf",
                                    "workflows.argoproj.io/report-outputs-completed": "true"}},
            "outputs": {"exitCode": "0"}}


def started(spec: dict, n: int, /) -> tuple[Execution, list[dict]]:
    """The execution of workflow `wf` with `spec` after its first plan, and the `n` pods it made."""
    meta = WorkflowMeta(name="wf", namespace="default", uid="u-1", creation_timestamp="2027-01-15T08:00:00Z")
    ex = new_execution(meta, spec, {}, {})
    result = plan(ex, Observed(), NOW)
    pods = [a.pod for a in result.actions if isinstance(a, CreatePod)]
    assert len(pods) == n
    return ex, pods


def per_event_seconds(ex: Execution, pods: list[dict], /) -> float:
    """Median CPU seconds of one pod event: `SAMPLE` of `pods`, spread evenly, each seen Succeeded."""
    step = max(1, len(pods) // SAMPLE)
    samples = []
    for pod in pods[::step][:SAMPLE]:
        obs = Observed(pods=[succeeded(pod)], task_results=[task_result(pod)])
        t0 = time.process_time()
        plan(ex, obs, NOW + 1)
        samples.append(time.process_time() - t0)
    return statistics.median(samples)
