"""Scaling policies' arithmetic, case by case, as the AWS user guides tell it (fixed times).

Each table row reads like one of AWS's examples: a group or service at some capacity, what the
metric says, and the desired capacity that follows (None: no change). Target tracking follows
the EC2 Auto Scaling and Application Auto Scaling guides; the step tables are the guide's
"Step adjustments" example (alarm threshold 50, a group of 10).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest

from controller.autoscaling.models.scaling import SimpleScaling, StepScaling, TargetTracking
from controller.autoscaling.planners.policies import (
    Capacity,
    Decision,
    PolicyKind,
    clamp,
    combine,
    find_step,
    held,
    percent_change,
    simple_scaling,
    step_scaling,
    target_tracking,
)
from tests.support.builders import T0


def case(name: str, *values: Any) -> Any:
    """One table row, named as the user guide would say it."""
    return pytest.param(*values, id=name)


def cap(
    desired: int,
    *,
    min_size: int = 1,
    max_size: int = 10,
    in_service: int | None = None,
    warming: int = 0,
) -> Capacity:
    """A capacity; by default every desired instance is in service and warmed up."""
    return Capacity(
        desired, min_size, max_size, desired if in_service is None else in_service, warming
    )


def cpu(target: float = 50.0, **extra: Any) -> TargetTracking:
    return TargetTracking.model_validate(
        {"predefinedMetric": "ASGAverageCPUUtilization", "targetValue": target, **extra}
    )


def backlog(**extra: Any) -> TargetTracking:
    """AWS's example queue: acceptable latency 10 s, 0.1 s per message: 100 per instance."""
    queue = {"prometheusQuery": "skiff_batch_queue_runnable"}
    if "targetValue" in extra:
        return TargetTracking.model_validate({"backlogPerInstance": {"queue": queue}, **extra})
    return backlog_pair(10, 0.1)


def backlog_pair(latency: float, processing: float) -> TargetTracking:
    queue = {"prometheusQuery": "skiff_batch_queue_runnable"}
    return TargetTracking.model_validate(
        {
            "backlogPerInstance": {
                "queue": queue,
                "acceptableLatency": latency,
                "averageProcessingTime": processing,
            }
        }
    )


def track(
    spec: TargetTracking,
    datapoints: Sequence[float | None],
    capacity: Capacity,
    *,
    now: float = T0,
    last_out: float | None = None,
    last_in: float | None = None,
    service: bool = False,
) -> Decision:
    return target_tracking("web-cpu", spec, datapoints, capacity, now, last_out, last_in, service)


HOT = [83.0] * 3
COLD = [20.0] * 15

# --- target tracking: scale out on 3 datapoints, in on 15 ----------------------------------

TRACKING = [
    # (case, spec, datapoints, capacity, desired after)
    case("proportional: 2 at 83% of 50% -> ceil(2 x 83 / 50) = 4", cpu(), HOT, cap(2), 4),
    case(
        "the whole way out at once: 4 at 100% of 25% -> 16",
        cpu(25),
        [100.0] * 3,
        cap(4, max_size=20),
        16,
    ),
    case(
        "the newest datapoint sizes it: 60, 70, 90 on 10 -> 18",
        cpu(),
        [60.0, 70.0, 90.0],
        cap(10, max_size=20),
        18,
    ),
    case(
        "12 calm minutes, then 3 hot ones: 10 x 60 / 50 = 12",
        cpu(),
        [10.0] * 12 + [60.0] * 3,
        cap(10, max_size=20),
        12,
    ),
    case("above target in only 2 of the last 3 periods", cpu(), [40.0, 60.0, 60.0], cap(4), None),
    case("exactly at the target is not above it", cpu(), [50.0] * 3, cap(4), None),
    case("scale-out capped at maxSize: wants 16, gets 10", cpu(), [95.0] * 3, cap(8), 10),
    case("already at maxSize", cpu(), [95.0] * 3, cap(10), None),
    case("15 periods below 45%: one of ten goes", cpu(), COLD, cap(10), 9),
    case(
        "14 low periods after one at 50%: no scale-in", cpu(), [50.0] + [20.0] * 14, cap(10), None
    ),
    case("only 14 periods of data so far", cpu(), [20.0] * 14, cap(10), None),
    case("between 45 and 50: inside the low alarm's threshold", cpu(), [46.0] * 15, cap(10), None),
    case("exactly 45 (0.9 x 50) is not below it", cpu(), [45.0] * 15, cap(10), None),
    case(
        "gradually: 30 at 10% -> 27 (10% of 30), not the proportional 6",
        cpu(),
        [10.0] * 15,
        cap(30, max_size=40),
        27,
    ),
    case(
        "gradually: 10% of 25 rounds down to 2 -> 23", cpu(), [10.0] * 15, cap(25, max_size=40), 23
    ),
    case(
        "never below proportional: 5 at 44% -> ceil(4.4) = 5 stays",
        cpu(),
        [44.0] * 15,
        cap(5),
        None,
    ),
    case("5 at 35% -> ceil(3.5) = 4", cpu(), [35.0] * 15, cap(5), 4),
    case("a small group still loses one: 3 at 20% -> 2", cpu(), COLD, cap(3), 2),
    case("already at minSize", cpu(), COLD, cap(2, min_size=2), None),
    case(
        "scale-in held at minSize: 30 -> 28, not 27",
        cpu(),
        [10.0] * 15,
        cap(30, min_size=28, max_size=40),
        28,
    ),
    case("missing datapoint among the last 3", cpu(), [83.0, None, 83.0], cap(2), None),
    case("only 2 datapoints", cpu(), [83.0, 83.0], cap(2), None),
    case(
        "missing datapoint among the last 15",
        cpu(),
        [20.0] * 7 + [None] + [20.0] * 7,
        cap(10),
        None,
    ),
    case("a gap older than 15 periods does not matter", cpu(), [None] + COLD, cap(10), 9),
    case(
        "disableScaleIn: low for 15 periods, no scale-in",
        cpu(disableScaleIn=True),
        COLD,
        cap(10),
        None,
    ),
    case("disableScaleIn still scales out", cpu(disableScaleIn=True), HOT, cap(2), 4),
]


