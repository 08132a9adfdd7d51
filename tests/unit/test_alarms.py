"""CloudWatch alarm evaluation, example by example as CloudWatch's user guide gives them: the
two missing-data tables, the premature-alarm rule, StateReason texts, datapoints from samples,
and which actions run on a state change."""

from __future__ import annotations

from typing import Any

import pytest

from controller.cloudwatch.models.alarm import AlarmAction, AlarmSpec
from controller.cloudwatch.planners.alarms import (
    aggregate,
    datapoints,
    evaluate,
    evaluation_range,
    sustained_actions,
    transition_actions,
)

THRESHOLD = 70.0
GOOD, BAD = 10.0, 90.0  # "0" and "X" in AWS's tables
KEEP = "retain"


def alarm(**spec: Any) -> AlarmSpec:
    spec.setdefault("metric", {"metricName": "CPUUtilization", "autoScalingGroup": "web"})
    spec.setdefault("threshold", THRESHOLD)
    spec.setdefault("comparisonOperator", "GreaterThanThreshold")
    return AlarmSpec.model_validate(spec)


def row(text: str) -> list[float | None]:
    """AWS's notation, oldest first: 0 is within the threshold, X breaches, - is missing."""
    return [{"0": GOOD, "X": BAD, "-": None}[c] for c in text.split()]


TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")

# "Configuring how CloudWatch alarms treat missing data": Datapoints to Alarm and Evaluation
# Periods both 3, evaluation range 5. Columns: MISSING, IGNORE, BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", ("OK", "OK", "OK", "OK")),
    ("0 - - - -", ("OK", "OK", "OK", "OK")),
    ("- - - - -", ("INSUFFICIENT_DATA", KEEP, "ALARM", "OK")),
    ("0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("- - X - -", ("ALARM", KEEP, "ALARM", "OK")),
]
# The same page, a 2 out of 3 alarm.
TWO_OF_THREE = [
    ("0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 - X - -", ("OK", "OK", "ALARM", "OK")),
    ("- - - - 0", ("OK", "OK", "ALARM", "OK")),
    ("- - - X -", ("ALARM", KEEP, "ALARM", "OK")),
]


def _table_cases(m: int, table: list[tuple[str, tuple[str, ...]]]) -> list[Any]:
    return [
        pytest.param(m, data, treat, want, id=f"{m}of3 [{data}] {treat}")
        for data, wants in table
        for treat, want in zip(TREATMENTS, wants, strict=True)
    ]


@pytest.mark.parametrize(
    ("m", "data", "treat", "want"),
    _table_cases(3, THREE_OF_THREE) + _table_cases(2, TWO_OF_THREE),
)
def test_the_missing_data_tables(m: int, data: str, treat: str, want: str) -> None:
    spec = alarm(evaluationPeriods=3, datapointsToAlarm=m, treatMissingData=treat)
    assert evaluation_range(spec) == 5
    for previous in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        verdict = evaluate(spec, row(data), previous)
        assert verdict.state == (previous if want == KEEP else want), previous


def test_a_lone_recent_breach_does_not_alarm_yet() -> None:
    """ "the alarm does not go immediately into ALARM state when the data is either - - - - X or
    - - - X - and Datapoints to Alarm is 3" ... "However, if the last few data points are
    - - X - -, the alarm goes into ALARM state even if missing data points are treated as
    missing"."""
    spec = alarm(evaluationPeriods=3)
    assert evaluate(spec, row("- - - - X"), "OK").state == "OK"
    assert evaluate(spec, row("- - - X -"), "OK").state == "OK"
    # the next datapoint is fine: no false alarm was raised
    assert evaluate(spec, row("- - - X 0"), "OK").state == "OK"
    verdict = evaluate(spec, row("- - X - -"), "OK")
    assert verdict.state == "ALARM"
    assert verdict.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [90.0] was greater than the "
        "threshold (70.0), the oldest 3 periods ago; 2 missing datapoints were treated as "
        "[Missing] (minimum 3 datapoints for OK -> ALARM transition)."
    )


def test_ignore_keeps_the_state_where_missing_would_alarm_early() -> None:
    spec = alarm(evaluationPeriods=3, treatMissingData="ignore")
    verdict = evaluate(spec, row("- - X - -"), "OK")
    assert verdict.state == "OK"
    assert verdict.reason == (
        "Alarm state OK kept: 1 out of the last 1 datapoints [90.0] was greater than the "
        "threshold (70.0), the oldest 3 periods ago; 2 missing datapoints were treated as "
        "[Ignore]."
    )


def test_three_out_of_three_reason_reads_like_cloudwatch() -> None:
    spec = alarm(evaluationPeriods=3)
    verdict = evaluate(spec, [90.2, 81.5, 83.0], "OK")
    assert verdict.state == "ALARM"
    assert verdict.reason == (
        "Threshold Crossed: 3 out of the last 3 datapoints [83.0, 81.5, 90.2] were greater than "
        "the threshold (70.0) (minimum 3 datapoints for OK -> ALARM transition)."
    )
    assert (verdict.breaching, verdict.newest) == (3, 83.0)


