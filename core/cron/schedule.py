"""Cron schedules as Argo reads them: `robfig/cron/v3`'s `ParseStandard`, and its `Next`.

    s = parse_schedule("*/15 9-17 * * mon-fri", timezone="Europe/Paris", path="$.spec.schedules[0]")
    s.next_after(1_800_000_000)        # unix seconds of the next run strictly after that instant

Grammar (robfig `ParseStandard`): an optional `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix, then
either a descriptor (`@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
`@hourly`, `@every <Go duration>`) or exactly five fields: minute, hour, day of month, month,
day of week. A field is a comma list of `*`/`?`, `N`, `A-B`, each with an optional `/step`;
`N/step` means `N-max/step`. Months take `jan`..`dec`, weekdays `sun`..`sat` (any case);
weekdays run 0-6 (7 is out of range, as in robfig). Day of month and day of week are OR-ed
unless either field is a bare star (`*` or `?`, `*/1` too; `*/2` is not), then AND-ed.

`next_after` is robfig's `SpecSchedule.Next` step for step in the schedule's zone: months and
days move on the wall calendar, hours and minutes in absolute time. So across DST a job in the
skipped hour does not run that day (spring forward) and a job in the repeated hour runs twice
(fall back) — robfig's behaviour, which Argo inherits. `@every` ignores the zone: the next run
is the instant truncated to the second plus the delay (at least one second). A schedule that
never matches within five years (`0 0 30 2 *`) has no next run (None), as robfig returns zero.
"""
from __future__ import annotations

import datetime as _dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from tiphys.core.lang._go import go_duration

from .errors import CronSpecError

__all__ = ["Schedule", "parse_schedule", "parse_go_duration", "load_zone"]

_UTC = _dt.timezone.utc
_STAR = 1 << 63  # robfig's starBit: the field was `*` or `?` (day matching then ANDs)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, min, max, names) per field, in ParseStandard order
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 6, _DAYS))
_ALL = {name: sum(1 << i for i in range(lo, hi + 1)) for name, lo, hi, _ in _FIELDS}
_DESCRIPTORS = {  # minute, hour, dom, month, dow
    "@yearly": (1, 1, 1 << 1, 1 << 1, _ALL["day of week"] | _STAR),
    "@monthly": (1, 1, 1 << 1, _ALL["month"] | _STAR, _ALL["day of week"] | _STAR),
    "@weekly": (1, 1, _ALL["day of month"] | _STAR, _ALL["month"] | _STAR, 1),
    "@daily": (1, 1, _ALL["day of month"] | _STAR, _ALL["month"] | _STAR, _ALL["day of week"] | _STAR),
    "@hourly": (1, _ALL["hour"] | _STAR, _ALL["day of month"] | _STAR, _ALL["month"] | _STAR,
                _ALL["day of week"] | _STAR),
}
_DESCRIPTORS["@annually"] = _DESCRIPTORS["@yearly"]
_DESCRIPTORS["@midnight"] = _DESCRIPTORS["@daily"]