@pytest.mark.parametrize(
    ("spec", "datapoints", "capacity", "expected"),
    TRACKING,
)
def test_target_tracking(
    spec: TargetTracking,
    datapoints: Sequence[float | None],
    capacity: Capacity,
    expected: int | None,
) -> None:
    decision = track(spec, datapoints, capacity)
    assert decision.desired == expected, decision.reason
    direction = None if expected is None else ("out" if expected > capacity.desired else "in")
    assert decision.direction == direction
    assert decision.kind == "TargetTrackingScaling"


@pytest.mark.parametrize(
    ("datapoints", "capacity", "reason"),
    [
        (HOT, cap(2), "policy web-cpu: CPUUtilization 83.0 > target 50.0; desired 2 -> 4"),
        (
            [95.0] * 3,
            cap(8),
            "policy web-cpu: CPUUtilization 95.0 > target 50.0; desired 8 -> 10 "
            "(capped at maxSize 10; wanted 16)",
        ),
        (
            COLD,
            cap(10),
            "policy web-cpu: CPUUtilization 20.0 < 45.0 (0.9 x target 50.0) for 15 periods; "
            "desired 10 -> 9 (gradually: at most 1 per scale-in, proportional 4)",
        ),
        (
            [83.0, None, 83.0],
            cap(2),
            "policy web-cpu: CPUUtilization: missing data, 2 of the last 3 periods have a value, "
            "and missing data never scales; no change (current capacity 2, warming 0, desired 2, "
            "minSize 1, maxSize 10)",
        ),
        (
            [20.0] * 7 + [None] + [20.0] * 7,
            cap(10),
            "policy web-cpu: CPUUtilization 20.0 is below 45.0, but only 14 of the last 15 "
            "periods have a value: no scale-in on missing data; no change (current capacity 10, "
            "warming 0, desired 10, minSize 1, maxSize 10)",
        ),
        (
            [50.0] * 3,
            cap(4),
            "policy web-cpu: CPUUtilization 50.0 is neither above target 50.0 for 3 periods "
            "nor below 45.0 for 15; no change (current capacity 4, warming 0, desired 4, "
            "minSize 1, maxSize 10)",
        ),
        (
            COLD,
            cap(2, min_size=2),
            "policy web-cpu: CPUUtilization 20.0 < 45.0 (0.9 x target 50.0) for 15 periods, "
            "but desired 2 is at minSize 2; no change (current capacity 2, warming 0, "
            "computed desired 1, desired 2, minSize 2, maxSize 10)",
        ),
    ],
    ids=["out", "capped", "in", "missing-out", "missing-in", "at-target", "at-min"],
)
def test_target_tracking_reasons(
    datapoints: Sequence[float | None], capacity: Capacity, reason: str
) -> None:
    assert track(cpu(), datapoints, capacity).reason == reason


def test_disable_scale_in_says_so_and_leaves_scale_in_to_other_policies() -> None:
    decision = track(cpu(disableScaleIn=True), COLD, cap(10))
    assert "scale-in is disabled (disableScaleIn)" in decision.reason
    assert not decision.vetoes_scale_in
    assert track(cpu(), [46.0] * 15, cap(10)).vetoes_scale_in


# --- warm-up (groups) and cooldowns (services) ---------------------------------------------

WARMUP = [
    # (case, datapoints, capacity, desired after)
    case(
        "2 of 4 still warming: the 2 measured at 83% need 4, already there",
        HOT,
        cap(4, warming=2),
        None,
    ),
    case("2 of 4 still warming, the 2 measured at 150% need 6", [150.0] * 3, cap(4, warming=2), 6),
    case("2 launched, not yet in service, count as added", HOT, cap(4, in_service=2), None),
    case("no scale-in while an instance warms up", COLD, cap(10, warming=1), None),
    case("the same group once warm scales in", COLD, cap(10), 9),
]


@pytest.mark.parametrize(
    ("datapoints", "capacity", "expected"),
    WARMUP,
)
def test_warm_up_in_groups(
    datapoints: Sequence[float | None], capacity: Capacity, expected: int | None
) -> None:
    assert track(cpu(), datapoints, capacity).desired == expected


