"""Target tracking policies' arithmetic, case by case, as the AWS user guides tell it (fixed
times): scale out on 3 datapoints and in on 15, warm-up in groups and cooldowns in services,
and backlog per instance.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from controller.autoscaling.models.scaling import TargetTracking
from controller.autoscaling.planners.policies import (
    Capacity,
)
from tests.support.builders import T0
from tests.unit.scaling_policies_support import (
    COLD,
    HOT,
    backlog,
    backlog_pair,
    cap,
    case,
    cpu,
    track,
)

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
