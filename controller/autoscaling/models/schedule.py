"""When a `ScheduledAction` fires: EC2 Auto Scaling's scheduled actions, a Unix cron
`recurrence` in an IANA `timeZone` and/or a one-time `startTime`, bounded by `endTime`.

It sits with the manifests because the ScheduledAction spec validates its recurrence, time
zone and times with these parsers. Pure: no clock (`now` and `after` are passed in) and no
I/O beyond zoneinfo reading the time zone database. The caller remembers when an action last
fired and applies its sizes; this module must not do either.

- Cron, as Vixie cron reads it: five fields (minute hour day-of-month month day-of-week);
  `*`, lists, ranges, steps (`*/15`, `1-30/5`; `a/n` runs from a to the field's end); month
  names JAN-DEC and weekday names SUN-SAT in any case; 0 and 7 are both Sunday. When both day
  fields are restricted a day matching either fires; a day field written with a leading `*`
  (`*/2`) counts as unrestricted for that rule, as in Vixie cron.
- Times are wall-clock times in the zone: a time the clocks skip (spring forward) does not
  fire; a time that happens twice (fall back) fires once, the first time.
- AWS's rules: with recurrence and startTime the action fires at startTime and then on the
  recurrence; the recurrence does not fire before startTime nor after endTime; a one-time
  action (startTime alone) fires once.
- Missed occurrences (the daemon was stopped) are not replayed: only the most recent one in
  (last fired or created, now] fires, so nothing fires twice.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

from controller.manifests.base import quote

MONTH_NAMES = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
DAY_NAMES = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# The five fields: (name, lowest, highest, names it accepts, how to say so).
_FIELDS: tuple[tuple[str, int, int, dict[str, int], str], ...] = (
    ("minute", 0, 59, {}, ""),
    ("hour", 0, 23, {}, ""),
    ("day of month", 1, 31, {}, ""),
    ("month", 1, 12, MONTH_NAMES, " or a month name (JAN-DEC)"),
    ("day of week", 0, 7, DAY_NAMES, " or a day name (SUN-SAT)"),
)
_QUARTZ = re.compile(r"^(\?|.*#.*|\d*L|\d+W|LW)$", re.IGNORECASE)
_LONGEST_MONTH = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in range(1, 13)}
_SEARCH_MONTHS = 400 * 12  # the Gregorian calendar repeats every 400 years


@dataclass(frozen=True)
class Cron:
    """A parsed recurrence. Weekdays count from 0 = Sunday."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_star: bool  # the day-of-month field starts with '*'
    weekday_star: bool  # the day-of-week field starts with '*'

    def __str__(self) -> str:
        return self.text

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.day_star or self.weekday_star:
            return in_days and in_weekdays
        return in_days or in_weekdays


def parse_cron(text: str) -> Cron:
    """A five-field Unix cron expression; ValueError names the bad field and why."""
    fields = text.split()
    if text.strip().startswith("@"):
        raise ValueError(
            f"{quote(text.strip())}: nicknames such as @daily are not supported; write the five "
            "fields, e.g. '0 0 * * *'"
        )
    if len(fields) != 5:
        raise ValueError(
            f"a recurrence has 5 fields (minute hour day-of-month month day-of-week), "
            f"{quote(text.strip())} has {len(fields)}"
        )
    sets = [
        _field(i, raw, *spec) for i, (raw, spec) in enumerate(zip(fields, _FIELDS, strict=True), 1)
    ]
    minutes, hours, days, months, weekdays = sets
    cron = Cron(
        text=" ".join(fields),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        day_star=fields[2].startswith("*"),
        weekday_star=fields[4].startswith("*"),
    )
    either = not (cron.day_star or cron.weekday_star)
    if not either and not any(min(cron.days) <= _LONGEST_MONTH[m] for m in cron.months):
        names = ", ".join(calendar.month_abbr[m].upper() for m in sorted(cron.months))
        raise ValueError(
            f"field 3 (day of month): {fields[2]} never occurs in {names}, so {quote(cron.text)} "
            "never fires"
        )
    return cron