SERVICE = cpu(scaleOutCooldown=60, scaleInCooldown=120)
COOLDOWNS = [
    # (case, datapoints, capacity, last scale-out, last scale-in, desired after)
    case("scale-in 119 s into a 120 s scale-in cooldown", COLD, cap(10), None, T0 - 119, None),
    case("scale-in once the scale-in cooldown is over", COLD, cap(10), None, T0 - 120, 9),
    case("scale-in 59 s into a 60 s scale-out cooldown", COLD, cap(10), T0 - 59, None, None),
    case("scale-in once the scale-out cooldown is over", COLD, cap(10), T0 - 60, None, 9),
    case("a scale-in cooldown never delays a scale-out", HOT, cap(2), None, T0 - 1, 4),
    case(
        "in scale-out cooldown, a larger scale-out goes ahead: 4 -> 7",
        HOT,
        cap(4),
        T0 - 10,
        None,
        7,
    ),
    case(
        "in scale-out cooldown, the last scale-out's tasks count: 4 covers it",
        HOT,
        cap(4, in_service=2),
        T0 - 10,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("datapoints", "capacity", "last_out", "last_in", "expected"),
    COOLDOWNS,
)
def test_service_cooldowns(
    datapoints: Sequence[float | None],
    capacity: Capacity,
    last_out: float | None,
    last_in: float | None,
    expected: int | None,
) -> None:
    decision = track(
        SERVICE, datapoints, capacity, last_out=last_out, last_in=last_in, service=True
    )
    assert decision.desired == expected, decision.reason


def test_cooldown_reasons_say_until_when() -> None:
    held = track(SERVICE, COLD, cap(10), last_in=T0 - 20, service=True)
    assert "but in scale-in cooldown until 2023-11-14T22:15:00Z; no change (" in held.reason
    out = track(SERVICE, HOT, cap(4, in_service=2), last_out=T0 - 10, service=True)
    assert "in scale-out cooldown until 2023-11-14T22:14:10Z" in out.reason


def test_groups_have_no_cooldowns_only_warm_up() -> None:
    decision = track(SERVICE, COLD, cap(10), last_out=T0 - 1, last_in=T0 - 1, service=False)
    assert decision.desired == 9


# --- backlog per instance ------------------------------------------------------------------

BACKLOG = [
    # (case, spec, queue depths, capacity, desired after)
    case(
        "AWS's example: 1500 queued / 10 = 150 per instance, target 10 s / 0.1 s = 100 -> 15",
        backlog(),
        [1500.0] * 3,
        cap(10, max_size=20),
        15,
    ),
    case(
        "the same with targetValue 100",
        backlog(targetValue=100),
        [1500.0] * 3,
        cap(10, max_size=20),
        15,
    ),
    case(
        "95 per instance: between 90 and 100, no change",
        backlog(),
        [950.0] * 15,
        cap(10, max_size=20),
        None,
    ),
    case(
        "30 per instance for 15 periods: gradually 10 -> 9",
        backlog(),
        [300.0] * 15,
        cap(10, max_size=20),
        9,
    ),
    case(
        "nothing in service: 500 queued -> ceil(500 / 100) = 5",
        backlog(),
        [500.0] * 3,
        cap(0, min_size=0),
        5,
    ),
    case("an empty queue for 15 periods scales in", backlog(), [0.0] * 15, cap(3, min_size=0), 2),
    case(
        "0.3 s latency / 0.1 s per item = 3 per instance: 30 queued -> exactly 10, not 11",
        backlog_pair(0.3, 0.1),
        [30.0] * 3,
        cap(5, max_size=20),
        10,
    ),
]


@pytest.mark.parametrize(
    ("spec", "depths", "capacity", "expected"),
    BACKLOG,
)
def test_backlog_per_instance(
    spec: TargetTracking, depths: Sequence[float | None], capacity: Capacity, expected: int | None
) -> None:
    assert track(spec, depths, capacity).desired == expected


def test_backlog_reason_shows_the_division() -> None:
    # Warming instances are InService: AWS divides by GroupInServiceInstances.
    decision = track(backlog(), [1500.0] * 3, cap(10, max_size=20, warming=2))
    assert decision.reason == (
        "policy web-cpu: backlog per instance 150.0 (1500.0 queued / 10 in service) "
        "> target 100.0; desired 10 -> 15"
    )


# --- step scaling: AWS's "Step adjustments" example -----------------------------------------


def steps(
    adjustment_type: str, *rows: tuple[float | None, float | None, int], **extra: Any
) -> StepScaling:
    return StepScaling.model_validate(
        {
            "adjustmentType": adjustment_type,
            "stepAdjustments": [
                {
                    "metricIntervalLowerBound": lo,
                    "metricIntervalUpperBound": hi,
                    "scalingAdjustment": adj,
                }
                for lo, hi, adj in rows
            ],
            **extra,
        }
    )


# Alarm threshold 50. Out: 50-60 nothing, 60-70 +10%, 70 and up +30%.
# In: 40-50 nothing, 30-40 -10%, 30 and below -30%.
OUT = steps("PercentChangeInCapacity", (0, 10, 0), (10, 20, 10), (20, None, 30))
IN = steps("PercentChangeInCapacity", (-10, 0, 0), (-20, -10, -10), (None, -20, -30))

STEPS = [
    # (case, policy, metric, capacity, desired after)
    case("metric 60: add 10% of 10 = 1 -> 11", OUT, 60.0, cap(10, max_size=20), 11),
    case("then 70: add 30% of 11 = 3.3, rounded down -> 14", OUT, 70.0, cap(11, max_size=20), 14),
    case("then 40: remove 10% of 14 = 1.4, rounded down -> 13", IN, 40.0, cap(14, max_size=20), 13),
    case("then 30: remove 30% of 13 = 3.9, rounded down -> 10", IN, 30.0, cap(13, max_size=20), 10),
    case("55 is in the 50-60 step, which adds nothing", OUT, 55.0, cap(10, max_size=20), None),
    case("45 is in the 40-50 step, which removes nothing", IN, 45.0, cap(10, max_size=20), None),
    case(
        "59.99 is still below 60: upper bound exclusive above the threshold",
        OUT,
        59.99,
        cap(10, max_size=20),
        None,
    ),
    case(
        "40.01 is still above 40: lower bound exclusive below the threshold",
        IN,
        40.01,
        cap(10, max_size=20),
        None,
    ),
    case("no step covers 45 for the scale-out policy", OUT, 45.0, cap(10, max_size=20), None),
    case("capped at maxSize: 10 + 3 -> 12", OUT, 70.0, cap(10, max_size=12), 12),
    case("already at maxSize", OUT, 70.0, cap(12, max_size=12), None),
    case("held at minSize: 13 - 3 -> 12", IN, 30.0, cap(13, min_size=12, max_size=20), 12),
]


@pytest.mark.parametrize(
    ("spec", "value", "capacity", "expected"),
    STEPS,
)
def test_step_adjustments(
    spec: StepScaling, value: float, capacity: Capacity, expected: int | None
) -> None:
    decision = step_scaling("web-step", spec, 50.0, value, capacity, T0, 0)
    assert decision.desired == expected, decision.reason
    assert decision.kind == "StepScaling"


@pytest.mark.parametrize(
    ("spec", "breach", "index"),
    [
        (OUT, 0.0, 0),  # metric == threshold: ">= 50 and < 60" is lower 0, upper 10
        (OUT, 9.99, 0),
        (OUT, 10.0, 1),  # lower bound inclusive above the threshold
        (OUT, 19.99, 1),
        (OUT, 20.0, 2),
        (OUT, 1000.0, 2),
        (OUT, -0.01, None),
        (IN, 0.0, 0),  # "> 40 and <= 50" is lower -10, upper 0
        (IN, -9.99, 0),
        (IN, -10.0, 1),  # upper bound inclusive below the threshold
        (IN, -19.99, 1),
        (IN, -20.0, 2),
        (IN, -1000.0, 2),
        (IN, 0.01, None),
    ],
)
def test_step_bounds(spec: StepScaling, breach: float, index: int | None) -> None:
    found = find_step(spec.step_adjustments, breach)
    assert (None if found is None else spec.step_adjustments.index(found[0])) == index


def test_step_reasons() -> None:
    decision = step_scaling("web-out", OUT, 50.0, 70.0, cap(11, max_size=20), T0, 0)
    assert decision.reason == (
        "policy web-out: metric 70.0 in step [70.0, +inf) adds 30% of 11 = 3; desired 11 -> 14"
    )
    decision = step_scaling("web-in", IN, 50.0, 40.0, cap(14, max_size=20), T0, 0)
    assert decision.reason == (
        "policy web-in: metric 40.0 in step (30.0, 40.0] removes 10% of 14 = 1; desired 14 -> 13"
    )
    missing = step_scaling("web-out", OUT, 50.0, 45.0, cap(10), T0, 0)
    assert missing.reason == (
        "policy web-out: no step adjustment covers metric 45.0 (threshold 50.0, breach -5.0); "
        "no change (current capacity 10, warming 0, desired 10, minSize 1, maxSize 10)"
    )


ADJUSTMENTS = [
    # (case, policy, capacity, desired after)
    case("ChangeInCapacity +2: 3 -> 5", steps("ChangeInCapacity", (0, None, 2)), cap(3), 5),
    case("ChangeInCapacity -2: 3 -> 1", steps("ChangeInCapacity", (0, None, -2)), cap(3), 1),
    case("ExactCapacity 6 from 3", steps("ExactCapacity", (0, None, 6)), cap(3), 6),
    case("ExactCapacity 6 from 8", steps("ExactCapacity", (0, None, 6)), cap(8), 6),
    case("ExactCapacity 6 at 6", steps("ExactCapacity", (0, None, 6)), cap(6), None),
    case(
        "AWS: +25% of 4 tasks is 1, MinAdjustmentMagnitude 2 makes it 2",
        steps("PercentChangeInCapacity", (0, None, 25), minAdjustmentMagnitude=2),
        cap(4),
        6,
    ),
    case(
        "+25% of 20 is 5, more than MinAdjustmentMagnitude 2",
        steps("PercentChangeInCapacity", (0, None, 25), minAdjustmentMagnitude=2),
        cap(20, max_size=30),
        25,
    ),
    case(
        "-25% of 4 with MinAdjustmentMagnitude 2 removes 2",
        steps("PercentChangeInCapacity", (0, None, -25), minAdjustmentMagnitude=2),
        cap(4),
        2,
    ),
]


@pytest.mark.parametrize(
    ("spec", "capacity", "expected"),
    ADJUSTMENTS,
)
def test_adjustment_types(spec: StepScaling, capacity: Capacity, expected: int | None) -> None:
    decision = step_scaling("web-step", spec, 50.0, 55.0, capacity, T0, 0)
    assert decision.desired == expected, decision.reason


@pytest.mark.parametrize(
    ("capacity", "percent", "magnitude", "delta"),
    [
        (4, 10, None, 1),  # 0.4: between 0 and 1 rounds to 1
        (4, -10, None, -1),  # -0.4: between -1 and 0 rounds to -1
        (19, 10, None, 1),  # 1.9: greater than 1 rounds down
        (19, -10, None, -1),  # -1.9: less than -1 rounds up, toward zero
        (10, 25, None, 2),  # 2.5 -> 2
        (10, -25, None, -2),  # -2.5 -> -2
        (10, 10, None, 1),  # exactly 1
        (11, 30, None, 3),  # 3.3 -> 3
        (13, -30, None, -3),  # -3.9 -> -3
        (200, 100, None, 200),
        (0, 10, None, 0),  # nothing to take a percentage of
        (4, 25, 2, 2),  # 1, raised to MinAdjustmentMagnitude
        (4, -25, 2, -2),
        (20, 25, 2, 5),  # already past MinAdjustmentMagnitude
        (0, 50, 2, 2),  # Skiff's choice: the magnitude applies from zero too
    ],
)
def test_percent_change_rounding(
    capacity: int, percent: int, magnitude: int | None, delta: int
) -> None:
    assert percent_change(capacity, percent, magnitude) == delta


STEP_WARMUP = [
    # (case, metric, capacity, warming adjustment, desired after)
    case(
        "AWS: 62 while the first step's instance warms: still 10% of 10 = 1, already added",
        62.0,
        cap(11, max_size=20, warming=1),
        1,
        None,
    ),
    case(
        "AWS: 70 while it warms: 30% of 10 = 3, only 2 more -> 13",
        70.0,
        cap(11, max_size=20, warming=1),
        1,
        13,
    ),
    case(
        "4 warming from a bigger step cover a new +1",
        62.0,
        cap(14, max_size=20, warming=4),
        4,
        None,
    ),
    case("once warm, 62 adds 10% of 11 = 1 again", 62.0, cap(11, max_size=20), 0, 12),
]


@pytest.mark.parametrize(
    ("value", "capacity", "warming_adjustment", "expected"),
    STEP_WARMUP,
)
def test_step_warm_up(
    value: float, capacity: Capacity, warming_adjustment: int, expected: int | None
) -> None:
    decision = step_scaling("web-out", OUT, 50.0, value, capacity, T0, warming_adjustment)
    assert decision.desired == expected, decision.reason


def test_step_scale_in_waits_for_warm_up_in_groups_and_cooldown_in_services() -> None:
    warming = step_scaling("web-in", IN, 50.0, 30.0, cap(13, max_size=20, warming=1), T0, 0)
    assert warming.desired is None
    assert "1 still warming up: no scale-in; no change" in warming.reason
    service = cap(13, max_size=20)
    held = step_scaling(
        "web-in", IN, 50.0, 30.0, service, T0, 0, last_scale_in=T0 - 100, is_service=True
    )
    assert held.desired is None
    assert "in cooldown until 2023-11-14T22:16:40Z: no scale-in; no change" in held.reason
    done = step_scaling(
        "web-in", IN, 50.0, 30.0, service, T0, 0, last_scale_in=T0 - 300, is_service=True
    )
    assert done.desired == 10


def test_exact_capacity_is_exact_whatever_is_warming() -> None:
    spec = steps("ExactCapacity", (0, None, 6))
    decision = step_scaling("web-exact", spec, 50.0, 55.0, cap(4, warming=1), T0, 1)
    assert decision.reason == (
        "policy web-exact: metric 55.0 in step [50.0, +inf) sets capacity to 6; desired 4 -> 6"
    )


def test_a_scale_out_step_never_lowers_a_desired_capacity_above_a_new_max_size() -> None:
    decision = step_scaling("web-out", OUT, 50.0, 70.0, cap(12, max_size=10), T0, 0)
    assert decision.desired is None
    assert "but desired 12 is above maxSize 10; no change (" in decision.reason


def test_service_step_scale_out_counts_what_its_cooldown_added() -> None:
    # Application Auto Scaling's example: a step added 2 and its cooldown runs; the alarm
    # fires again at a step of +3, so only 1 is added.
    spec = steps("ChangeInCapacity", (0, 10, 2), (10, None, 3))
    decision = step_scaling("svc", spec, 50.0, 65.0, cap(6), T0, 2, is_service=True)
    assert decision.desired == 7


# --- simple scaling: its cooldown ----------------------------------------------------------

ADD_TWO = SimpleScaling.model_validate({"scalingAdjustment": 2})

SIMPLE = [
    # (case, policy, capacity, now, last activity ended, desired after)
    case("no earlier activity: add 2", ADD_TWO, cap(2), T0, None, 4),
    case(
        "299 s after the last activity: the 300 s default cooldown holds",
        ADD_TWO,
        cap(2),
        T0 + 299,
        T0,
        None,
    ),
    case("300 s after it: cooldown over", ADD_TWO, cap(2), T0 + 300, T0, 4),
    case(
        "cooldown 60: over after a minute",
        SimpleScaling.model_validate({"scalingAdjustment": 2, "cooldown": 60}),
        cap(2),
        T0 + 60,
        T0,
        4,
    ),
    case(
        "remove 50% of 5 = 2.5 -> 2",
        SimpleScaling.model_validate(
            {"adjustmentType": "PercentChangeInCapacity", "scalingAdjustment": -50}
        ),
        cap(5),
        T0,
        None,
        3,
    ),
    case("add 2 capped at maxSize 10", ADD_TWO, cap(9), T0, None, 10),
    case("at maxSize", ADD_TWO, cap(10), T0, None, None),
]


@pytest.mark.parametrize(
    ("spec", "capacity", "now", "last_end", "expected"),
    SIMPLE,
)
def test_simple_scaling(
    spec: SimpleScaling,
    capacity: Capacity,
    now: float,
    last_end: float | None,
    expected: int | None,
) -> None:
    decision = simple_scaling("web-simple", spec, capacity, now, last_end)
    assert decision.desired == expected, decision.reason
    assert decision.kind == "SimpleScaling"


def test_simple_cooldown_reason_says_until_when() -> None:
    decision = simple_scaling("web-simple", ADD_TWO, cap(2), T0 + 10, T0)
    assert decision.reason == (
        "policy web-simple: the policy adds 2, but in cooldown until 2023-11-14T22:18:20Z "
        "(300 s after the last scaling activity); no change (current capacity 2, warming 0, "
        "computed desired 4, desired 2, minSize 1, maxSize 10)"
    )


# --- several policies on one target, and the bounds ----------------------------------------


def out(name: str, desired: int, kind: PolicyKind = "TargetTrackingScaling") -> Decision:
    return Decision(name, desired, f"{name} wants {desired}", "out", kind)


def in_(name: str, desired: int, kind: PolicyKind = "TargetTrackingScaling") -> Decision:
    return Decision(name, desired, f"{name} wants {desired}", "in", kind)


def hold(name: str, kind: PolicyKind = "TargetTrackingScaling", disabled: bool = False) -> Decision:
    return Decision(name, None, f"{name} holds", None, kind, disabled)


COMBINE = [
    # (case, decisions, (desired after, reasons))
    case(
        "any asks out: one tracking policy wants 14, the other holds",
        [out("cpu", 14), hold("req")],
        (14, ["cpu wants 14"]),
    ),
    case("the largest scale-out wins", [out("cpu", 12), out("req", 15)], (15, ["req wants 15"])),
    case(
        "a scale-out beats a scale-in",
        [in_("cpu", 9), out("step", 12, "StepScaling")],
        (12, ["step wants 12"]),
    ),
    case(
        "all tracking policies agree: the least scale-in wins",
        [in_("cpu", 8), in_("req", 9)],
        (9, ["req wants 9"]),
    ),
    case("one tracking policy holds: no scale-in", [in_("cpu", 8), hold("req")], (10, [])),
    case(
        "a tracking policy with disableScaleIn abstains",
        [in_("cpu", 8), hold("req", disabled=True)],
        (8, ["cpu wants 8"]),
    ),
    case("a step scale-in alone", [in_("step", 8, "StepScaling")], (8, ["step wants 8"])),
    case(
        "a holding tracking policy vetoes a step scale-in",
        [in_("step", 8, "StepScaling"), hold("cpu")],
        (10, []),
    ),
    case(
        "an idle step policy vetoes nothing",
        [in_("cpu", 9), hold("step", "StepScaling")],
        (9, ["cpu wants 9"]),
    ),
    case(
        "a tracking scale-in and a step scale-in: the least wins",
        [in_("cpu", 7), in_("step", 9, "StepScaling")],
        (9, ["step wants 9"]),
    ),
    case("nothing asks", [], (10, [])),
    case(
        "beyond maxSize: clamped",
        [out("cpu", 25)],
        (20, ["cpu wants 25", "desired 25 is outside [minSize 2, maxSize 20]; desired 10 -> 20"]),
    ),
    case(
        "below minSize: clamped",
        [in_("step", 0, "StepScaling")],
        (2, ["step wants 0", "desired 0 is outside [minSize 2, maxSize 20]; desired 10 -> 2"]),
    ),
]


@pytest.mark.parametrize(
    ("decisions", "expected"),
    COMBINE,
)
def test_combine(decisions: list[Decision], expected: tuple[int, list[str]]) -> None:
    assert combine(cap(10, min_size=2, max_size=20), decisions) == expected


def test_combine_brings_a_desired_capacity_back_within_new_bounds() -> None:
    assert combine(cap(12, max_size=10), []) == (
        10,
        ["desired 12 is outside [minSize 1, maxSize 10]; desired 12 -> 10"],
    )
    # A scale-out that maxSize leaves where it is changes nothing, and says nothing.
    assert combine(cap(10, max_size=10), [out("cpu", 14)]) == (10, [])


def test_two_tracking_policies_end_to_end() -> None:
    # CPU has been low for 15 minutes, but requests per target sit near their target: no
    # scale-in. Once requests drop too, both agree and the group shrinks by one.
    requests = TargetTracking.model_validate(
        {"predefinedMetric": "ALBRequestCountPerTarget", "targetGroup": "web", "targetValue": 1000}
    )
    group = cap(10, max_size=20)
    low_cpu = track(cpu(), COLD, group)
    busy = target_tracking("web-req", requests, [950.0] * 15, group, T0, None, None, False)
    assert combine(group, [low_cpu, busy]) == (10, [])
    quiet = target_tracking("web-req", requests, [300.0] * 15, group, T0, None, None, False)
    assert combine(group, [low_cpu, quiet]) == (9, [low_cpu.reason])
    hot = target_tracking("web-req", requests, [1500.0] * 3, group, T0, None, None, False)
    assert combine(group, [low_cpu, hot]) == (15, [hot.reason])


@pytest.mark.parametrize(
    ("desired", "min_size", "max_size", "expected"),
    [(5, 1, 10, 5), (0, 1, 10, 1), (12, 1, 10, 10), (1, 1, 1, 1), (0, 0, 0, 0)],
)
def test_clamp(desired: int, min_size: int, max_size: int, expected: int) -> None:
    assert clamp(desired, Capacity(desired, min_size, max_size, 0)) == expected


def test_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="minSize 5 exceeds maxSize 3"):
        Capacity(4, 5, 3, 4)
    with pytest.raises(ValueError, match="2 warming but only 1 in service"):
        Capacity(4, 1, 10, 1, 2)
    with pytest.raises(ValueError, match="both a desired capacity and a direction"):
        Decision("p", 3, "r", None, "StepScaling")


