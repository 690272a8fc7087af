"""Argo's CronWorkflow examples lint, read into a CronSpec and get a child workflow when due."""
from __future__ import annotations

from pathlib import Path

import pytest

from tiphys.core.cron import decide, read_cron
from tiphys.core.spec import load_text
from tiphys.core.validate import lint_texts

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "argo" / "examples"
CRON_FILES = ["cron-backfill.yaml", "cron-when.yaml", "cron-workflow-multiple-schedules.yaml", "cron-workflow.yaml",
              "dag-inline-cronworkflow.yaml"]
T0 = 1_800_000_000  # 2027-01-15 08:00:00 UTC, a Friday


def _examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo's examples are not at {EXAMPLES} (the shared test data beside the repo)")
    return EXAMPLES


def _crons(name: str) -> list[dict]:
    docs = load_text((_examples() / name).read_bytes(), source=name)
    return [d.body for d in docs if d.body.get("kind") == "CronWorkflow"]


@pytest.mark.parametrize("name", CRON_FILES)
def test_example_lints(name):
    ex = _examples()
    files = [name] + (["dag-inline-workflowtemplate.yaml"] if name.startswith("dag-inline") else [])
    [report, *_] = lint_texts([(f, (ex / f).read_bytes()) for f in files])
    assert report.errors == []


@pytest.mark.parametrize("name", CRON_FILES)
def test_example_is_accepted_and_scheduled(name):
    [obj] = _crons(name)
    obj = {**obj, "metadata": {**obj["metadata"], "namespace": "argo", "uid": "u"}}
    spec = read_cron(obj)
    d = decide(obj, [], now=T0 + 3600 * 24, handled_through=T0)
    assert d.error is None
    # every example is due at least once a day; the created workflow carries the example's spec
    assert d.create is not None and d.create["spec"] == obj["spec"]["workflowSpec"]
    assert d.create["metadata"]["name"] == f"{spec.name}-{d.scheduled_time}"


def test_multiple_schedules_example_in_los_angeles():
    [obj] = _crons("cron-workflow-multiple-schedules.yaml")
    spec = read_cron(obj)
    assert [s.zone for s in spec.schedules] == ["America/Los_Angeles"] * 2
    assert spec.concurrency_policy == "Replace" and spec.starting_deadline_seconds == 0
    assert (spec.successful_history_limit, spec.failed_history_limit) == (4, 4)
    # next after 08:00:00Z (00:00 PST, Friday): */2 gives 00:02, */3 on weekdays gives 00:03
    assert [s.next_after(T0) for s in spec.schedules] == [T0 + 180, T0 + 120]
