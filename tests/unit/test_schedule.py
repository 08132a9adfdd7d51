"""Scheduled actions, as EC2 Auto Scaling documents them: Unix cron recurrences in a time zone
(across daylight saving changes), one-time actions, startTime/endTime bounds, and a daemon that
fires each occurrence once, however its clock and pauses fall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.autoscaling.models.scaling import ScheduledActionSpec
from controller.autoscaling.models.schedule import (
    last_fire,
    next_fire,
    parse_cron,
    parse_time,
    zone,
)
from controller.autoscaling.planners.schedule import due, next_time

PARIS = zone("Europe/Paris")
NEW_YORK = zone("America/New_York")


def at(text: str, tz: Any = PARIS) -> datetime:
    """A wall-clock time in a zone (the first of two when the clocks go back)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def fires(cron: str, after: datetime, count: int) -> list[str]:
    c = parse_cron(cron)
    out = []
    for _ in range(count):
        after = next_fire(c, after)
        out.append(after.isoformat())
    return out


def action(**spec: Any) -> ScheduledActionSpec:
    spec.setdefault("target", {"autoScalingGroup": "web"})
    spec.setdefault("desiredCapacity", 4)
    return ScheduledActionSpec.model_validate(spec)


def ts(text: str, tz: Any = PARIS) -> float:
    return at(text, tz).timestamp()


# -- cron --------------------------------------------------------------------------------------


def test_every_weekday_at_nine_in_paris_keeps_nine_across_the_spring_change() -> None:
    """Clocks go forward on Sunday 31 March 2024: 09:00 is 08:00 UTC before, 07:00 UTC after."""
    got = fires("0 9 * * MON-FRI", at("2024-03-28T09:00"), 3)
    assert got == [
        "2024-03-29T09:00:00+01:00",
        "2024-04-01T09:00:00+02:00",
        "2024-04-02T09:00:00+02:00",
    ]
    utc = [datetime.fromisoformat(t).astimezone(UTC).hour for t in got]
    assert utc == [8, 7, 7]


def test_every_weekday_at_nine_in_paris_across_the_autumn_change() -> None:
    got = fires("0 9 * * 1-5", at("2024-10-25T09:00"), 2)
    assert got == ["2024-10-28T09:00:00+01:00", "2024-10-29T09:00:00+01:00"]


def test_a_time_the_clocks_skip_does_not_fire() -> None:
    """02:30 does not exist in Paris on 31 March 2024 (02:00 becomes 03:00)."""
    got = fires("30 2 * * *", at("2024-03-30T03:00"), 2)
    assert got == ["2024-04-01T02:30:00+02:00", "2024-04-02T02:30:00+02:00"]


def test_a_time_that_happens_twice_fires_once() -> None:
    """02:30 happens twice in Paris on 27 October 2024 (03:00 becomes 02:00): it fires the
    first time, at 00:30 UTC, and not again an hour later."""
    got = fires("30 2 * * *", at("2024-10-26T12:00"), 2)
    assert got == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]
    quarter = fires("*/15 * * * *", at("2024-10-27T02:40"), 3)
    assert quarter == [
        "2024-10-27T02:45:00+02:00",
        "2024-10-27T03:00:00+01:00",  # the repeated 02:00-02:59 does not fire again
        "2024-10-27T03:15:00+01:00",
    ]
    second_pass = at("2024-10-27T02:10").replace(fold=1)  # 01:10 UTC
    assert next_fire(parse_cron("*/15 * * * *"), second_pass).isoformat() == (
        "2024-10-27T03:00:00+01:00"
    )