# --- a decision that changes nothing says why, with the numbers ----------------------------

PLUS_10_PERCENT = steps("PercentChangeInCapacity", (0, None, 10), minAdjustmentMagnitude=1)


def test_four_instances_still_warming_up_are_not_current_capacity_so_10_percent_adds_none() -> None:
    # A group has just launched 4 instances, all within the default 300 s warm-up, when its
    # alarm goes to ALARM. As AWS counts it: current capacity 0, so 10% of 0, raised to 1 by
    # minAdjustmentMagnitude, gives a desired capacity of 1, below the 4 already coming.
    group = Capacity(4, 1, 10, in_service=4, warming=4, warmup=300)
    decision = step_scaling("web-out", PLUS_10_PERCENT, 50.0, 60.0, group, T0, group.warming)
    assert (decision.desired, decision.computed, decision.hold) == (None, 1, "below-coming")
    assert decision.reason == (
        "policy web-out: metric 60.0 in step [50.0, +inf); the 4 still warming up are not "
        "current capacity, so it adds 10% of 0 = 0, raised to 1 (minAdjustmentMagnitude): "
        "computed desired 1 is not above desired 4, which already counts them; no change "
        "(current capacity 0, warming 4 within a 300 s warm-up, computed desired 1, desired 4, "
        "minSize 1, maxSize 10)"
    )
    # Once they have warmed up, the same breach adds 10% of 4, rounded up to 1.
    warm = Capacity(4, 1, 10, in_service=4, warmup=300)
    assert step_scaling("web-out", PLUS_10_PERCENT, 50.0, 60.0, warm, T0, 0).desired == 5