def test_back_to_ok_names_the_datapoints_within_the_threshold() -> None:
    spec = alarm(evaluationPeriods=5, datapointsToAlarm=3, comparisonOperator="LessThanThreshold")
    verdict = evaluate(spec, [10.0, 20.0, 75.0, 80.0, 90.0], "ALARM")
    assert verdict.state == "OK"
    assert verdict.reason == (
        "Threshold Crossed: 3 out of the last 5 datapoints [90.0, 80.0, 75.0] were not less than "
        "the threshold (70.0) (minimum 3 datapoints for ALARM -> OK transition)."
    )
    assert verdict.breaching == 2


def test_a_first_evaluation_transitions_from_insufficient_data() -> None:
    verdict = evaluate(alarm(), [95.0], "INSUFFICIENT_DATA")
    assert verdict.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [95.0] was greater than the threshold "
        "(70.0) (minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition)."
    )


@pytest.mark.parametrize(
    ("operator", "value", "state"),
    [
        ("GreaterThanThreshold", 70.0, "OK"),
        ("GreaterThanThreshold", 70.5, "ALARM"),
        ("GreaterThanOrEqualToThreshold", 70.0, "ALARM"),
        ("GreaterThanOrEqualToThreshold", 69.9, "OK"),
        ("LessThanThreshold", 70.0, "OK"),
        ("LessThanThreshold", 69.9, "ALARM"),
        ("LessThanOrEqualToThreshold", 70.0, "ALARM"),
        ("LessThanOrEqualToThreshold", 70.1, "OK"),
    ],
)
def test_comparison_operators_at_the_threshold(operator: str, value: float, state: str) -> None:
    assert evaluate(alarm(comparisonOperator=operator), [value], "OK").state == state


def test_with_enough_real_datapoints_missing_ones_do_not_matter() -> None:
    """ "If some data points in the evaluation range are missing, but the total number of
    existing data points ... is equal to or more than the alarm's Evaluation Periods, CloudWatch
    evaluates the alarm state based on the most recent real data points"."""
    for treat in TREATMENTS:
        spec = alarm(evaluationPeriods=3, treatMissingData=treat)
        verdict = evaluate(spec, row("X X - X -"), "OK")
        assert verdict.state == "ALARM", treat
        assert "3 out of the last 3 datapoints [90.0, 90.0, 90.0]" in verdict.reason


def test_filled_datapoints_are_named_in_the_reason() -> None:
    spec = alarm(evaluationPeriods=3, treatMissingData="breaching")
    verdict = evaluate(spec, row("- - X - -"), "OK")
    assert verdict.reason == (
        "Threshold Crossed: 3 out of the last 3 datapoints [90.0, missing, missing] were greater "
        "than the threshold (70.0); 2 missing datapoints were treated as [Breaching] "
        "(minimum 3 datapoints for OK -> ALARM transition)."
    )
    assert verdict.breaching == 3


@pytest.mark.parametrize(
    ("treat", "state", "reason"),
    [
        (
            "missing",
            "INSUFFICIENT_DATA",
            "Insufficient Data: no datapoints were received for 5 periods and 3 missing "
            "datapoints were treated as [Missing].",
        ),
        (
            "breaching",
            "ALARM",
            "Threshold Crossed: no datapoints were received for 5 periods and 3 missing "
            "datapoints were treated as [Breaching].",
        ),
        (
            "notBreaching",
            "OK",
            "Threshold Crossed: no datapoints were received for 5 periods and 3 missing "
            "datapoints were treated as [NonBreaching].",
        ),
        (
            "ignore",
            "ALARM",
            "Alarm state ALARM kept: no datapoints were received for 5 periods and missing data "
            "is treated as [Ignore].",
        ),
    ],
)
def test_no_datapoints_at_all(treat: str, state: str, reason: str) -> None:
    verdict = evaluate(alarm(evaluationPeriods=3, treatMissingData=treat), [None] * 5, "ALARM")
    assert (verdict.state, verdict.reason, verdict.newest) == (state, reason, None)


def test_a_new_alarm_with_fewer_points_than_periods_counts_the_rest_as_missing() -> None:
    spec = alarm(evaluationPeriods=3)
    assert evaluate(spec, [], "INSUFFICIENT_DATA").state == "INSUFFICIENT_DATA"
    verdict = evaluate(spec, [95.0], "INSUFFICIENT_DATA")
    assert verdict.state == "OK"
    assert verdict.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [95.0] was greater than the threshold "
        "(70.0), fewer than the 3 datapoints needed for ALARM; 2 missing datapoints were treated "
        "as [Missing]."
    )


def test_missing_data_judged_on_the_real_datapoints_says_so() -> None:
    spec = alarm(evaluationPeriods=3, datapointsToAlarm=2)
    verdict = evaluate(spec, row("0 - X - -"), "ALARM")
    assert verdict.reason == (
        "Threshold Crossed: 1 out of the last 2 datapoints [90.0, 10.0] was greater than the "
        "threshold (70.0), fewer than the 2 datapoints needed for ALARM; 1 missing datapoint "
        "was treated as [Missing]."
    )
    verdict = evaluate(spec, row("- - - - 0"), "ALARM")
    assert verdict.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [10.0] was not greater than the "
        "threshold (70.0); 2 missing datapoints were treated as [Missing]."
    )