def test_new_york_springs_forward_in_march() -> None:
    got = fires("0 2 * * *", at("2024-03-09T12:00", NEW_YORK), 2)
    assert got == ["2024-03-11T02:00:00-04:00", "2024-03-12T02:00:00-04:00"]


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        # every 15 minutes
        (
            "*/15 * * * *",
            "2024-06-03T10:07",
            ["2024-06-03T10:15", "2024-06-03T10:30", "2024-06-03T10:45", "2024-06-03T11:00"],
        ),
        # stepped range: minutes 1, 6, 11, ... 26 of each hour
        (
            "1-30/5 * * * *",
            "2024-06-03T10:20",
            ["2024-06-03T10:21", "2024-06-03T10:26", "2024-06-03T11:01"],
        ),
        # AWS's example recurrence: 00:30 on the first of January, June and December
        ("30 0 1 1,6,12 *", "2024-02-01T00:00", ["2024-06-01T00:30", "2024-12-01T00:30"]),
        # names, in any case
        ("0 8 * jan,Jul sat", "2024-06-30T00:00", ["2024-07-06T08:00", "2024-07-13T08:00"]),
        # Vixie: both day fields restricted -> the 1st OR any Monday (1 August 2024 is a Thursday)
        (
            "0 0 1 * MON",
            "2024-07-28T00:00",
            ["2024-07-29T00:00", "2024-08-01T00:00", "2024-08-05T00:00", "2024-08-12T00:00"],
        ),
        # ... the 15th OR any Friday (15 September 2024 is a Sunday)
        (
            "0 0 15 * FRI",
            "2024-09-01T00:00",
            ["2024-09-06T00:00", "2024-09-13T00:00", "2024-09-15T00:00", "2024-09-20T00:00"],
        ),
        # a day field starting with '*' counts as unrestricted: odd days AND Mondays
        ("0 0 */2 * MON", "2024-07-01T00:00", ["2024-07-15T00:00", "2024-07-29T00:00"]),
        # 0 and 7 are both Sunday; SAT-SUN is the weekend
        ("0 12 * * 7", "2024-06-03T00:00", ["2024-06-09T12:00", "2024-06-16T12:00"]),
        ("0 12 * * 0", "2024-06-03T00:00", ["2024-06-09T12:00", "2024-06-16T12:00"]),
        ("0 12 * * SAT-SUN", "2024-06-03T00:00", ["2024-06-08T12:00", "2024-06-09T12:00"]),
        # a/n runs from a to the end of the field
        ("0 20/2 * * *", "2024-06-03T00:00", ["2024-06-03T20:00", "2024-06-03T22:00"]),
        # February 29th waits for a leap year
        ("0 0 29 2 *", "2024-03-01T00:00", ["2028-02-29T00:00"]),
    ],
)
def test_cron_table(cron: str, after: str, expected: list[str]) -> None:
    got = fires(cron, at(after, UTC), len(expected))
    assert got == [f"{t}:00+00:00" for t in expected]


def test_next_fire_is_strictly_after_and_last_fire_is_at_or_before() -> None:
    c = parse_cron("0 9 * * *")
    nine = at("2024-06-03T09:00")
    assert next_fire(c, nine) == at("2024-06-04T09:00")
    assert next_fire(c, nine - timedelta(microseconds=1)) == nine
    assert last_fire(c, nine) == nine
    assert last_fire(c, nine - timedelta(seconds=1)) == at("2024-06-02T09:00")


