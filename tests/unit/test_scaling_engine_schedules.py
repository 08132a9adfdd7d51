"""Scaling ahead of time through the whole controller: scheduled actions (one-time, and a cron
recurrence at 09:30 in Paris) and predictive scaling from a forecast.

Each test reads like an example from the AWS documentation and checks what a user would notice:
the desired capacity or count in status, the scaling activities and their causes, the alarms'
states and reasons. Time only moves when a test advances the clock; nothing sleeps. These tests
must not reach into the planners' arithmetic (tests/unit/test_scaling_policies_*.py,
test_alarms.py and test_schedule.py cover it) nor touch a real Docker engine or Prometheus
server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.unit.scaling_engine_support import (
    Scaling,
    doc,
    running_group,
    scaling_harness,
    scheduled,
)


@pytest.fixture
def h(tmp_path: Path) -> Scaling:
    return scaling_harness(tmp_path)


# --- scheduled actions ---------------------------------------------------------------------------


def test_a_one_time_scheduled_action_fires_at_its_start_time_once_even_across_a_restart(
    h: Scaling,
) -> None:
    action = scheduled(
        "evening-peak",
        startTime='"2023-11-14T23:00:00Z"',
        minSize=2,
        maxSize=8,
        desiredCapacity=5,
    )
    running_group(h, 2, action)  # the clock reads 2023-11-14T22:13:20Z
    h.at("2023-11-14T22:59:59+00:00")
    st = h.group()
    assert (st["minSize"], st["maxSize"], st["desiredCapacity"]) == (1, 6, 2)
    sa = h.status("ScheduledAction", "evening-peak")
    assert (sa["status"], sa["nextTime"]) == ("ACTIVE", ts("2023-11-14T23:00:00+00:00"))

    h.at("2023-11-14T23:00:00+00:00")
    st = h.group()
    assert (st["minSize"], st["maxSize"], st["desiredCapacity"], st["inServiceCount"]) == (
        2,
        8,
        5,
        5,
    )
    assert h.causes() == [
        "scheduled action evening-peak fired at 2023-11-14T23:00:00Z: "
        "min 1 -> 2, max 6 -> 8, desired 2 -> 5"
    ]
    assert h.status("ScheduledAction", "evening-peak")["status"] == "COMPLETED"

    h.restart()
    h.tick(3)
    assert h.group()["desiredCapacity"] == 5
    assert len(h.causes()) == 1
    assert h.status("ScheduledAction", "evening-peak")["status"] == "COMPLETED"


def test_a_cron_recurrence_fires_at_the_next_matching_minute_in_its_time_zone(
    h: Scaling,
) -> None:
    action = scheduled(
        "office-hours",
        recurrence='"30 9 * * MON-FRI"',
        timeZone="Europe/Paris",
        desiredCapacity=4,
    )
    running_group(h, 2, action)  # Tuesday 2023-11-14, 23:13 in Paris
    nine_thirty = ts("2023-11-15T09:30:00+01:00")  # Wednesday, Paris is on UTC+1 in November
    assert h.status("ScheduledAction", "office-hours")["nextTime"] == nine_thirty
    h.at("2023-11-15T09:29:59+01:00")
    assert h.group()["desiredCapacity"] == 2
    h.at("2023-11-15T09:30:00+01:00")
    assert h.group()["desiredCapacity"] == 4
    assert h.causes() == [
        "scheduled action office-hours fired at 2023-11-15T08:30:00Z: desired 2 -> 4"
    ]
    assert h.status("ScheduledAction", "office-hours")["nextTime"] == ts(
        "2023-11-16T09:30:00+01:00"
    )


def ts(when: str) -> float:
    return datetime.fromisoformat(when).timestamp()


# --- predictive scaling --------------------------------------------------------------------------


def predictive(mode: str) -> str:
    return doc(
        "ScalingPolicy",
        "forecast",
        f"""\
        target: {{autoScalingGroup: web}}
        policyType: PredictiveScaling
        predictiveScalingConfiguration:
          predefinedMetric: ASGCPUUtilization
          targetValue: 50
          mode: {mode}
          schedulingBufferTime: 600
        """,
    )


def busy_mornings(h: Scaling, days: int) -> None:
    """`days` days of history: the group carries 300 CPU-percent-instances from 09:00 to
    12:00 UTC (six instances at 50%), 50 otherwise."""
    series = "AutoScalingGroup/web:ASGCPUUtilization"
    today = (h.clock.now // 86400) * 86400
    for day in range(days, 0, -1):
        for hour in range(24):
            load = 300.0 if 9 <= hour < 12 else 50.0
            h.store.add_metric_sample(series, today - day * 86400 + hour * 3600 + 60, load)


def test_predictive_scaling_launches_ahead_of_a_forecast_busy_hour_and_never_scales_in(
    h: Scaling,
) -> None:
    day = (h.clock.now // 86400 + 1) * 86400
    h.at(datetime.fromtimestamp(day + 8 * 3600, UTC).isoformat())  # 08:00 UTC
    busy_mornings(h, 3)
    running_group(h, 2, predictive("ForecastAndScale"))
    assert h.group()["desiredCapacity"] == 2  # 08:00 forecasts 50: one instance would do
    h.at(datetime.fromtimestamp(day + 8 * 3600 + 50 * 60, UTC).isoformat())  # 08:50
    h.tick()
    # 10 minutes ahead, the 09:00 hour forecasts 300 CPU-percent-instances: 6 at 50%.
    assert h.group()["desiredCapacity"] == 6
    (cause,) = h.causes()
    assert cause.startswith("policy forecast:")
    h.at(datetime.fromtimestamp(day + 13 * 3600, UTC).isoformat())  # 13:00: a quiet forecast
    h.tick(3)
    assert h.group()["desiredCapacity"] == 6  # a forecast never scales in


def test_forecast_only_shows_the_forecast_and_changes_nothing(h: Scaling) -> None:
    day = (h.clock.now // 86400 + 1) * 86400
    h.at(datetime.fromtimestamp(day + 8 * 3600 + 55 * 60, UTC).isoformat())
    busy_mornings(h, 3)
    running_group(h, 2, predictive("ForecastOnly"))
    st = h.status("ScalingPolicy", "forecast")
    assert st["forecastCapacity"] == 6
    assert len(st["forecast"]) == 48  # type: ignore[arg-type]
    assert h.group()["desiredCapacity"] == 2
    assert str(st["message"]).endswith(
        "= 6 instances; not applied; no change (current capacity 0, warming 2 within a 300 s "
        "warm-up, computed desired 6, desired 2, minSize 1, maxSize 6)"
    )
    assert st["lastEvaluation"]["noChange"] == "forecast-only"  # type: ignore[index]


def test_predictive_scaling_waits_for_a_day_of_history(h: Scaling) -> None:
    busy_mornings(h, 0)
    running_group(h, 2, predictive("ForecastAndScale"))
    assert "24" in str(h.status("ScalingPolicy", "forecast")["message"])
    assert h.group()["desiredCapacity"] == 2
