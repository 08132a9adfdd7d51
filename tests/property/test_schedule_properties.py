"""Properties of cron schedules and alarm evaluation over arbitrary inputs (hypothesis).

next_fire finds the very next occurrence (none is skipped between), on a wall time the cron
names, whatever the zone's daylight saving rules; the daemon's loop fires occurrences in order
and never twice; and an alarm with enough real datapoints ignores treatMissingData.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.autoscaling.models.scaling import ScheduledActionSpec
from controller.autoscaling.models.schedule import last_fire, next_fire, parse_cron, zone
from controller.autoscaling.planners.schedule import due
from controller.cloudwatch.models.alarm import AlarmSpec
from controller.cloudwatch.planners.alarms import evaluate

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


def _field(lo: int, hi: int) -> st.SearchStrategy[str]:
    value = st.integers(lo, hi)
    return st.one_of(
        st.just("*"),
        st.integers(1, max(1, (hi - lo) // 2)).map(lambda n: f"*/{n}"),
        st.lists(value, min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
        st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}"),
    )


crons = st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 7)).map(
    " ".join
)
instants = st.floats(1_577_836_800, 1_893_456_000)  # 2020-2030


@settings(max_examples=300, deadline=None)
@given(crons, st.sampled_from(ZONES), instants)
def test_next_fire_is_the_very_next_occurrence(text: str, tz_name: str, t: float) -> None:
    cron = parse_cron(text)
    after = datetime.fromtimestamp(t, zone(tz_name))
    fire = next_fire(cron, after)
    # (aware datetimes in one zone compare as wall times: compare instants)
    assert fire.timestamp() > after.timestamp()
    assert fire.minute in cron.minutes and fire.hour in cron.hours
    assert cron.matches_day(fire.date())
    again = last_fire(cron, fire)
    assert again is not None and again.timestamp() == fire.timestamp()
    before = last_fire(cron, datetime.fromtimestamp(fire.timestamp() - 0.001, fire.tzinfo))
    assert before is None or before.timestamp() <= after.timestamp()


@settings(max_examples=100, deadline=None)
@given(
    crons,
    st.sampled_from(ZONES),
    instants,
    st.lists(st.floats(1, 6 * 3600), min_size=1, max_size=30),
)
def test_the_loop_fires_in_order_and_never_twice(
    text: str, tz_name: str, created: float, steps: list[float]
) -> None:
    spec = ScheduledActionSpec.model_validate(
        {"target": {"service": "web"}, "recurrence": text, "timeZone": tz_name, "minSize": 1}
    )
    cron = parse_cron(text)
    now, last = created, None
    for step in steps:
        now += step
        fired = due(spec, last, created, now)
        if fired is None:
            continue
        assert (last or created) < fired <= now
        moment = datetime.fromtimestamp(fired, zone(tz_name))
        again = last_fire(cron, moment)
        assert again is not None and again.timestamp() == fired  # an occurrence
        # and the latest one: nothing between it and now
        assert next_fire(cron, moment).timestamp() > now
        last = fired


points = st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=3, max_size=8)


@given(points, st.integers(1, 3), st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]))
def test_enough_real_datapoints_make_missing_data_irrelevant(
    values: list[float | None], m: int, previous: str
) -> None:
    states = set()
    for treat in ("missing", "ignore", "breaching", "notBreaching"):
        spec = AlarmSpec.model_validate(
            {
                "metric": {"metricName": "CPUUtilization", "service": "web"},
                "threshold": 50,
                "comparisonOperator": "GreaterThanOrEqualToThreshold",
                "evaluationPeriods": 3,
                "datapointsToAlarm": m,
                "treatMissingData": treat,
            }
        )
        verdict = evaluate(spec, values, previous)
        assert verdict.state in ("OK", "ALARM", "INSUFFICIENT_DATA")
        if sum(v is not None for v in values) >= 3:
            states.add(verdict.state)
    assert len(states) <= 1
