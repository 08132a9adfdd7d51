"""Step scaling policies' arithmetic, as AWS's "Step adjustments" example tells it (fixed times):
step bounds, adjustment types, percent change rounding, warm-up and cooldown.
"""

from __future__ import annotations

import pytest

from controller.autoscaling.models.scaling import StepScaling
from controller.autoscaling.planners.policies import (
    Capacity,
    find_step,
    percent_change,
    step_scaling,
)
from tests.support.builders import T0
from tests.unit.scaling_policies_support import cap, case, steps

# --- step scaling: AWS's "Step adjustments" example -----------------------------------------


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
