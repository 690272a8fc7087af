"""CronWorkflows at scale: the cost of one schedule step and of one cron decision.

Figures only (no gate). A controller with 1,000 CronWorkflows runs `decide` once per cron per
timer or child event, so µs per decision times events per minute is its CPU for cron.
"""
from __future__ import annotations

import pytest

from tiphys.core.cron import decide, parse_schedule, rfc3339

T0 = 1_800_000_000  # a whole minute
N = 1_000
SCHEDULES = {
    "every-minute": parse_schedule("* * * * *"),
    "weekdays-business-hours-ny": parse_schedule("*/15 9-17 * * mon-fri", timezone="America/New_York"),
    "monthly": parse_schedule("@monthly"),
    "leap-day": parse_schedule("0 0 29 2 *"),
}


def _cron(i: int) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": f"c{i}", "namespace": "ns", "uid": f"u{i}"},
            "spec": {"schedules": ["*/5 * * * *"], "concurrencyPolicy": "Forbid",
                     "workflowSpec": {"entrypoint": "main", "templates": [{"name": "main", "container": {
                         "image": "busybox"}}]}},
            "status": {"active": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": f"c{i}-1",
                                   "namespace": "ns", "uid": f"w{i}"}], "lastScheduledTime": rfc3339(T0 - 300)}}


def _children(i: int) -> list[dict]:
    done = [{"metadata": {"name": f"c{i}-old{k}", "uid": f"o{i}{k}"},
             "status": {"phase": "Succeeded", "finishedAt": rfc3339(T0 - 60 * k)}} for k in range(3)]
    return [{"metadata": {"name": f"c{i}-1", "uid": f"w{i}"}, "status": {"phase": "Running"}}, *done]


CRONS = [(_cron(i), _children(i)) for i in range(N)]


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.benchmark(group="cron-next-after")
def test_next_after(benchmark, name):
    s = SCHEDULES[name]
    benchmark(lambda: [s.next_after(T0 + k * 7919) for k in range(100)])


@pytest.mark.benchmark(group="cron-decide-1000")
def test_decide_idle(benchmark):
    """1,000 crons between runs (reconcile on a child event): nothing to do."""
    benchmark(lambda: [decide(c, kids, now=T0 + 1, handled_through=T0) for c, kids in CRONS])


@pytest.mark.benchmark(group="cron-decide-1000")
def test_decide_due_forbid(benchmark):
    """1,000 crons at their scheduled time with one running: Forbid skips."""
    benchmark(lambda: [decide(c, kids, now=T0, handled_through=T0 - 1) for c, kids in CRONS])
