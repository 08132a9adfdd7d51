"""Several scaling policies on one target: how their decisions combine, and how the result is
clamped to the target's bounds.
"""

from __future__ import annotations

import pytest

from controller.autoscaling.models.scaling import TargetTracking
from controller.autoscaling.planners.policies import (
    Capacity,
    Decision,
    PolicyKind,
    clamp,
    combine,
    target_tracking,
)
from tests.support.builders import T0
from tests.unit.scaling_policies_support import COLD, cap, case, cpu, track

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
