"""Properties of the scaling policies' arithmetic over arbitrary metrics and capacities
(hypothesis).

Whatever the metric says, a policy never asks for a capacity outside [minSize, maxSize], target
tracking never scales in by more than its gradual step or below the proportional capacity, AWS's
percentage rounding never rounds a change away, and every breach finds its step.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from controller.autoscaling.models.scaling import StepAdjustment, TargetTracking
from controller.autoscaling.planners.policies import (
    SCALE_IN_MAX_PERCENT,
    Capacity,
    Decision,
    Direction,
    PolicyKind,
    combine,
    find_step,
    percent_change,
    target_tracking,
)
from tests.support.builders import T0

CPU = TargetTracking.model_validate(
    {"predefinedMetric": "ASGAverageCPUUtilization", "targetValue": 50}
)


@st.composite
def capacities(draw: st.DrawFn) -> Capacity:
    min_size = draw(st.integers(0, 20))
    max_size = draw(st.integers(min_size, 60))
    desired = draw(st.integers(min_size, max_size))
    in_service = draw(st.integers(0, desired))
    warming = draw(st.integers(0, in_service))
    return Capacity(desired, min_size, max_size, in_service, warming)


METRIC = st.one_of(st.none(), st.floats(0, 300))


@given(capacities(), st.lists(METRIC, max_size=20), st.booleans())
def test_target_tracking_stays_in_bounds_and_scales_in_gradually(
    capacity: Capacity, datapoints: Sequence[float | None], service: bool
) -> None:
    decision = target_tracking("p", CPU, datapoints, capacity, T0, None, None, service)
    if decision.desired is None:
        return
    assert capacity.min_size <= decision.desired <= capacity.max_size
    if decision.direction == "out":
        assert decision.desired > capacity.desired
        return
    newest = datapoints[-1]
    assert newest is not None
    assert capacity.warming == 0
    step = max(1, capacity.desired * SCALE_IN_MAX_PERCENT // 100)
    assert capacity.desired - step <= decision.desired < capacity.desired
    assert decision.desired >= math.ceil(capacity.in_service * newest / 50 - 1e-9)


@given(st.integers(1, 1000), st.integers(-100, 100).filter(bool))
def test_percent_change_never_rounds_a_change_away(capacity: int, percent: int) -> None:
    delta = percent_change(capacity, percent)
    exact = capacity * percent / 100
    assert (delta > 0) == (percent > 0)
    assert 1 <= abs(delta) <= max(1, abs(exact))
    assert abs(exact) - abs(delta) < 1


@given(st.lists(st.integers(-50, 50), unique=True, max_size=5), st.floats(-100, 100))
def test_every_breach_finds_one_step_containing_it(cuts: list[int], breach: float) -> None:
    bounds: list[float | None] = [None, *sorted(cuts), None]
    steps = [
        StepAdjustment(
            metric_interval_lower_bound=lo, metric_interval_upper_bound=hi, scaling_adjustment=1
        )
        for lo, hi in itertools.pairwise(bounds)
        if lo is not None or hi is not None
    ]
    if not steps:
        return
    found = find_step(steps, breach)
    assert found is not None
    step, _ = found
    lo, hi = step.metric_interval_lower_bound, step.metric_interval_upper_bound
    assert (lo is None or lo <= breach) and (hi is None or breach <= hi)


@st.composite
def decisions(draw: st.DrawFn, capacity: Capacity) -> Decision:
    kind: PolicyKind = draw(st.sampled_from(get_args(PolicyKind)))
    direction: Direction | None = draw(st.sampled_from([*get_args(Direction), None]))
    if direction is None:
        return Decision("p", None, "holds", None, kind, draw(st.booleans()))
    delta = draw(st.integers(1, 30))
    desired = capacity.desired + delta if direction == "out" else capacity.desired - delta
    return Decision("p", desired, f"wants {desired}", direction, kind)


@given(st.data())
def test_combine_stays_in_bounds_and_any_scale_out_wins(data: st.DataObject) -> None:
    capacity = data.draw(capacities())
    asked = data.draw(st.lists(decisions(capacity), max_size=6))
    desired, reasons = combine(capacity, asked)
    assert capacity.min_size <= desired <= capacity.max_size
    outs = [d.desired for d in asked if d.direction == "out" and d.desired is not None]
    if outs:
        assert desired == min(max(outs), capacity.max_size)
    assert bool(reasons) == (desired != capacity.desired)