def test_next_fire_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        next_fire(parse_cron("* * * * *"), datetime(2024, 6, 3))


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 25 * * *", "field 2 (hour): 25 is outside 0-23"),
        ("60 * * * *", "field 1 (minute): 60 is outside 0-59"),
        ("0 0 0 * *", "field 3 (day of month): 0 is outside 1-31"),
        ("0 0 * 13 *", "field 4 (month): 13 is outside 1-12"),
        ("0 0 * * 8", "field 5 (day of week): 8 is outside 0-7"),
        ("0 0 * FOO *", "field 4 (month): 'FOO' is not a number or a month name (JAN-DEC)"),
        ("0 0 * * MON-FUN", "field 5 (day of week): 'FUN' is not a number or a day name"),
        ("0 x * * *", "field 2 (hour): 'x' is not a number"),
        ("*/0 * * * *", "field 1 (minute): step '0' in '*/0' is not a number >= 1"),
        ("0 */25 * * *", "field 2 (hour): step 25 in '*/25' is larger than 0-23"),
        ("30-10 * * * *", "field 1 (minute): range 30-10 runs backwards"),
        ("1,,2 * * * *", "field 1 (minute): '1,,2' has an empty list item"),
        ("0 0 ? * MON", "field 3 (day of month): '?' is EventBridge/Quartz syntax"),
        ("0 0 L * *", "field 3 (day of month): 'L' is EventBridge/Quartz syntax"),
        ("0 0 * * 5#3", "field 5 (day of week): '5#3' is EventBridge/Quartz syntax"),
        ("0 0 30,31 2 *", "field 3 (day of month): 30,31 never occurs in FEB"),
        ("0 9 * *", "a recurrence has 5 fields"),
        ("0 9 * * * 2024", "a recurrence has 5 fields"),
        ("@daily", "nicknames such as @daily are not supported"),
    ],
)
def test_bad_recurrences_name_the_field(cron: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_cron(cron)
    assert message in str(err.value)


# -- times and zones ---------------------------------------------------------------------------


def test_parse_time() -> None:
    assert parse_time("2024-06-01T08:00:00Z", "Europe/Paris") == at("2024-06-01T10:00")
    assert parse_time("2024-06-01T08:00:00", "Europe/Paris") == at("2024-06-01T08:00")
    assert parse_time("2024-06-01T08:00:00-04:00", "UTC").hour == 12
    # the first 02:30 of the autumn change
    assert parse_time("2024-10-27T02:30", "Europe/Paris").utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError, match="does not exist in Europe/Paris"):
        parse_time("2024-03-31T02:30", "Europe/Paris")
    with pytest.raises(ValueError, match="'next tuesday' is not an ISO 8601 date and time"):
        parse_time("next tuesday", "UTC")


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe", "", "../etc/passwd", "utc"])
def test_unknown_time_zones(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown time zone {name!r}"):
        zone(name)


# -- due and next_time -------------------------------------------------------------------------


def test_a_one_time_action_fires_once_when_its_time_has_come() -> None:
    spec = action(startTime="2024-06-01T08:00:00", timeZone="Europe/Paris")
    created, eight = ts("2024-05-30T12:00"), ts("2024-06-01T08:00")
    assert due(spec, None, created, eight - 1) is None
    assert next_time(spec, eight - 1) == eight
    assert due(spec, None, created, eight) == eight
    assert due(spec, None, created, eight + 3600) == eight  # the daemon was late
    assert due(spec, eight, created, eight + 7200) is None
    assert next_time(spec, eight) is None


def test_a_one_time_action_already_past_when_created_never_fires() -> None:
    spec = action(startTime="2024-06-01T06:00:00Z")
    created = ts("2024-06-01T06:00", UTC) + 1
    assert due(spec, None, created, created + 86400) is None


def test_recurrence_between_start_and_end() -> None:
    spec = action(
        recurrence="0 9 * * *",
        startTime="2024-06-03T09:00:00",
        endTime="2024-06-05T09:00:00",
        timeZone="Europe/Paris",
    )
    created = ts("2024-06-01T00:00")
    assert due(spec, None, created, ts("2024-06-02T10:00")) is None  # before startTime
    assert next_time(spec, created) == ts("2024-06-03T09:00")
    assert due(spec, None, created, ts("2024-06-03T09:00")) == ts("2024-06-03T09:00")
    assert next_time(spec, ts("2024-06-04T09:00")) == ts("2024-06-05T09:00")  # endTime included
    assert next_time(spec, ts("2024-06-05T09:00")) is None
    assert due(spec, ts("2024-06-05T09:00"), created, ts("2024-06-09T09:00")) is None


def test_start_time_is_itself_an_occurrence_of_a_recurrence() -> None:
    """ "If you specify Recurrence and StartTime, Amazon EC2 Auto Scaling performs the action at
    this time, and then performs the action based on the specified recurrence.\""""
    spec = action(recurrence="0 9 * * MON-FRI", startTime="2024-06-01T00:00:00Z")  # a Saturday
    created = ts("2024-05-31T00:00", UTC)
    start = ts("2024-06-01T00:00", UTC)
    assert next_time(spec, created) == start
    assert due(spec, None, created, start + 60) == start
    assert next_time(spec, start) == ts("2024-06-03T09:00", UTC)
    assert due(spec, start, created, ts("2024-06-03T09:00", UTC)) == ts("2024-06-03T09:00", UTC)


def test_missed_occurrences_during_a_pause_fire_once_the_latest() -> None:
    spec = action(recurrence="0 9 * * *", timeZone="Europe/Paris")
    created = ts("2024-06-01T00:00")
    monday = ts("2024-06-03T09:00")
    # the daemon was stopped from Monday 09:05 to Thursday 10:00
    fired = due(spec, monday, created, ts("2024-06-06T10:00"))
    assert fired == ts("2024-06-06T09:00")
    assert due(spec, fired, created, ts("2024-06-06T10:01")) is None


def test_nothing_fires_twice_and_nothing_is_missed_on_an_irregular_clock() -> None:
    spec = action(recurrence="*/15 8-9 * * *", timeZone="Europe/Paris")
    created = ts("2024-06-03T07:00")
    now, last, fired = created, None, []
    while now < ts("2024-06-03T11:00"):
        now += 7.3  # the loop wakes at odd times
        t = due(spec, last, created, now)
        if t is not None:
            fired.append(t)
            last = t
    expected = [ts(f"2024-06-03T{h:02}:{m:02}") for h in (8, 9) for m in (0, 15, 30, 45)]
    assert fired == expected


def test_a_daily_action_fires_every_day_across_the_spring_change() -> None:
    spec = action(recurrence="0 9 * * *", timeZone="Europe/Paris")
    created = ts("2024-03-29T00:00")
    now, last, fired = created, None, []
    while now < ts("2024-04-02T00:00"):
        now += 600
        t = due(spec, last, created, now)
        if t is not None:
            fired.append(datetime.fromtimestamp(t, PARIS).isoformat())
            last = t
    assert fired == [
        "2024-03-29T09:00:00+01:00",
        "2024-03-30T09:00:00+01:00",
        "2024-03-31T09:00:00+02:00",
        "2024-04-01T09:00:00+02:00",
    ]


def test_an_occurrence_at_creation_time_does_not_fire() -> None:
    spec = action(recurrence="0 9 * * *", timeZone="UTC")
    nine = ts("2024-06-03T09:00", UTC)
    assert due(spec, None, nine, nine + 30) is None
    assert next_time(spec, nine) == nine + 86400


def test_a_bad_spec_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="field 2 \\(hour\\)"):
        due(action(recurrence="0 24 * * *"), None, 0.0, 100.0)
    with pytest.raises(ValueError, match="unknown time zone"):
        next_time(action(recurrence="0 9 * * *", timeZone="Paris"), 0.0)
