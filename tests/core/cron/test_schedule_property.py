"""next_after agrees with a brute-force walk over absolute time (wall fields in the zone).

Walking real instants an hour and then a minute at a time is what robfig's Next amounts to: a
wall time in a DST gap never occurs (skipped), one in the repeated hour occurs twice (run twice).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.core.cron import parse_schedule

# Whole-hour DST shifts only: with Lord Howe's 30-minute shift robfig's hour-by-hour walk lands on
# :30 (see test_schedule.py, lord-howe-half-hour-shift), which a minute walk would not.
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]


def _field(lo: int, hi: int):
    single = st.integers(lo, hi).map(str)
    rng = st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(lambda p: f"{min(p)}-{max(p)}")
    step = st.tuples(st.sampled_from(["*", f"{lo}-{hi}"]), st.integers(1, 7)).map(lambda p: f"{p[0]}/{p[1]}")
    part = st.one_of(st.just("*"), single, rng, step)
    return st.lists(part, min_size=1, max_size=3).map(",".join)


def _matches(fields: list[set[int]], stars: tuple[bool, bool], t: dt.datetime) -> bool:
    minute, hour, dom, month, dow = fields
    d_ok, w_ok = t.day in dom, (t.weekday() + 1) % 7 in dow
    day = (d_ok and w_ok) if (stars[0] or stars[1]) else (d_ok or w_ok)
    return t.minute in minute and t.hour in hour and t.month in month and day


def _expand(text: str, lo: int, hi: int) -> tuple[set[int], bool]:
    out, star = set(), False
    for part in text.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            a, b = lo, hi
            star = star or not step or int(step) == 1
        elif "-" in rng:
            a, b = map(int, rng.split("-"))
        else:
            a = b = int(rng)
        out |= set(range(a, b + 1, int(step) if step else 1))
    return out, star


def _brute(texts: list[str], zone: ZoneInfo, start: int, limit_hours: int) -> int | None:
    bounds = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
    expanded = [_expand(t, lo, hi) for t, (lo, hi) in zip(texts, bounds)]
    fields = [e[0] for e in expanded]
    stars = (expanded[2][1], expanded[4][1])
    t = start - start % 60 + 60
    hour_start = t - t % 3600
    for h in range(limit_hours):
        base = hour_start + h * 3600
        for m in range(60):
            ts = base + m * 60
            if ts >= t and _matches(fields, stars, dt.datetime.fromtimestamp(ts, zone)):
                return ts
    return None


@settings(max_examples=150, deadline=None)
@given(minute=_field(0, 59), hour=_field(0, 23), dom=_field(1, 31), month=_field(1, 12), dow=_field(0, 6),
       zone=st.sampled_from(ZONES), start=st.integers(1_700_000_000, 1_900_000_000))
def test_next_after_matches_brute_force(minute, hour, dom, month, dow, zone, start):
    texts = [minute, hour, dom, month, dow]
    s = parse_schedule(" ".join(texts), timezone=zone)
    expected = _brute(texts, ZoneInfo(zone), start, 24 * 400)
    got = s.next_after(start)
    if expected is None:
        assert got is None or got - start > 399 * 86400
    else:
        assert got == expected
