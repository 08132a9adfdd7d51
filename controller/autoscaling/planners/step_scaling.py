"""Step scaling and simple scaling policies' arithmetic, as EC2 Auto Scaling and Application
Auto Scaling decide it (pure: see decisions).

Step scaling takes the step whose bounds (relative to the alarm threshold) hold the breach; above
the threshold the lower bound is inclusive and the upper exclusive, below it the mirror.
ChangeInCapacity, ExactCapacity, PercentChangeInCapacity (AWS's rounding, then
MinAdjustmentMagnitude). Capacity still warming up is not current capacity: a scale-out step
counts from the capacity without it, and a result not above the desired capacity (which
already holds the warming part) changes nothing; it never scales in.

Simple scaling makes one adjustment, then nothing until its cooldown after the last activity ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.autoscaling.models.scaling import (
    AdjustmentType,
    SimpleScaling,
    StepAdjustment,
    StepScaling,
)
from controller.autoscaling.planners.decisions import (
    Capacity,
    Decision,
    Direction,
    Hold,
    PolicyKind,
    capped,
    format_time,
    format_value,
    limit_reason,
    no_change,
)


def step_scaling(
    policy_name: str,
    spec: StepScaling,
    threshold: float,
    value: float,
    capacity: Capacity,
    now: float,
    warming_adjustment: int,
    *,
    last_scale_in: float | None = None,
    is_service: bool = False,
) -> Decision:
    """The step scaling policy's decision while its alarm is in ALARM with the metric at value.

    warming_adjustment is the capacity that is not yet current: instances still within their
    warm-up (groups), or what the last scale-out added while its cooldown runs (services). A
    scale-out step counts from the capacity without it, so only the part beyond it is added,
    and a result not above the desired capacity (which already holds it) changes nothing. A
    scale-in waits while instances warm up (groups) or until `cooldown` after last_scale_in
    (services)."""
    if warming_adjustment < 0:
        raise ValueError(f"warming_adjustment cannot be negative: {warming_adjustment}")
    breach = value - threshold
    found = find_step(spec.step_adjustments, breach)
    if found is None:
        return no_change(
            policy_name,
            "StepScaling",
            f"no step adjustment covers metric {format_value(value)} "
            f"(threshold {format_value(threshold)}, breach {format_value(breach)})",
            "no-step",
            capacity,
        )
    step, above = found
    d = capacity.desired
    adding = spec.adjustment_type != "ExactCapacity" and step.scaling_adjustment > 0
    base = max(d - warming_adjustment, 0) if adding else d
    wanted, how = adjust(
        spec.adjustment_type, step.scaling_adjustment, base, spec.min_adjustment_magnitude
    )
    span = _span(step, threshold, above)
    what = f"metric {format_value(value)} in step {span} {how}"
    if base != d:
        n = d - base
        if spec.adjustment_type != "PercentChangeInCapacity":  # "10% of 4" names its base
            how = f"{how} to {base}"
        if is_service:
            why_not = f"the {n} the last scale-out added count toward it while its cooldown runs"
        else:
            why_not = f"the {n} still warming up {'is' if n == 1 else 'are'} not current capacity"
        what = f"metric {format_value(value)} in step {span}; {why_not}, so it {how}"
        if wanted <= d:
            return no_change(
                policy_name,
                "StepScaling",
                f"{what}: computed desired {wanted} is not above desired {d}, which already "
                f"counts {'it' if n == 1 else 'them'}",
                "below-coming",
                capacity,
                wanted,
            )
    cooldown_end = None if last_scale_in is None else last_scale_in + spec.cooldown
    blocked: tuple[str, Hold] | None = None
    if capacity.warming:
        blocked = f"{capacity.warming} still warming up", "warm-up"
    elif is_service and cooldown_end is not None and now < cooldown_end:
        blocked = f"in cooldown until {format_time(cooldown_end)}", "cooldown"
    return _adjusted(policy_name, "StepScaling", what, wanted, capacity, blocked)


def find_step(steps: Sequence[StepAdjustment], breach: float) -> tuple[StepAdjustment, bool] | None:
    """The step holding breach (metric - threshold), and whether it matched as above the
    threshold. Above it a step is [lower, upper), below it (lower, upper]; at the threshold
    itself a step starting there is tried first, then one ending there (AWS's examples: lower
    0 matches a metric equal to the threshold, and so does upper 0)."""
    sides = ([True] if breach >= 0 else []) + ([False] if breach <= 0 else [])
    for above in sides:
        for step in steps:
            lo = step.metric_interval_lower_bound
            hi = step.metric_interval_upper_bound
            lo_ok = lo is None or (lo <= breach if above else lo < breach)
            hi_ok = hi is None or (breach < hi if above else breach <= hi)
            if lo_ok and hi_ok:
                return step, above
    return None


def simple_scaling(
    policy_name: str,
    spec: SimpleScaling,
    capacity: Capacity,
    now: float,
    last_activity_end: float | None,
) -> Decision:
    """The simple scaling policy's decision while its alarm is in ALARM: its one adjustment,
    unless the cooldown after the last scaling activity (last_activity_end) still runs."""
    wanted, how = adjust(
        spec.adjustment_type,
        spec.scaling_adjustment,
        capacity.desired,
        spec.min_adjustment_magnitude,
    )
    what = f"the policy {how}"
    if last_activity_end is not None and now < last_activity_end + spec.cooldown:
        return no_change(
            policy_name,
            "SimpleScaling",
            f"{what}, but in cooldown until {format_time(last_activity_end + spec.cooldown)} "
            f"({spec.cooldown} s after the last scaling activity)",
            "cooldown",
            capacity,
            wanted,
        )
    return _adjusted(policy_name, "SimpleScaling", what, wanted, capacity, None)


def _adjusted(
    policy_name: str,
    kind: PolicyKind,
    what: str,
    wanted: int,
    capacity: Capacity,
    scale_in_blocked: tuple[str, Hold] | None,
) -> Decision:
    """A step or simple policy's decision once it knows the capacity it wants."""
    d = capacity.desired
    new, note = capped(wanted, capacity)

    def none(why: str, hold: Hold) -> Decision:
        return no_change(policy_name, kind, why, hold, capacity, wanted)

    if wanted == d:
        return none(f"{what}; desired {d} already there", "already-there")
    if wanted < d and scale_in_blocked is not None:
        blocked, hold = scale_in_blocked
        return none(f"{what}, but {blocked}: no scale-in", hold)
    if (wanted > d) != (new > d) or new == d:
        up = wanted > d
        return none(f"{what}, but {limit_reason(capacity, up)}", "at-max" if up else "at-min")
    direction: Direction = "out" if new > d else "in"
    reason = f"policy {policy_name}: {what}; desired {d} -> {new}{note}"
    return Decision(policy_name, new, reason, direction, kind, computed=wanted)


