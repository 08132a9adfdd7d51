"""A scaling decision that changes nothing says why, with the numbers: every no-change row of the
target tracking, step and simple scaling tables, and a scale-in another policy holds out against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from controller.autoscaling.models.scaling import SimpleScaling, TargetTracking
from controller.autoscaling.planners.policies import (
    Capacity,
    Decision,
    combine,
    held,
    simple_scaling,
    step_scaling,
    target_tracking,
)
from tests.support.builders import T0
from tests.unit.scaling_policies_support import COLD, HOT, cap, case, cpu, steps, track
from tests.unit.test_scaling_policies_simple import ADD_TWO, SIMPLE
from tests.unit.test_scaling_policies_step import ADJUSTMENTS, IN, OUT, STEP_WARMUP, STEPS
from tests.unit.test_scaling_policies_target_tracking import (
    BACKLOG,
    COOLDOWNS,
    SERVICE,
    TRACKING,
    WARMUP,
)

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
