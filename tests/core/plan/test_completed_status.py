"""After completion, a status edited by hand never makes the clean-up raise (it would be retried
forever): an unreadable `finishedAt` counts as absent, so nothing comes due from it."""
from __future__ import annotations

import pytest

from tiphys.core.plan.actions import DeleteWorkflow
from tiphys.core.plan.completed import after_completion

NOW = 1_800_000_000.0


def _wf(finished: object) -> dict:
    return {"metadata": {"name": "w", "uid": "u"}, "status": {"phase": "Succeeded", "finishedAt": finished}}


@pytest.mark.parametrize("finished", ["yesterday", 5, "2026-13-01T00:00:00Z"])
def test_unreadable_finished_at_keeps_the_workflow(finished):
    cleanup = after_completion(_wf(finished), {"ttlStrategy": {"secondsAfterCompletion": 10}}, [], NOW)
    assert cleanup.actions == []
    assert cleanup.requeue_at == NOW + 10


def test_readable_finished_at_is_still_used():
    cleanup = after_completion(_wf("2020-01-01T00:00:00Z"), {"ttlStrategy": {"secondsAfterCompletion": 10}}, [], NOW)
    assert [type(a) for a in cleanup.actions] == [DeleteWorkflow]