def adjust(
    adjustment_type: AdjustmentType,
    scaling_adjustment: int,
    capacity: int,
    min_adjustment_magnitude: int | None = None,
) -> tuple[int, str]:
    """The capacity an adjustment asks for from `capacity`, and how it was reached."""
    if adjustment_type == "ExactCapacity":
        return scaling_adjustment, f"sets capacity to {scaling_adjustment}"
    if adjustment_type == "ChangeInCapacity":
        delta, how = scaling_adjustment, f"{abs(scaling_adjustment)}"
    else:
        raw = percent_change(capacity, scaling_adjustment)
        delta = percent_change(capacity, scaling_adjustment, min_adjustment_magnitude)
        how = f"{abs(scaling_adjustment)}% of {capacity} = {abs(raw)}"
        if delta != raw:
            how += f", raised to {abs(delta)} (minAdjustmentMagnitude)"
    verb = "adds" if delta >= 0 else "removes"
    return capacity + delta, f"{verb} {how}"


def percent_change(capacity: int, percent: int, min_adjustment_magnitude: int | None = None) -> int:
    """PercentChangeInCapacity as AWS rounds it: a change between 0 and 1 is 1, between -1 and
    0 is -1; above 1 it rounds down, below -1 up (toward zero). MinAdjustmentMagnitude then
    raises a smaller change to that size, in the adjustment's direction."""
    scaled = capacity * percent  # hundredths of an instance, exact
    delta = 0
    if scaled > 0:
        delta = max(1, scaled // 100)
    elif scaled < 0:
        delta = -max(1, -scaled // 100)
    if min_adjustment_magnitude is not None and percent and abs(delta) < min_adjustment_magnitude:
        delta = min_adjustment_magnitude if percent > 0 else -min_adjustment_magnitude
    return delta


def _span(step: StepAdjustment, threshold: float, above: bool) -> str:
    """The step's metric range, e.g. [60.0, 70.0) above the threshold or (30.0, 40.0] below."""
    lo, hi = step.metric_interval_lower_bound, step.metric_interval_upper_bound
    left = "-inf" if lo is None else format_value(threshold + lo)
    right = "+inf" if hi is None else format_value(threshold + hi)
    opening = "[" if above and lo is not None else "("
    closing = "]" if not above and hi is not None else ")"
    return f"{opening}{left}, {right}{closing}"
