"""Predictive scaling: the hourly forecast follows daily and weekly patterns from at most 14 days
of history, and the capacity it asks for is a floor that launches ahead of the hour."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.autoscaling.models.scaling import PredictiveScaling
from controller.autoscaling.planners.forecast import (
    HOUR,
    Forecast,
    ForecastPoint,
    NoForecast,
    PredictiveDecision,
    capacity_for,
    forecast,
)

DAY = 24 * HOUR
WEEK = 7 * DAY


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


SATURDAY = at("2024-06-01T00:00")  # a Saturday, midnight UTC


def hod(t: float) -> float:
    return (t % DAY) / HOUR


def daily_sine(t: float) -> float:
    return 200 + 100 * math.sin(2 * math.pi * hod(t) / 24)


def office(t: float) -> float:
    """Busy on weekdays in the daytime, quiet at weekends."""
    shape = max(0.0, math.sin(math.pi * (hod(t) - 6) / 12))  # 06:00-18:00
    weekend = datetime.fromtimestamp(t, tz=UTC).weekday() >= 5
    return 20 + 10 * shape if weekend else 40 + 200 * shape


def hours(start: float, end: float, load: Callable[[float], float]) -> list[tuple[float, float]]:
    return [(float(t), load(t)) for t in range(int(start), int(end), HOUR)]


def ok(result: Forecast | NoForecast) -> Forecast:
    assert isinstance(result, Forecast), result.reason
    return result


def spec(**kw: Any) -> PredictiveScaling:
    base: dict[str, Any] = {"targetValue": 50, "mode": "ForecastAndScale"}
    if kw.get("maxCapacityBreachBehavior") != "IncreaseMaxCapacity":
        kw.pop("maxCapacityBuffer", None)  # AWS takes a buffer only with IncreaseMaxCapacity
    return PredictiveScaling.model_validate(base | kw)


def fixed(start: float, *loads: float) -> Forecast:
    """A forecast with the given hourly loads from `start`."""
    points = tuple(ForecastPoint(start + i * HOUR, load) for i, load in enumerate(loads))
    return Forecast(points, history_hours=72, weekly_weight=0.0, level=0.0, reason="test")


# --- the forecast ---------------------------------------------------------------------------


def test_a_daily_pattern_over_three_days_is_reproduced_for_the_next_day() -> None:
    rng = random.Random(7)
    start = at("2024-06-03T00:00")
    history = [(t, y + rng.uniform(-5, 5)) for t, y in hours(start, start + 3 * DAY, daily_sine)]
    now = start + 3 * DAY + 20 * 60  # 00:20 on the fourth day

    f = ok(forecast(history, now))

    assert len(f.points) == 48
    assert f.points[0].start == start + 3 * DAY  # from the current hour
    assert [p.start for p in f.points] == [start + 3 * DAY + i * HOUR for i in range(48)]
    for p in f.points[:24]:
        assert p.load == pytest.approx(daily_sine(p.start), rel=0.05)
    assert f.weekly_weight == 0.0
    assert "daily pattern only" in f.reason


def test_two_weeks_of_weekday_weekend_load_the_weekly_pattern_wins_on_a_saturday() -> None:
    history = hours(SATURDAY - 2 * WEEK, SATURDAY, office)
    now = SATURDAY + 30 * 60

    f = ok(forecast(history, now))

    assert f.weekly_weight > 0.95
    friday_noon = office(SATURDAY - 12 * HOUR)
    saturday_noon = f.load_at(SATURDAY + 12 * HOUR)
    assert friday_noon == pytest.approx(240)
    assert saturday_noon == pytest.approx(30, rel=0.02)  # not the weekday peak
    for p in f.points:  # Saturday and Sunday
        assert p.load == pytest.approx(office(p.start), rel=0.02)


def test_with_noise_the_weekly_pattern_still_wins_on_a_saturday() -> None:
    rng = random.Random(11)
    history = [
        (t, y + rng.uniform(-10, 10)) for t, y in hours(SATURDAY - 2 * WEEK, SATURDAY, office)
    ]

    f = ok(forecast(history, SATURDAY))

    assert f.weekly_weight > 0.9
    for p in f.points:
        assert p.load == pytest.approx(office(p.start), abs=15)  # weekday peak: 240


def test_one_week_of_history_is_too_little_to_check_the_weekly_pattern() -> None:
    history = hours(SATURDAY - WEEK, SATURDAY, office)

    f = ok(forecast(history, SATURDAY))

    assert f.weekly_weight == 0.0
    assert "daily pattern only" in f.reason
    saturday_noon = f.load_at(SATURDAY + 12 * HOUR)
    assert saturday_noon is not None and 30 < saturday_noon < 240  # the average day


def test_nine_days_are_enough_for_the_weekly_pattern_to_win() -> None:
    history = hours(SATURDAY - 9 * DAY, SATURDAY, office)

    f = ok(forecast(history, SATURDAY))

    assert f.weekly_weight > 0.95
    assert f.load_at(SATURDAY + 12 * HOUR) == pytest.approx(30, rel=0.02)


def test_under_24_hours_of_history_gives_no_forecast_and_says_why() -> None:
    now = SATURDAY + 10 * 60
    history = hours(SATURDAY - 23 * HOUR, SATURDAY, daily_sine)
    history.append((SATURDAY, 999.0))  # the hour in progress is not history

    result = forecast(history, now)

    assert isinstance(result, NoForecast)
    assert result.history_hours == 23
    assert "at least 24 hours of history" in result.reason
    assert isinstance(forecast(hours(SATURDAY - DAY, SATURDAY, daily_sine), now), Forecast)


def test_history_older_than_14_days_is_ignored() -> None:
    start = SATURDAY - 3 * WEEK
    wild = [(t, 1e6 * (1 + (t // HOUR) % 5)) for t, _ in hours(start, SATURDAY - 2 * WEEK, office)]
    recent = hours(SATURDAY - 2 * WEEK, SATURDAY, office)

    f = ok(forecast(wild + recent, SATURDAY))

    assert f == forecast(recent, SATURDAY)
    assert f.history_hours == 14 * 24
    assert max(p.load for p in f.points) < 300


def test_missing_hours_are_tolerated() -> None:
    start = at("2024-06-03T00:00")
    history = [
        (t, y)
        for i, (t, y) in enumerate(hours(start, start + 3 * DAY, daily_sine))
        if i % 5 != 1 and hod(t) != 4  # a fifth of the hours, and 04:00 every day
    ]

    f = ok(forecast(history, start + 3 * DAY))

    assert f.history_hours == 72 - 15 - 3
    for p in f.points[:24]:
        assert p.load == pytest.approx(daily_sine(p.start), rel=0.02)  # 04:00 interpolated


def test_a_step_in_load_is_followed_at_the_new_level() -> None:
    start = at("2024-06-03T00:00")
    now = start + 6 * DAY

    def stepped(t: float) -> float:
        return daily_sine(t) + (100 if t >= now - DAY else 0)

    f = ok(forecast(hours(start, now, stepped), now))

    assert f.level > 80
    for p in f.points:
        assert p.load == pytest.approx(daily_sine(p.start) + 100, rel=0.02)


def test_a_forecast_never_goes_below_zero() -> None:
    start = at("2024-06-03T00:00")
    now = start + 7 * DAY

    def collapse(t: float) -> float:
        s = math.sin(2 * math.pi * hod(t) / 24)
        return 20 + 20 * s if t >= now - DAY else 100 + 80 * s

    f = ok(forecast(hours(start, now, collapse), now))

    assert min(p.load for p in f.points) == 0.0
    assert f.level < 0


def test_unusable_points_and_the_order_of_history_do_not_matter() -> None:
    start = at("2024-06-03T00:00")
    now = start + 3 * DAY
    history = hours(start, now, daily_sine)
    junk = [(now, 5e5), (now + DAY, 5e5), (start + HOUR, math.nan), (start + 2 * HOUR, -1.0)]
    junk_first = [p for p in history if p[0] not in (start + HOUR, start + 2 * HOUR)]
    shuffled = junk_first + junk
    random.Random(3).shuffle(shuffled)

    assert forecast(shuffled, now) == forecast(junk_first, now)
    assert forecast(list(reversed(history)), now) == forecast(history, now)


def test_hours_sets_the_length() -> None:
    history = hours(SATURDAY - 2 * DAY, SATURDAY, daily_sine)
    assert len(ok(forecast(history, SATURDAY, hours=6)).points) == 6
    with pytest.raises(ValueError):
        forecast(history, SATURDAY, hours=0)


# --- the capacity it asks for ----------------------------------------------------------------

EIGHT = at("2024-06-03T08:00")


@pytest.mark.parametrize(
    ("now", "buffer", "loads", "capacity"),
    [
        (EIGHT + 55 * 60, 600, (100, 500), 10),  # 08:55 + 10 min: the 09:00 hour's capacity
        (EIGHT + 55 * 60, 0, (100, 500), 2),  # no buffer: still 08:00
        (EIGHT + 45 * 60, 600, (100, 500), 2),  # 08:55 is not 09:00 yet
        (EIGHT + 55 * 60, 600, (500, 100), 10),  # the current hour is larger: keep it
        (EIGHT + 65 * 60, 600, (100, 500), 10),  # 09:05: the 09:00 hour itself
    ],
    ids=["launch-ahead", "no-buffer", "not-yet", "current-hour-larger", "in-the-hour"],
)
def test_scheduling_buffer_launches_ahead_of_the_hour(
    now: float, buffer: int, loads: tuple[float, float], capacity: int
) -> None:
    d = capacity_for(spec(schedulingBufferTime=buffer), fixed(EIGHT, *loads), now, 1, 1, 20)
    assert (d.min_capacity, d.forecast_capacity) == (capacity, capacity)


def test_a_low_forecast_is_still_only_a_floor_it_never_scales_in() -> None:
    d = capacity_for(spec(), fixed(EIGHT, 100), EIGHT, current_desired=10, min_size=1, max_size=20)

    assert d.min_capacity == 2
    assert "never scales in" in d.reason
    assert max(10, d.min_capacity) == 10  # what the caller does with it


def test_the_floor_is_at_least_min_size() -> None:
    d = capacity_for(spec(), fixed(EIGHT, 0.0), EIGHT, current_desired=3, min_size=3, max_size=9)
    assert (d.min_capacity, d.forecast_capacity, d.max_size) == (3, 0, 9)


def test_a_high_forecast_raises_the_floor_above_desired() -> None:
    d = capacity_for(spec(), fixed(EIGHT, 400), EIGHT, current_desired=3, min_size=1, max_size=20)
    assert d == PredictiveDecision(8, 20, d.reason, forecast_capacity=8)
    assert "raises the floor above desired 3 to 8" in d.reason


def test_forecast_only_reports_the_capacity_but_sets_no_floor() -> None:
    s = spec(mode="ForecastOnly")
    d = capacity_for(s, fixed(EIGHT, 400), EIGHT, current_desired=3, min_size=1, max_size=20)

    assert d.min_capacity is None
    assert d.forecast_capacity == 8
    assert d.max_size == 20
    assert d.reason.startswith("ForecastOnly:")


@pytest.mark.parametrize(
    ("behavior", "buffer", "load", "floor", "max_size"),
    [
        ("HonorMaxCapacity", 0, 2500, 40, 40),  # 50 wanted, capped
        ("HonorMaxCapacity", 10, 2500, 40, 40),  # the buffer does nothing here
        ("IncreaseMaxCapacity", 10, 2500, 50, 55),  # AWS's example: 50 over 40 -> max 55
        ("IncreaseMaxCapacity", 0, 2500, 50, 50),  # up to the forecast, not past it
        ("IncreaseMaxCapacity", 10, 1900, 38, 42),  # close to max: 38 * 1.1 = 41.8 -> 42
        ("IncreaseMaxCapacity", 10, 500, 10, 40),  # far below: max unchanged, never lowered
    ],
)
def test_max_capacity_breach_behavior(
    behavior: str, buffer: int, load: float, floor: int, max_size: int
) -> None:
    s = spec(maxCapacityBreachBehavior=behavior, maxCapacityBuffer=buffer)
    d = capacity_for(s, fixed(EIGHT, load), EIGHT, current_desired=5, min_size=1, max_size=40)
    assert (d.min_capacity, d.max_size) == (floor, max_size)


def test_alb_request_count_target_is_per_instance_per_minute() -> None:
    s = spec(predefinedMetric="ALBRequestCount", targetGroup="web", targetValue=1000)
    d = capacity_for(s, fixed(EIGHT, 600_000), EIGHT, current_desired=1, min_size=1, max_size=20)
    assert d.min_capacity == 10  # 600,000 an hour = 10,000 a minute = 10 x 1,000


def test_float_noise_does_not_add_an_instance() -> None:
    d = capacity_for(spec(targetValue=0.1), fixed(EIGHT, 0.1 * 3), EIGHT, 1, 1, 20)
    assert d.min_capacity == 3


def test_no_forecast_or_a_stale_one_sets_no_floor() -> None:
    none = capacity_for(spec(), NoForecast("too little", 3), EIGHT, 2, 1, 9)
    assert none == PredictiveDecision(None, 9, "no forecast: too little")

    stale = capacity_for(spec(), fixed(EIGHT, 400), EIGHT + 2 * HOUR, 2, 1, 9)
    assert stale.min_capacity is None and "stale" in stale.reason


def test_a_forecast_from_history_drives_the_floor_end_to_end() -> None:
    history = hours(SATURDAY - 2 * WEEK, SATURDAY, office)
    now = at("2024-06-03T08:55")  # Monday
    f = ok(forecast(history, at("2024-06-03T06:00")))

    d = capacity_for(spec(schedulingBufferTime=600, targetValue=60), f, now, 1, 1, 20)

    load_nine = f.load_at(at("2024-06-03T09:00"))
    assert load_nine == pytest.approx(office(at("2024-06-03T09:00")), rel=0.05)
    assert d.min_capacity == math.ceil(load_nine / 60)


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(-400, 10), st.floats(0, 1e9, allow_nan=False)), max_size=400
    ),
    ahead=st.integers(1, 72),
)
def test_any_history_gives_a_non_negative_forecast_or_a_reason(
    points: list[tuple[int, float]], ahead: int
) -> None:
    history = [(SATURDAY + h * HOUR, y) for h, y in points]
    result = forecast(history, SATURDAY + 1, hours=ahead)
    if isinstance(result, NoForecast):
        assert result.history_hours < 24 and result.reason
        return
    assert len(result.points) == ahead
    assert all(math.isfinite(p.load) and p.load >= 0 for p in result.points)
    assert result == forecast(history, SATURDAY + 1, hours=ahead)


@given(
    load=st.floats(0, 1e6, allow_nan=False),
    desired=st.integers(0, 100),
    min_size=st.integers(0, 50),
    extra=st.integers(0, 50),
    behavior=st.sampled_from(["HonorMaxCapacity", "IncreaseMaxCapacity"]),
    buffer=st.integers(0, 100),
)
def test_the_floor_respects_the_bounds_and_the_max_is_never_lowered(
    load: float, desired: int, min_size: int, extra: int, behavior: str, buffer: int
) -> None:
    max_size = min_size + extra
    s = spec(maxCapacityBreachBehavior=behavior, maxCapacityBuffer=buffer)
    d = capacity_for(s, fixed(EIGHT, load), EIGHT, desired, min_size, max_size)
    assert d.min_capacity is not None and d.forecast_capacity is not None
    assert min_size <= d.min_capacity <= d.max_size
    assert d.max_size >= max_size
    if behavior == "HonorMaxCapacity":
        assert d.max_size == max_size
    assert d.min_capacity == min(max(min_size, d.forecast_capacity), d.max_size)
