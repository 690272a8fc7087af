"""`@every` schedules: the latest missed run is counted, not walked one period at a time."""
from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from tiphys.core.cron.schedule import parse_schedule


def _walk(schedule, until: float, after: float):
    """The reference: robfig's walk, one run after the other."""
    runs = schedule.runs_between(after, until)
    return runs[-1] if runs else None


@given(every=st.integers(1, 5000), after=st.floats(1.6e9, 1.7e9), span=st.floats(-10, 200_000))
def test_last_run_equals_the_walk(every, after, span):
    schedule = parse_schedule(f"@every {every}s", timezone="", path="$.spec.schedule")
    until = after + span
    assert schedule.last_at_or_before(until, after=after) == _walk(schedule, until, after)


def test_a_second_long_every_over_years_is_not_walked():
    schedule = parse_schedule("@every 1s", timezone="", path="$.spec.schedule")
    start = time.process_time()
    last = schedule.last_at_or_before(1_800_000_000.5, after=1_500_000_000.0)
    assert last == 1_800_000_000
    assert time.process_time() - start < 1.0  # the walk takes tens of seconds
