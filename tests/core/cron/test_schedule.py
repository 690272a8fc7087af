"""Schedules: robfig/cron ParseStandard grammar and SpecSchedule.Next, including DST."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tiphys.core.cron import CronSpecError, parse_go_duration, parse_schedule


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def local(t: int, zone: str) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(zone)).isoformat()


def runs(schedule: str, start: str, n: int, *, timezone: str = "") -> list[str]:
    s = parse_schedule(schedule, timezone=timezone)
    zone = timezone or "UTC"
    out, t = [], ts(start)
    for _ in range(n):
        t = s.next_after(t)
        out.append(local(t, zone))
    return out


# 2026-01-01 is a Thursday
GOLDEN = [
    pytest.param("* * * * *", "2026-01-01T00:00:00+00:00", 2,
                 ["2026-01-01T00:01:00+00:00", "2026-01-01T00:02:00+00:00"], id="every-minute-strictly-after"),
    pytest.param("* * * * *", "2026-01-01T00:00:30.5+00:00", 1, ["2026-01-01T00:01:00+00:00"], id="mid-minute"),
    pytest.param("*/15 * * * *", "2026-01-01T00:07:00+00:00", 3,
                 ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00", "2026-01-01T00:45:00+00:00"],
                 id="step"),
    pytest.param("5/20 * * * *", "2026-01-01T00:00:00+00:00", 4,
                 ["2026-01-01T00:05:00+00:00", "2026-01-01T00:25:00+00:00", "2026-01-01T00:45:00+00:00",
                  "2026-01-01T01:05:00+00:00"], id="n-slash-step-means-n-to-max"),
    pytest.param("0 9-17/4 * * *", "2026-01-01T00:00:00+00:00", 4,
                 ["2026-01-01T09:00:00+00:00", "2026-01-01T13:00:00+00:00", "2026-01-01T17:00:00+00:00",
                  "2026-01-02T09:00:00+00:00"], id="range-step"),
    pytest.param("0 0 1,15 * *", "2026-01-02T00:00:00+00:00", 2,
                 ["2026-01-15T00:00:00+00:00", "2026-02-01T00:00:00+00:00"], id="list"),
    pytest.param("30 6 * * MON-wed", "2026-01-01T00:00:00+00:00", 3,
                 ["2026-01-05T06:30:00+00:00", "2026-01-06T06:30:00+00:00", "2026-01-07T06:30:00+00:00"],
                 id="day-names"),
    pytest.param("0 0 1 feb,Jul *", "2026-01-01T00:00:00+00:00", 3,
                 ["2026-02-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00", "2027-02-01T00:00:00+00:00"],
                 id="month-names"),
    pytest.param("0 0 13 * 5", "2026-01-01T00:00:00+00:00", 3,
                 ["2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00", "2026-01-13T00:00:00+00:00"],
                 id="dom-or-dow-when-both-restricted"),
    pytest.param("0 0 13 * *", "2026-01-01T00:00:00+00:00", 1, ["2026-01-13T00:00:00+00:00"], id="dom-only"),
    pytest.param("0 0 * * 0", "2026-01-01T00:00:00+00:00", 1, ["2026-01-04T00:00:00+00:00"], id="sunday-zero"),
    pytest.param("0 0 29 2 *", "2026-01-01T00:00:00+00:00", 1, ["2028-02-29T00:00:00+00:00"], id="leap-day"),
    pytest.param("@hourly", "2026-01-01T00:10:00+00:00", 1, ["2026-01-01T01:00:00+00:00"], id="hourly"),
    pytest.param("@daily", "2026-01-01T00:10:00+00:00", 1, ["2026-01-02T00:00:00+00:00"], id="daily"),
    pytest.param("@midnight", "2026-01-01T00:10:00+00:00", 1, ["2026-01-02T00:00:00+00:00"], id="midnight"),
    pytest.param("@weekly", "2026-01-01T00:10:00+00:00", 1, ["2026-01-04T00:00:00+00:00"], id="weekly-sunday"),
    pytest.param("@monthly", "2026-01-01T00:10:00+00:00", 1, ["2026-02-01T00:00:00+00:00"], id="monthly"),
    pytest.param("@yearly", "2026-01-01T00:10:00+00:00", 1, ["2027-01-01T00:00:00+00:00"], id="yearly"),
    pytest.param("@annually", "2026-01-01T00:10:00+00:00", 1, ["2027-01-01T00:00:00+00:00"], id="annually"),
    pytest.param("@every 90s", "2026-01-01T00:00:00.7+00:00", 2,
                 ["2026-01-01T00:01:30+00:00", "2026-01-01T00:03:00+00:00"], id="every-from-the-second"),
    pytest.param("@every 1h30m", "2026-01-01T00:00:00+00:00", 1, ["2026-01-01T01:30:00+00:00"], id="every-go-units"),
    pytest.param("@every 200ms", "2026-01-01T00:00:00+00:00", 1, ["2026-01-01T00:00:01+00:00"], id="every-at-least-1s"),
]


@pytest.mark.parametrize("schedule, start, n, expected", GOLDEN)
def test_next_runs(schedule, start, n, expected):
    assert runs(schedule, start, n) == expected


DST = [
    # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 does not exist that day
    pytest.param("30 2 * * *", "2026-03-07T12:00:00-05:00", 3,
                 ["2026-03-09T02:30:00-04:00",
                  "2026-03-10T02:30:00-04:00", "2026-03-11T02:30:00-04:00"], id="spring-forward-skips-the-gap"),
    pytest.param("30 3 * * *", "2026-03-07T12:00:00-05:00", 2,
                 ["2026-03-08T03:30:00-04:00", "2026-03-09T03:30:00-04:00"], id="spring-forward-after-gap"),
    pytest.param("0 * * * *", "2026-03-08T00:30:00-05:00", 3,
                 ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"],
                 id="hourly-across-the-gap"),
    # ... and falls back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice, robfig runs both
    pytest.param("30 1 * * *", "2026-10-31T12:00:00-04:00", 3,
                 ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"],
                 id="fall-back-runs-twice"),
    pytest.param("0 0 * * *", "2026-10-31T12:00:00-04:00", 2,
                 ["2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"], id="midnight-across-fall-back"),
]


@pytest.mark.parametrize("schedule, start, n, expected", DST)
def test_dst_transitions(schedule, start, n, expected):
    assert runs(schedule, start, n, timezone="America/New_York") == expected


def test_half_hour_dst_shift_follows_robfig():
    """Lord Howe moves 02:00 -> 02:30 on 2028-10-01: robfig steps hours in absolute time from
    midnight (01:00, 02:30, 03:30) and so runs `* 3 * * *` first at 03:30, not 03:00."""
    got = runs("* 3 * * *", "2028-09-30T12:00:00+10:30", 2, timezone="Australia/Lord_Howe")
    assert got == ["2028-10-01T03:30:00+11:00", "2028-10-01T03:31:00+11:00"]


def test_timezone_changes_the_instant():
    utc = parse_schedule("0 9 * * *").next_after(ts("2026-01-01T00:00:00+00:00"))
    tokyo = parse_schedule("0 9 * * *", timezone="Asia/Tokyo").next_after(ts("2026-01-01T00:00:00+00:00"))
    assert local(utc, "UTC") == "2026-01-01T09:00:00+00:00"
    assert local(tokyo, "UTC") == "2026-01-02T00:00:00+00:00"


def test_cron_tz_prefix_in_the_schedule():
    s = parse_schedule("CRON_TZ=Asia/Tokyo 0 9 * * *")
    assert s.zone == "Asia/Tokyo"
    assert local(s.next_after(ts("2026-01-01T00:00:00+00:00")), "Asia/Tokyo") == "2026-01-02T09:00:00+09:00"


def test_every_ignores_the_zone():
    s = parse_schedule("@every 10m", timezone="America/New_York")
    assert s.next_after(1000.0) == 1600


def test_never_matching_schedule_has_no_next_run():
    assert parse_schedule("0 0 30 2 *").next_after(ts("2026-01-01T00:00:00+00:00")) is None


def test_star_slash_one_keeps_and_semantics_star_slash_two_does_not():
    """robfig: `*/1` is still a star (dom AND dow), `*/2` is a restriction (dom OR dow)."""
    start = ts("2026-01-01T00:00:00+00:00")  # a Thursday
    assert local(parse_schedule("0 0 */1 * 1").next_after(start), "UTC") == "2026-01-05T00:00:00+00:00"
    # */2 from 1: odd days OR Mondays -> Jan 3 (odd) comes before Monday Jan 5
    assert local(parse_schedule("0 0 */2 * 1").next_after(start), "UTC") == "2026-01-03T00:00:00+00:00"


BAD = [
    pytest.param("* * * *", "expected exactly 5 fields, found 4", id="four-fields"),
    pytest.param("0 * * * * *", "expected exactly 5 fields, found 6", id="six-fields"),
    pytest.param("60 * * * *", "above maximum", id="minute-60"),
    pytest.param("0 24 * * *", "above maximum", id="hour-24"),
    pytest.param("0 0 0 * *", "below minimum", id="dom-0"),
    pytest.param("0 0 * 13 *", "above maximum", id="month-13"),
    pytest.param("0 0 * * 7", "above maximum", id="dow-7-as-robfig"),
    pytest.param("5-1 * * * *", "beyond end of range", id="reversed-range"),
    pytest.param("*/0 * * * *", "positive", id="zero-step"),
    pytest.param("1-2-3 * * * *", "too many hyphens", id="hyphens"),
    pytest.param("*/2/3 * * * *", "too many slashes", id="slashes"),
    pytest.param("x * * * *", "failed to parse", id="garbage"),
    pytest.param("0 0 * * funday", "failed to parse", id="bad-name"),
    pytest.param("@fortnightly", "unrecognized descriptor", id="descriptor"),
    pytest.param("@Hourly", "unrecognized descriptor", id="descriptor-case-sensitive"),
    pytest.param("@every often", "invalid duration", id="every-garbage"),
    pytest.param("", "empty schedule", id="empty"),
    pytest.param("CRON_TZ=Mars/Olympus 0 * * * *", "unknown time zone", id="prefix-zone"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_schedules_name_the_field(text, message):
    with pytest.raises(CronSpecError) as info:
        parse_schedule(text, path="$.spec.schedules[2]")
    assert info.value.path == "$.spec.schedules[2]"
    assert message in info.value.message


def test_unknown_timezone_is_an_error():
    with pytest.raises(CronSpecError, match="unknown time zone 'Nowhere/Land'"):
        parse_schedule("0 * * * *", timezone="Nowhere/Land")


@pytest.mark.parametrize("text, seconds", [("0", 0.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("90s", 90.0),
                                           ("2m0.5s", 120.5), ("300ms", 0.3), ("-1m", -60.0)])
def test_go_durations(text, seconds):
    assert parse_go_duration(text, path="$") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "1d", "h", "1h 30m", ""])
def test_bad_go_durations(text):
    with pytest.raises(CronSpecError):
        parse_go_duration(text, path="$.x")


def test_runs_between_lists_every_run():
    s = parse_schedule("*/20 * * * *")
    start = ts("2026-01-01T00:00:00+00:00")
    assert [t - start for t in s.runs_between(start, start + 3600)] == [1200, 2400, 3600]