def test_a_smaller_step_while_a_services_cooldown_runs_never_scales_it_in() -> None:
    # Application Auto Scaling: a +3 step took a service from 4 to 7 and its cooldown runs;
    # the metric falls back into the +2 step: 4 + 2 = 6 is not above 7, so nothing changes
    # (it must not take the service down to 6).
    spec = steps("ChangeInCapacity", (0, 10, 2), (10, None, 3))
    decision = step_scaling("svc", spec, 50.0, 55.0, cap(7), T0, 3, is_service=True)
    assert decision.desired is None, decision.reason
    assert (decision.computed, decision.hold) == (6, "below-coming")
    assert decision.reason == (
        "policy svc: metric 55.0 in step [50.0, 60.0); the 3 the last scale-out added count "
        "toward it while its cooldown runs, so it adds 2 to 4: computed desired 6 is not above "
        "desired 7, which already counts them; no change (current capacity 7, warming 0, "
        "computed desired 6, desired 7, minSize 1, maxSize 10)"
    )


SERVICE_SCALE_IN = steps("PercentChangeInCapacity", (None, 0, -30))
REMOVE_ONE = SimpleScaling.model_validate({"scalingAdjustment": -1})
HOLDS = [
    # (case, the decision to make, hold, computed desired, why, numbers)
    case(
        "at maxSize: target tracking needs ceil(10 x 95 / 50) = 19",
        lambda: track(cpu(), [95.0] * 3, cap(10)),
        "at-max",
        19,
        "CPUUtilization 95.0 > target 50.0 needs 19, but desired 10 is at maxSize 10",
        "current capacity 10, warming 0, computed desired 19, desired 10, minSize 1, maxSize 10",
    ),
    case(
        "at maxSize: a service's target tracking",
        lambda: track(SERVICE, [95.0] * 3, cap(6, max_size=6), service=True),
        "at-max",
        12,
        "needs 12, but desired 6 is at maxSize 6",
        "current capacity 6, warming 0, computed desired 12, desired 6, minSize 1, maxSize 6",
    ),
    case(
        "at maxSize: a step adds 30% of 12",
        lambda: step_scaling("web-out", OUT, 50.0, 70.0, cap(12, max_size=12), T0, 0),
        "at-max",
        15,
        "adds 30% of 12 = 3, but desired 12 is at maxSize 12",
        "current capacity 12, warming 0, computed desired 15, desired 12, minSize 1, maxSize 12",
    ),
    case(
        "at maxSize: simple scaling adds 2",
        lambda: simple_scaling("web-simple", ADD_TWO, cap(10), T0, None),
        "at-max",
        12,
        "the policy adds 2, but desired 10 is at maxSize 10",
        "current capacity 10, warming 0, computed desired 12, desired 10, minSize 1, maxSize 10",
    ),
    case(
        "at minSize: target tracking's gradual step would take 2 to 1",
        lambda: track(cpu(), COLD, cap(2, min_size=2)),
        "at-min",
        1,
        "for 15 periods, but desired 2 is at minSize 2",
        "current capacity 2, warming 0, computed desired 1, desired 2, minSize 2, maxSize 10",
    ),
    case(
        "at minSize: a step removes 30% of 12",
        lambda: step_scaling("web-in", IN, 50.0, 30.0, cap(12, min_size=12, max_size=20), T0, 0),
        "at-min",
        9,
        "removes 30% of 12 = 3, but desired 12 is at minSize 12",
        "current capacity 12, warming 0, computed desired 9, desired 12, minSize 12, maxSize 20",
    ),
    case(
        "at minSize: simple scaling removes 1 from a service at its minCapacity",
        lambda: simple_scaling("svc-simple", REMOVE_ONE, cap(1), T0, None),
        "at-min",
        0,
        "the policy removes 1, but desired 1 is at minSize 1",
        "current capacity 1, warming 0, computed desired 0, desired 1, minSize 1, maxSize 10",
    ),
    case(
        "cooldown: simple scaling 10 s into its 300 s",
        lambda: simple_scaling("web-simple", ADD_TWO, cap(2), T0 + 10, T0),
        "cooldown",
        4,
        "the policy adds 2, but in cooldown until 2023-11-14T22:18:20Z (300 s after the last "
        "scaling activity)",
        "current capacity 2, warming 0, computed desired 4, desired 2, minSize 1, maxSize 10",
    ),
    case(
        "cooldown: a service's target tracking, 20 s into a 120 s scale-in cooldown",
        lambda: track(SERVICE, COLD, cap(10), last_in=T0 - 20, service=True),
        "cooldown",
        9,
        "for 15 periods, but in scale-in cooldown until 2023-11-14T22:15:00Z",
        "current capacity 10, warming 0, computed desired 9, desired 10, minSize 1, maxSize 10",
    ),
    case(
        "cooldown: a service's step scale-in, 100 s into its 300 s",
        lambda: step_scaling(
            "svc-in",
            SERVICE_SCALE_IN,
            50.0,
            30.0,
            cap(10),
            T0,
            0,
            last_scale_in=T0 - 100,
            is_service=True,
        ),
        "cooldown",
        7,
        "removes 30% of 10 = 3, but in cooldown until 2023-11-14T22:16:40Z: no scale-in",
        "current capacity 10, warming 0, computed desired 7, desired 10, minSize 1, maxSize 10",
    ),
    case(
        "warm-up: target tracking, 2 of 4 warming, the 2 measured at 83% need 4",
        lambda: track(cpu(), HOT, Capacity(4, 1, 10, in_service=4, warming=2, warmup=300)),
        "below-coming",
        4,
        "CPUUtilization 83.0 > target 50.0 needs 4, not above desired 4, which already counts "
        "the 2 still warming up",
        "current capacity 2, warming 2 within a 300 s warm-up, computed desired 4, desired 4, "
        "minSize 1, maxSize 10",
    ),
    case(
        "warm-up: target tracking, 2 launched and not yet in service",
        lambda: track(cpu(), HOT, cap(4, in_service=2)),
        "below-coming",
        4,
        "needs 4, not above desired 4, which already counts the 2 pending",
        "current capacity 2, warming 0, pending 2, computed desired 4, desired 4, minSize 1, "
        "maxSize 10",
    ),
    case(
        "warm-up: target tracking does not scale in while 1 instance warms up",
        lambda: track(cpu(), COLD, Capacity(10, 1, 10, in_service=10, warming=1, warmup=60)),
        "warm-up",
        9,
        "for 15 periods, but 1 still warming up: no scale-in until they finish",
        "current capacity 9, warming 1 within a 60 s warm-up, computed desired 9, desired 10, "
        "minSize 1, maxSize 10",
    ),
    case(
        "warm-up: a step scale-in waits for it",
        lambda: step_scaling("web-in", IN, 50.0, 30.0, cap(13, max_size=20, warming=1), T0, 0),
        "warm-up",
        10,
        "removes 30% of 13 = 3, but 1 still warming up: no scale-in",
        "current capacity 12, warming 1, computed desired 10, desired 13, minSize 1, maxSize 20",
    ),
]