def _field(
    index: int, raw: str, name: str, lo: int, hi: int, names: dict[str, int], hint: str
) -> set[int]:
    where = f"field {index} ({name})"
    out: set[int] = set()
    for item in raw.split(","):
        if not item:
            raise ValueError(f"{where}: {quote(raw)} has an empty list item")
        if _QUARTZ.match(item):
            tip = "; write '*' for any day" if item == "?" else ""
            raise ValueError(
                f"{where}: {quote(item)} is EventBridge/Quartz syntax, not Unix cron{tip}"
            )
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(
                    f"{where}: step {quote(step_text)} in {quote(item)} is not a number >= 1"
                )
            step = int(step_text)
            if step > hi - lo + 1:
                raise ValueError(f"{where}: step {step} in {quote(item)} is larger than {lo}-{hi}")
        if base == "*":
            first, last = lo, hi
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first = _value(where, start_text, item, lo, hi, names, hint)
            last = _value(where, end_text, item, lo, hi, names, hint)
            if names is DAY_NAMES and end_text.upper() == "SUN":
                last = 7  # SAT-SUN, FRI-SUN: a Sunday that closes a range is day 7
            if first > last:
                raise ValueError(f"{where}: range {base} runs backwards")
        else:
            first = _value(where, base, item, lo, hi, names, hint)
            last = hi if slash else first
        out.update(range(first, last + 1, step))
    return out


def _value(
    where: str, text: str, item: str, lo: int, hi: int, names: dict[str, int], hint: str
) -> int:
    if text.isdigit():
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"{where}: {quote(value)} is outside {lo}-{hi}")
        return value
    if text.upper() in names:
        return names[text.upper()]
    if not text:
        raise ValueError(f"{where}: a value is missing in {quote(item)}")
    raise ValueError(f"{where}: {quote(text)} is not a number{hint}")


def zone(tz_name: str) -> ZoneInfo:
    """The IANA time zone; ValueError for a name the time zone database does not know."""
    try:
        return ZoneInfo(tz_name)
    except (KeyError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {quote(tz_name)}: use an IANA name such as UTC, Europe/Paris or "
            "America/New_York"
        ) from None


def parse_time(text: str, tz_name: str) -> datetime:
    """An ISO 8601 time, aware, in the zone tz_name; a time without an offset is a wall-clock
    time there (one that happens twice is the first)."""
    tz = zone(tz_name)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{quote(text)} is not an ISO 8601 date and time, such as 2024-06-01T08:00:00Z or "
            f"2024-06-01T10:00:00 (in {tz_name})"
        ) from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(tz)
    local = _instant(parsed, tz)
    if local is None:
        raise ValueError(f"{quote(text)} does not exist in {tz_name}: the clocks skip it")
    return local


def next_fire(cron: Cron, after: datetime) -> datetime:
    """The first time strictly after `after` that the cron fires, in after's time zone."""
    tz = _zone_of(after)
    limit = after.timestamp()
    start = after.astimezone(tz).replace(tzinfo=None)
    times = [(h, m) for h in cron.hours for m in cron.minutes]
    for day in _days(cron, start.date(), forward=True):
        for h, m in times:
            fire = _instant(datetime(day.year, day.month, day.day, h, m), tz)
            if fire is not None and fire.timestamp() > limit:
                return fire
    raise ValueError(f"{quote(cron.text)} does not fire in the 400 years after {after.isoformat()}")


def last_fire(cron: Cron, until: datetime) -> datetime | None:
    """The latest time at or before `until` that the cron fires, in until's time zone."""
    tz = _zone_of(until)
    limit = until.timestamp()
    start = until.astimezone(tz).replace(tzinfo=None)
    times = [(h, m) for h in reversed(cron.hours) for m in reversed(cron.minutes)]
    for day in _days(cron, start.date(), forward=False):
        for h, m in times:
            fire = _instant(datetime(day.year, day.month, day.day, h, m), tz)
            if fire is not None and fire.timestamp() <= limit:
                return fire
    return None


def _zone_of(moment: datetime) -> tzinfo:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: pass an aware datetime")
    return moment.tzinfo


def _instant(wall: datetime, tz: tzinfo) -> datetime | None:
    """The wall-clock time in tz (the first of two when the clocks go back), or None when the
    clocks skip it."""
    moment = wall.replace(tzinfo=tz, fold=0)
    if moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        return None
    return moment


def _days(cron: Cron, first: date, *, forward: bool) -> Iterator[date]:
    """The days the cron fires on, from `first` (included) forward or backward."""
    year, month = first.year, first.month
    for _ in range(_SEARCH_MONTHS):
        if month in cron.months:
            length = calendar.monthrange(year, month)[1]
            numbers = range(1, length + 1) if forward else range(length, 0, -1)
            for n in numbers:
                day = date(year, month, n)
                if (day >= first if forward else day <= first) and cron.matches_day(day):
                    yield day
        month += 1 if forward else -1
        if month == 13:
            year, month = year + 1, 1
        elif month == 0:
            year, month = year - 1, 12
        if not 1 <= year <= 9999:
            return