class Schedule(msgspec.Struct, frozen=True):
    """One parsed schedule. `every` is set for `@every` (seconds); else the five bit sets."""

    text: str
    zone: str  # IANA name; "UTC" when none was given
    minute: int = 0
    hour: int = 0
    dom: int = 0
    month: int = 0
    dow: int = 0
    every: int | None = None

    def next_after(self, instant: float, /) -> int | None:
        """Unix seconds of the first run strictly after `instant`, or None if none in 5 years."""
        if self.every is not None:
            return int(instant // 1) + self.every
        return _next(self, load_zone(self.zone, path="$"), int(instant // 1) + 1)

    def runs_between(self, after: float, until: float, /) -> list[int]:
        """Every run in (after, until], oldest first (callers bound the span)."""
        out: list[int] = []
        t = self.next_after(after)
        while t is not None and t <= until:
            out.append(t)
            t = self.next_after(t)
        return out

    def last_at_or_before(self, until: float, /, *, after: float) -> int | None:
        """The latest run in (after, until], or None — robfig's walk from `after` (Argo's missed-run loop)."""
        if self.every is not None:
            # the walk's runs are start + k * every: counted, not walked (a second-long @every over a
            # large startingDeadlineSeconds is millions of steps on the event loop)
            start = int(after // 1)
            k = int((until - start) // self.every)
            return start + k * self.every if k >= 1 else None
        last, t = None, self.next_after(after)
        while t is not None and t <= until:
            last, t = t, self.next_after(t)
        return last


def load_zone(name: str, /, *, path: str) -> ZoneInfo:
    """The IANA zone `name`; CronSpecError at `path` when it is unknown."""
    if name in ("", "UTC", "Local"):
        # Argo's controller image runs in UTC, so robfig's time.Local is UTC there
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronSpecError(path, f"unknown time zone {name!r}") from None


def parse_go_duration(text: str, /, *, path: str) -> float:
    """Seconds in a Go `time.ParseDuration` string (`1h30m`, `90s`, `1.5h`, `0`)."""
    try:
        return go_duration(text)
    except ValueError:
        raise CronSpecError(path, f"invalid duration {text!r} (expected Go syntax such as 1h30m)") from None


@functools.lru_cache(maxsize=4096)
def parse_schedule(text: str, /, *, timezone: str = "", path: str = "$.spec.schedules[0]") -> Schedule:
    """Parse one schedule string (Argo prefixes `CRON_TZ=<spec.timezone>` itself); CronSpecError names `path`.

    Memoised: a CronWorkflow is read on every reconcile and Schedules are immutable.
    """
    spec = text.strip()
    zone = timezone
    if spec.startswith(("CRON_TZ=", "TZ=")):
        if timezone:
            # Argo prepends CRON_TZ= for spec.timezone; a second prefix leaves six fields
            raise CronSpecError(path, f"{text!r} names a zone while spec.timezone is also set")
        head, _, spec = spec.partition(" ")
        zone = head.split("=", 1)[1]
        spec = spec.strip()
    load_zone(zone, path=path)
    zone = zone if zone not in ("", "Local") else "UTC"
    if not spec:
        raise CronSpecError(path, "empty schedule")
    if spec.startswith("@"):
        return _descriptor(text, spec, zone, path)
    fields = spec.split()
    if len(fields) != 5:
        raise CronSpecError(path, f"expected exactly 5 fields, found {len(fields)}: {text!r}")
    bits = [_field(f, name, lo, hi, names, path) for f, (name, lo, hi, names) in zip(fields, _FIELDS)]
    return Schedule(text, zone, *bits)


def _descriptor(text: str, spec: str, zone: str, path: str) -> Schedule:
    if spec.startswith("@every "):
        seconds = parse_go_duration(spec[len("@every "):], path=path)
        # robfig: at least one second, and whole seconds (the fraction is dropped)
        return Schedule(text, zone, every=max(1, int(seconds)))
    bits = _DESCRIPTORS.get(spec)  # case-sensitive, as robfig's switch
    if bits is None:
        raise CronSpecError(path, f"unrecognized descriptor {spec!r}")
    return Schedule(text, zone, *bits)


def _number(text: str, names: dict[str, int], what: str, path: str) -> int:
    value = names.get(text.lower())
    if value is not None:
        return value
    if not text.isdigit():
        raise CronSpecError(path, f"failed to parse {what} value {text!r}")
    return int(text)


def _field(text: str, what: str, lo: int, hi: int, names: dict[str, int], path: str) -> int:
    out = 0
    for expr in text.split(","):
        range_step = expr.split("/")
        if len(range_step) > 2:
            raise CronSpecError(path, f"too many slashes in {what} field: {expr!r}")
        low_high = range_step[0].split("-")
        if len(low_high) > 2:
            raise CronSpecError(path, f"too many hyphens in {what} field: {expr!r}")
        extra = 0
        if low_high[0] in ("*", "?"):
            if len(low_high) > 1:
                raise CronSpecError(path, f"a star cannot start a range in {what} field: {expr!r}")
            start, end, extra = lo, hi, _STAR
        else:
            start = _number(low_high[0], names, what, path)
            end = _number(low_high[1], names, what, path) if len(low_high) == 2 else start
        step = 1
        if len(range_step) == 2:
            if not range_step[1].isdigit():
                raise CronSpecError(path, f"failed to parse step {range_step[1]!r} in {what} field")
            step = int(range_step[1])
            if len(low_high) == 1 and extra == 0:
                end = hi  # "N/step" means "N-max/step"
            if step > 1:
                extra = 0
        if start < lo:
            raise CronSpecError(path, f"{what} beginning of range ({start}) below minimum ({lo}): {expr!r}")
        if end > hi:
            raise CronSpecError(path, f"{what} end of range ({end}) above maximum ({hi}): {expr!r}")
        if start > end:
            raise CronSpecError(path, f"{what} beginning of range ({start}) beyond end of range ({end}): {expr!r}")
        if step == 0:
            raise CronSpecError(path, f"{what} step of range should be a positive number: {expr!r}")
        for v in range(start, end + 1, step):
            out |= 1 << v
        out |= extra
    return out


def _wall(ts: int, zone: ZoneInfo) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, zone)


def _date(y: int, mo: int, d: int, zone: ZoneInfo) -> int:
    """Go's time.Date(y, mo, d, 0, 0, 0, 0, zone) with month/day overflow normalised; a midnight
    inside a DST gap resolves with the offset before the gap (Go and PEP 495 fold=0 agree)."""
    y, mo = y + (mo - 1) // 12, (mo - 1) % 12 + 1
    day = _dt.date(y, mo, 1) + _dt.timedelta(days=d - 1)
    return int(_dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _day_matches(s: Schedule, t: _dt.datetime) -> bool:
    dom = (1 << t.day) & s.dom != 0
    dow = (1 << ((t.weekday() + 1) % 7)) & s.dow != 0
    if s.dom & _STAR or s.dow & _STAR:
        return dom and dow
    return dom or dow


def _next(s: Schedule, zone: ZoneInfo, ts: int) -> int | None:
    """robfig `SpecSchedule.Next` from `ts` (already the upcoming second), seconds field = {0}."""
    added = False
    year_limit = _wall(ts, zone).year + 5
    while True:  # the `WRAP:` label
        t = _wall(ts, zone)
        if t.year > year_limit:
            return None
        wrapped = False
        while (1 << t.month) & s.month == 0:
            if not added:
                added, ts = True, _date(t.year, t.month, 1, zone)
                t = _wall(ts, zone)
            ts = int(_dt.datetime(*_add_month(t), tzinfo=zone).timestamp())
            t = _wall(ts, zone)
            if t.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(s, t):
            if not added:
                added, ts = True, _date(t.year, t.month, t.day, zone)
                t = _wall(ts, zone)
            ts = int(_dt.datetime(*_add_day(t), tzinfo=zone).timestamp())
            t = _wall(ts, zone)
            if t.hour != 0:  # DST moved midnight: back to it (robfig's correction)
                ts += (24 - t.hour) * 3600 if t.hour > 12 else -t.hour * 3600
                t = _wall(ts, zone)
            if t.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while (1 << t.hour) & s.hour == 0:
            if not added:
                added = True
                ts -= t.minute * 60 + t.second
            ts += 3600
            t = _wall(ts, zone)
            if t.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while (1 << t.minute) & s.minute == 0:
            if not added:
                added = True
                ts -= ts % 60
            ts += 60
            t = _wall(ts, zone)
            if t.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        if t.second != 0:
            # the seconds field of a standard spec is {0}: robfig's one-second steps end at the
            # next whole minute and wrap; jump there at once (zone offsets are whole minutes)
            added = True
            ts += 60 - t.second
            continue
        return ts


def _add_month(t: _dt.datetime) -> tuple[int, ...]:
    """Go's t.AddDate(0, 1, 0) as wall fields (day overflow rolls into the next month)."""
    y, mo = t.year + t.month // 12, t.month % 12 + 1
    day = _dt.date(y, mo, 1) + _dt.timedelta(days=t.day - 1)
    return (day.year, day.month, day.day, t.hour, t.minute, t.second)


def _add_day(t: _dt.datetime) -> tuple[int, ...]:
    day = t.date() + _dt.timedelta(days=1)
    return (day.year, day.month, day.day, t.hour, t.minute, t.second)