@pytest.mark.parametrize(("decide", "hold", "computed", "why", "numbers"), HOLDS)
def test_a_decision_that_changes_nothing_says_why_with_the_numbers(
    decide: Callable[[], Decision], hold: str, computed: int, why: str, numbers: str
) -> None:
    decision = decide()
    assert (decision.desired, decision.direction) == (None, None)
    assert (decision.hold, decision.computed) == (hold, computed)
    assert why in decision.reason
    assert decision.reason.endswith(f"; no change ({numbers})")


def _unchanged_rows() -> list[Any]:
    """Every row of the tables above whose decision is no change, as a call to make."""
    Make = Callable[..., Callable[[], Decision]]
    tables: list[tuple[str, list[Any], Make]] = [
        ("tracking", TRACKING + BACKLOG, lambda spec, pts, c: partial(track, spec, pts, c)),
        ("warm-up", WARMUP, lambda pts, c: partial(track, cpu(), pts, c)),
        (
            "cooldowns",
            COOLDOWNS,
            lambda pts, c, out, in_: partial(
                track, SERVICE, pts, c, last_out=out, last_in=in_, service=True
            ),
        ),
        (
            "steps",
            STEPS,
            lambda spec, v, c: partial(step_scaling, "web-step", spec, 50.0, v, c, T0, 0),
        ),
        (
            "adjustments",
            ADJUSTMENTS,
            lambda spec, c: partial(step_scaling, "web-step", spec, 50.0, 55.0, c, T0, 0),
        ),
        (
            "step warm-up",
            STEP_WARMUP,
            lambda v, c, w: partial(step_scaling, "web-out", OUT, 50.0, v, c, T0, w),
        ),
        (
            "simple",
            SIMPLE,
            lambda spec, c, now, last: partial(simple_scaling, "web-simple", spec, c, now, last),
        ),
    ]
    return [
        pytest.param(make(*row.values[:-1]), id=f"{label}: {row.id}")
        for label, rows, make in tables
        for row in rows
        if row.values[-1] is None
    ]


