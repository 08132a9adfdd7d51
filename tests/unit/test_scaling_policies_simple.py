"""Simple scaling policies' arithmetic (fixed times): the adjustment and its cooldown."""

from __future__ import annotations

import pytest

from controller.autoscaling.models.scaling import SimpleScaling
from controller.autoscaling.planners.policies import (
    Capacity,
    simple_scaling,
)
from tests.support.builders import T0
from tests.unit.scaling_policies_support import cap, case

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