def test_an_unreadable_metric_is_insufficient_data_whatever_the_treatment() -> None:
    for treat in TREATMENTS:
        spec = alarm(treatMissingData=treat)
        verdict = evaluate(
            spec, [], "ALARM", unavailable="Prometheus at http://prom:9090 is unreachable"
        )
        assert verdict.state == "INSUFFICIENT_DATA"
        assert verdict.reason == "Insufficient Data: Prometheus at http://prom:9090 is unreachable."


def test_an_unknown_previous_state_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown alarm state 'PENDING'"):
        evaluate(alarm(), [1.0], "PENDING")


# -- datapoints from samples ------------------------------------------------------------------


def test_samples_are_bucketed_into_complete_aligned_periods() -> None:
    samples = [
        (0.0, 10.0),  # on the boundary: the period it starts, [0, 60)
        (59.9, 20.0),
        (60.0, 30.0),
        (150.0, 40.0),  # [120, 180)
        (181.0, 99.0),  # [180, 240) is still open at now=200
    ]
    assert datapoints(samples, "Average", 60, 3, now=200.0) == [15.0, 30.0, 40.0]
    assert datapoints(samples, "Average", 60, 4, now=240.0) == [15.0, 30.0, 40.0, 99.0]
    # a period with no sample is missing; older ones beyond count are left out
    assert datapoints(samples, "Sum", 60, 2, now=240.0) == [40.0, 99.0]
    assert datapoints(samples, "Sum", 60, 3, now=300.0) == [40.0, 99.0, None]


@pytest.mark.parametrize(
    ("statistic", "value"),
    [("Average", 4.0), ("Maximum", 9.0), ("Minimum", 1.0), ("Sum", 12.0), ("SampleCount", 3.0)],
)
def test_statistics(statistic: str, value: float) -> None:
    assert aggregate([2.0, 9.0, 1.0], statistic) == value
    samples = [(60.0 + i, v) for i, v in enumerate([2.0, 9.0, 1.0])]
    assert datapoints(samples, statistic, 60, 1, now=125.0) == [value]


def test_aggregate_refuses_nothing_and_unknown_statistics() -> None:
    with pytest.raises(ValueError, match="no samples"):
        aggregate([], "Average")
    with pytest.raises(ValueError, match="unknown statistic 'p99'"):
        aggregate([1.0], "p99")


def test_nan_samples_are_dropped() -> None:
    assert datapoints([(1.0, float("nan"))], "SampleCount", 60, 1, now=61.0) == [None]


def test_datapoints_feed_evaluate() -> None:
    spec = alarm(evaluationPeriods=3, statistic="Maximum")
    now = 1_700_000_130.0
    samples = [(now - 60 * k - 5, 50.0 + 10 * k) for k in range(6)]
    points = datapoints(samples, spec.statistic, spec.period, evaluation_range(spec), now)
    assert points == [100.0, 90.0, 80.0, 70.0, 60.0]
    assert evaluate(spec, points, "OK").state == "OK"


# -- actions ----------------------------------------------------------------------------------

ACTIONS = {
    "alarmActions": [{"scalingPolicy": "scale-out"}],
    "okActions": [{"scalingPolicy": "scale-in"}],
    "insufficientDataActions": [{"scalingPolicy": "hold"}],
}


@pytest.mark.parametrize(
    ("old", "new", "policies"),
    [
        ("OK", "ALARM", ["scale-out"]),
        ("INSUFFICIENT_DATA", "ALARM", ["scale-out"]),
        ("ALARM", "OK", ["scale-in"]),
        ("ALARM", "INSUFFICIENT_DATA", ["hold"]),
        ("ALARM", "ALARM", []),
        ("OK", "OK", []),
    ],
)
def test_actions_run_on_entering_a_state(old: str, new: str, policies: list[str]) -> None:
    got = transition_actions(alarm(**ACTIONS), old, new)
    assert [a.scaling_policy for a in got] == policies


def test_disabled_actions_never_run() -> None:
    spec = alarm(actionsEnabled=False, **ACTIONS)
    assert transition_actions(spec, "OK", "ALARM") == []
    assert sustained_actions(spec, "ALARM") == []


def test_auto_scaling_actions_repeat_while_the_state_lasts_instance_actions_do_not() -> None:
    spec = alarm(
        metric={"metricName": "StatusCheckFailed", "instance": "db"},
        alarmActions=[{"scalingPolicy": "scale-out"}, {"instanceAction": "reboot"}],
    )
    assert transition_actions(spec, "OK", "ALARM") == [
        AlarmAction(scaling_policy="scale-out"),
        AlarmAction(instance_action="reboot"),
    ]
    assert sustained_actions(spec, "ALARM") == [AlarmAction(scaling_policy="scale-out")]
    assert sustained_actions(spec, "OK") == []