NUMBERS = re.compile(
    r"; no change \(current capacity \d+, warming \d+( within a \d+ s warm-up)?(, pending \d+)?"
    r"(, computed desired \d+)?, desired \d+, minSize \d+, maxSize \d+\)$"
)


@pytest.mark.parametrize("decide", _unchanged_rows())
def test_every_no_change_in_the_tables_above_ends_with_its_numbers(
    decide: Callable[[], Decision],
) -> None:
    decision = decide()
    assert decision.desired is None
    assert NUMBERS.search(decision.reason), decision.reason
    assert decision.hold is not None
    # A computed desired capacity is named wherever the policy got as far as computing one.
    stopped_early = decision.hold in ("missing-data", "within-target", "no-step")
    assert (decision.computed is None) == stopped_early, decision.reason
    assert (f"computed desired {decision.computed}," in decision.reason) != stopped_early


def test_a_scale_in_another_target_tracking_policy_holds_out_against_says_which() -> None:
    # CPU has been low for 15 minutes; requests per target sit between 900 and 1000: the
    # request policy does not agree to scale in, so the group stays at 10.
    requests = TargetTracking.model_validate(
        {"predefinedMetric": "ALBRequestCountPerTarget", "targetGroup": "web", "targetValue": 1000}
    )
    group = cap(10, max_size=20)
    low_cpu = track(cpu(), COLD, group)
    busy = target_tracking("web-req", requests, [950.0] * 15, group, T0, None, None, False)
    assert combine(group, [low_cpu, busy]) == (10, [])
    told = held(low_cpu, [low_cpu, busy], group)
    assert (told.desired, told.direction, told.hold, told.computed) == (None, None, "vetoed", 9)
    assert told.reason == (
        f"{low_cpu.reason}; not applied: target tracking policy web-req does not agree to scale "
        "in (a scale-in needs every target tracking policy to ask for it); no change (current "
        "capacity 10, warming 0, computed desired 9, desired 10, minSize 1, maxSize 20)"
    )
    assert held(busy, [low_cpu, busy], group) == busy  # it asked for nothing: its own reason
