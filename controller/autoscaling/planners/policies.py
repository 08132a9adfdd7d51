"""Scaling policies' arithmetic: the desired capacity each policy asks for, and how several
policies on one Auto Scaling group or service combine, as EC2 Auto Scaling and Application Auto
Scaling decide it.

Pure: every function takes the metric's values, the target's capacity and `now`, and returns a
Decision (a new desired capacity, or None, and the human reason recorded as an activity). It
must not collect metrics, read the clock, track warm-up or cooldowns, or write anything: the
caller passes those facts in and applies the result.

A decision that changes nothing says why, in AWS's terms, and ends with the numbers behind it
(capacity_note): current capacity (in service and past its warm-up), warming, pending, the
desired capacity the policy computed (where it got that far), the desired capacity and
[minSize, maxSize]; its `hold` names the cause in one word (cooldown, warm-up, at-max, ...).

- Target tracking: AWS's two alarms. Scale out when the last SCALE_OUT_DATAPOINTS (3) values
  are all above the target, to ceil(measured capacity x value / target) in one step; scale in
  when the last SCALE_IN_DATAPOINTS (15) are all below SCALE_IN_THRESHOLD (0.9) x target,
  gradually: at most SCALE_IN_MAX_PERCENT (10%) of desired capacity (at least one) per
  scale-in, never below the proportional value. Missing data never scales. Warming instances
  count as capacity already added and block scale-in (groups); services use Application Auto
  Scaling's scale-out and scale-in cooldowns. Backlog per instance tracks queue depth / in
  service against acceptable latency / processing time, and wants ceil(depth / target).
- Step scaling: the step whose bounds (relative to the alarm threshold) hold the breach; above
  the threshold the lower bound is inclusive and the upper exclusive, below it the mirror.
  ChangeInCapacity, ExactCapacity, PercentChangeInCapacity (AWS's rounding, then
  MinAdjustmentMagnitude). Capacity still warming up is not current capacity: a scale-out step
  counts from the capacity without it, and a result not above the desired capacity (which
  already holds the warming part) changes nothing; it never scales in.
- Simple scaling: one adjustment, then nothing until its cooldown after the last activity ends.
- Several policies: scale out if any asks (the largest wins); scale in only if every target
  tracking policy agrees (the least scale-in wins); always within [minSize, maxSize]. When that
  leaves the capacity where it is, held() tells each policy why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from controller.autoscaling.models.scaling import (
    PREDEFINED,
    AdjustmentType,
    SimpleScaling,
    StepAdjustment,
    StepScaling,
    TargetTracking,
)

Direction = Literal["out", "in"]
PolicyKind = Literal["TargetTrackingScaling", "StepScaling", "SimpleScaling", "PredictiveScaling"]
# Why a decision changes nothing, in one word (the reason says it in full).
Hold = Literal[
    "missing-data",  # too few datapoints (or no forecast) to decide on
    "within-target",  # target tracking: neither of its alarms would be in ALARM
    "no-step",  # no step adjustment covers the breach
    "already-there",  # the computed desired capacity is the desired capacity
    "below-coming",  # a scale-out computed without the warming capacity is not above desired
    "at-max",
    "at-min",
    "cooldown",
    "warm-up",
    "scale-in-disabled",
    "vetoed",  # a target tracking policy does not agree to scale in
    "forecast-only",
]

# Target tracking's alarms, as AWS creates them: the high alarm is "> target for 3 of 3 one-minute
# datapoints", the low alarm "< 0.9 x target for 15 of 15" (target 50 gives a low alarm at 45).
SCALE_OUT_DATAPOINTS = 3
SCALE_IN_DATAPOINTS = 15
SCALE_IN_THRESHOLD = 0.9
# Gradual scale-in: one scale-in removes at most this share of the desired capacity (rounded
# down), at least SCALE_IN_MIN_STEP, and never goes below the proportional capacity.
SCALE_IN_MAX_PERCENT = 10
SCALE_IN_MIN_STEP = 1
# Float noise forgiven before rounding up: a backlog of 30 at 0.3 s / 0.1 s per item is
# 30 / 2.9999999999999996 = 10.000000000000002 instances, and means 10.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Capacity:
    """A scaling target now: its desired capacity and bounds, how many instances (or tasks) are
    in service, and how many of those are still within their warm-up (of `warmup` seconds,
    when the caller knows it). Instances launched but not yet in service are the gap between
    desired and in_service."""

    desired: int
    min_size: int
    max_size: int
    in_service: int
    warming: int = 0
    warmup: float | None = None

    def __post_init__(self) -> None:
        if min(self.desired, self.min_size, self.max_size, self.in_service, self.warming) < 0:
            raise ValueError(f"capacity numbers cannot be negative: {self}")
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} exceeds maxSize {self.max_size}")
        if self.warming > self.in_service:
            raise ValueError(f"{self.warming} warming but only {self.in_service} in service")

    @property
    def measured(self) -> int:
        """The instances whose load the metric reports: in service and past their warm-up."""
        return self.in_service - self.warming

    @property
    def pending(self) -> int:
        """Launched (or to launch) but not yet in service."""
        return max(0, self.desired - self.in_service)


@dataclass(frozen=True)
class Decision:
    """What one policy asks for: a new desired capacity (None: no change) and why.

    `computed` is the desired capacity the policy's arithmetic reached, before minSize and
    maxSize (None where it stopped before computing one: missing data, no step, within the
    target); `hold` says in one word why a decision changes nothing.

    A target tracking policy that does not ask to scale in vetoes other policies' scale-in,
    unless its scale-in is disabled (disableScaleIn: it leaves scale-in to other policies)."""

    policy: str
    desired: int | None
    reason: str
    direction: Direction | None
    kind: PolicyKind
    scale_in_disabled: bool = False
    computed: int | None = None
    hold: Hold | None = None

    def __post_init__(self) -> None:
        if (self.desired is None) != (self.direction is None):
            raise ValueError("a decision has both a desired capacity and a direction, or neither")

    @property
    def vetoes_scale_in(self) -> bool:
        return (
            self.kind == "TargetTrackingScaling"
            and self.direction != "in"
            and not self.scale_in_disabled
        )


def clamp(desired: int, capacity: Capacity) -> int:
    """desired, brought into [minSize, maxSize]."""
    return max(capacity.min_size, min(capacity.max_size, desired))


# --- target tracking -----------------------------------------------------------------------


def target_tracking(
    policy_name: str,
    spec: TargetTracking,
    datapoints: Sequence[float | None],
    capacity: Capacity,
    now: float,
    last_scale_out: float | None,
    last_scale_in: float | None,
    is_service: bool,
) -> Decision:
    """The target tracking policy's decision on the metric's per-period values (oldest first,
    None where a period has no value). last_scale_out / last_scale_in are when the target's
    last scale-out / scale-in completed; only services (is_service) have these cooldowns."""
    target = spec.target
    low = SCALE_IN_THRESHOLD * target
    per = max(capacity.in_service, 1)

    def tracked(v: float) -> float:
        return v / per if spec.backlog_per_instance is not None else v

    def none(why: str, hold: Hold) -> Decision:
        return no_change(
            policy_name,
            "TargetTrackingScaling",
            why,
            hold,
            capacity,
            scale_in_disabled=spec.disable_scale_in,
        )

    recent = [v for v in datapoints[-SCALE_OUT_DATAPOINTS:] if v is not None]
    if len(recent) < SCALE_OUT_DATAPOINTS:
        return none(
            f"{metric_label(spec)}: missing data, {len(recent)} of the last "
            f"{SCALE_OUT_DATAPOINTS} periods have a value, and missing data never scales",
            "missing-data",
        )
    newest = recent[-1]
    shown = _shown(spec, newest, tracked(newest), capacity)
    if all(tracked(v) > target for v in recent):
        cooldown_end = (
            last_scale_out + spec.scale_out_cooldown
            if is_service and last_scale_out is not None
            else None
        )
        return _track_out(policy_name, spec, newest, shown, capacity, now, cooldown_end)

    window = [v for v in datapoints[-SCALE_IN_DATAPOINTS:] if v is not None]
    if any(tracked(v) >= low for v in window):
        return none(
            f"{shown} is neither above target {_num(target)} for {SCALE_OUT_DATAPOINTS} periods "
            f"nor below {_num(low)} for {SCALE_IN_DATAPOINTS}",
            "within-target",
        )
    if len(window) < SCALE_IN_DATAPOINTS:
        return none(
            f"{shown} is below {_num(low)}, but only {len(window)} of the last "
            f"{SCALE_IN_DATAPOINTS} periods have a value: no scale-in on missing data",
            "missing-data",
        )
    return _track_in(
        policy_name, spec, newest, shown, capacity, now, last_scale_out, last_scale_in, is_service
    )


def _track_out(
    policy_name: str,
    spec: TargetTracking,
    newest: float,
    shown: str,
    capacity: Capacity,
    now: float,
    cooldown_end: float | None,
) -> Decision:
    d, target = capacity.desired, _num(spec.target)
    needed = _proportional(spec, newest, capacity)

    def none(why: str, hold: Hold) -> Decision:
        return no_change(
            policy_name,
            "TargetTrackingScaling",
            why,
            hold,
            capacity,
            needed,
            scale_in_disabled=spec.disable_scale_in,
        )

    if needed <= d:
        hold: Hold = "already-there"
        why = f"{shown} > target {target} needs {needed}, and desired {d} already covers it"
        if d > capacity.measured:
            hold = "below-coming"
            why = (
                f"{shown} > target {target} needs {needed}, not above desired {d}, which "
                f"already counts the {_coming(capacity)}"
            )
        if cooldown_end is not None and now < cooldown_end:
            why += (
                f"; in scale-out cooldown until {_at(cooldown_end)}, only a scale-out beyond "
                "the last one goes ahead"
            )
        return none(why, hold)
    new, note = _capped(needed, capacity)
    if new <= d:
        return none(
            f"{shown} > target {target} needs {needed}, but {_limit(capacity, True)}", "at-max"
        )
    return Decision(
        policy_name,
        new,
        f"policy {policy_name}: {shown} > target {target}; desired {d} -> {new}{note}",
        "out",
        "TargetTrackingScaling",
        spec.disable_scale_in,
        needed,
    )


def _track_in(
    policy_name: str,
    spec: TargetTracking,
    newest: float,
    shown: str,
    capacity: Capacity,
    now: float,
    last_scale_out: float | None,
    last_scale_in: float | None,
    is_service: bool,
) -> Decision:
    d, low = capacity.desired, SCALE_IN_THRESHOLD * spec.target
    below = (
        f"{shown} < {_num(low)} ({SCALE_IN_THRESHOLD:g} x target {_num(spec.target)}) "
        f"for {SCALE_IN_DATAPOINTS} periods"
    )
    proportional = _proportional(spec, newest, capacity)
    step = max(SCALE_IN_MIN_STEP, d * SCALE_IN_MAX_PERCENT // 100)
    wanted = max(proportional, d - step)

    def none(why: str, hold: Hold) -> Decision:
        return no_change(
            policy_name,
            "TargetTrackingScaling",
            f"{below}, {why}",
            hold,
            capacity,
            wanted,
            scale_in_disabled=spec.disable_scale_in,
        )

    if spec.disable_scale_in:
        return none("but scale-in is disabled (disableScaleIn)", "scale-in-disabled")
    if capacity.warming:
        return none(
            f"but {capacity.warming} still warming up: no scale-in until they finish", "warm-up"
        )
    if is_service:
        for last, cooldown, which in (
            (last_scale_in, spec.scale_in_cooldown, "scale-in"),
            (last_scale_out, spec.scale_out_cooldown, "scale-out"),
        ):
            if last is not None and now < last + cooldown:
                return none(f"but in {which} cooldown until {_at(last + cooldown)}", "cooldown")
    new, note = _capped(wanted, capacity)
    if new >= d:
        if proportional >= d:
            return none(
                f"but the proportional capacity {proportional} is not below desired {d}",
                "already-there",
            )
        return none(f"but {_limit(capacity, False)}", "at-min")
    return Decision(
        policy_name,
        new,
        f"policy {policy_name}: {below}; desired {d} -> {new} "
        f"(gradually: at most {step} per scale-in, proportional {proportional}){note}",
        "in",
        "TargetTrackingScaling",
        spec.disable_scale_in,
        wanted,
    )


def _proportional(spec: TargetTracking, newest: float, capacity: Capacity) -> int:
    """The capacity that brings the metric to the target: ceil(depth / target) for a backlog,
    else ceil(measured capacity x value / target), the load the measured instances report
    spread over enough instances to meet the target (as AWS and Kubernetes HPA do)."""
    if spec.backlog_per_instance is not None:
        return _ceil(newest / spec.target)
    return _ceil(capacity.measured * newest / spec.target)


def metric_label(spec: TargetTracking) -> str:
    """How a target tracking policy's metric is named in reasons."""
    if spec.predefined_metric is not None:
        return PREDEFINED[spec.predefined_metric][0]
    if spec.customized_metric is not None:
        return spec.customized_metric.metric.metric_name or "the Prometheus query"
    return "backlog per instance"


def _shown(spec: TargetTracking, newest: float, value: float, capacity: Capacity) -> str:
    if spec.backlog_per_instance is None:
        return f"{metric_label(spec)} {_num(value)}"
    return (
        f"backlog per instance {_num(value)} ({_num(newest)} queued / "
        f"{capacity.in_service} in service)"
    )


# --- step and simple scaling ---------------------------------------------------------------


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
            f"no step adjustment covers metric {_num(value)} (threshold {_num(threshold)}, "
            f"breach {_num(breach)})",
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
    what = f"metric {_num(value)} in step {span} {how}"
    if base != d:
        n = d - base
        if spec.adjustment_type != "PercentChangeInCapacity":  # "10% of 4" names its base
            how = f"{how} to {base}"
        if is_service:
            why_not = f"the {n} the last scale-out added count toward it while its cooldown runs"
        else:
            why_not = f"the {n} still warming up {'is' if n == 1 else 'are'} not current capacity"
        what = f"metric {_num(value)} in step {span}; {why_not}, so it {how}"
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
        blocked = f"in cooldown until {_at(cooldown_end)}", "cooldown"
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
            f"{what}, but in cooldown until {_at(last_activity_end + spec.cooldown)} "
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
    new, note = _capped(wanted, capacity)

    def none(why: str, hold: Hold) -> Decision:
        return no_change(policy_name, kind, why, hold, capacity, wanted)

    if wanted == d:
        return none(f"{what}; desired {d} already there", "already-there")
    if wanted < d and scale_in_blocked is not None:
        blocked, hold = scale_in_blocked
        return none(f"{what}, but {blocked}: no scale-in", hold)
    if (wanted > d) != (new > d) or new == d:
        up = wanted > d
        return none(f"{what}, but {_limit(capacity, up)}", "at-max" if up else "at-min")
    direction: Direction = "out" if new > d else "in"
    reason = f"policy {policy_name}: {what}; desired {d} -> {new}{note}"
    return Decision(policy_name, new, reason, direction, kind, computed=wanted)


def no_change(
    policy_name: str,
    kind: PolicyKind,
    why: str,
    hold: Hold,
    capacity: Capacity,
    computed: int | None = None,
    *,
    scale_in_disabled: bool = False,
) -> Decision:
    """A decision that changes nothing: the policy, why, and the numbers (capacity_note)."""
    reason = f"policy {policy_name}: {why}; no change {capacity_note(capacity, computed)}"
    return Decision(policy_name, None, reason, None, kind, scale_in_disabled, computed, hold)


def capacity_note(capacity: Capacity, computed: int | None = None) -> str:
    """The numbers a no-change reason ends with, e.g. "(current capacity 0, warming 4 within
    a 300 s warm-up, computed desired 1, desired 4, minSize 1, maxSize 10)": current is in
    service and past its warm-up; pending is desired but not yet in service."""
    warming = f"warming {capacity.warming}"
    if capacity.warming and capacity.warmup is not None:
        warming += f" within a {capacity.warmup:g} s warm-up"
    parts = [f"current capacity {capacity.measured}", warming]
    if capacity.pending:
        parts.append(f"pending {capacity.pending}")
    if computed is not None:
        parts.append(f"computed desired {computed}")
    parts += [
        f"desired {capacity.desired}",
        f"minSize {capacity.min_size}",
        f"maxSize {capacity.max_size}",
    ]
    return f"({', '.join(parts)})"


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


# --- several policies on one target --------------------------------------------------------


def combine(capacity: Capacity, decisions: Sequence[Decision]) -> tuple[int, list[str]]:
    """The target's new desired capacity from its policies' decisions, and the reasons used.

    Scale out if any policy asks (the largest wins); otherwise scale in only if no target
    tracking policy holds out (each asks to scale in, or has scale-in disabled), to the largest
    of the scale-in results (the least scale-in). Always within [minSize, maxSize]; the
    reasons are empty exactly when the desired capacity stays."""
    d = capacity.desired
    outs = [x for x in decisions if x.direction == "out" and _wanted(x) > d]
    ins = [x for x in decisions if x.direction == "in" and _wanted(x) < d]
    chosen = max(outs, key=_wanted, default=None)
    if chosen is None and not any(x.vetoes_scale_in for x in decisions):
        chosen = max(ins, key=_wanted, default=None)
    want = d if chosen is None else _wanted(chosen)
    new = clamp(want, capacity)
    if new == d:
        return d, []
    reasons = [] if chosen is None else [chosen.reason]
    if new != want:
        bounds = f"[minSize {capacity.min_size}, maxSize {capacity.max_size}]"
        reasons.append(f"desired {want} is outside {bounds}; desired {d} -> {new}")
    return new, reasons


def held(decision: Decision, decisions: Sequence[Decision], capacity: Capacity) -> Decision:
    """decision, one of the decisions combine() answered with no change, as a no-change
    decision that says why: one that asked for nothing keeps its reason; a scale-in that a
    target tracking policy holds out against, or a change the bounds undo, says so after its
    own reason, with the numbers."""
    if decision.desired is None:
        return decision
    vetoes = [x.policy for x in decisions if x.vetoes_scale_in]
    hold: Hold
    if decision.direction == "in" and vetoes:
        many = len(vetoes) > 1
        why = (
            f"not applied: target tracking {'policies' if many else 'policy'} "
            f"{', '.join(vetoes)} {'do' if many else 'does'} not agree to scale in (a scale-in "
            "needs every target tracking policy to ask for it)"
        )
        hold = "vetoed"
    else:
        up = decision.desired > capacity.desired
        why, hold = f"not applied: {_limit(capacity, up)}", "at-max" if up else "at-min"
    note = capacity_note(capacity, decision.desired)
    return replace(
        decision,
        desired=None,
        direction=None,
        reason=f"{decision.reason}; {why}; no change {note}",
        computed=decision.desired,
        hold=hold,
    )


def _wanted(decision: Decision) -> int:
    assert decision.desired is not None, "only decisions with a direction are compared"
    return decision.desired


# --- helpers -------------------------------------------------------------------------------


def _coming(capacity: Capacity) -> str:
    """What the desired capacity holds beyond the current capacity, e.g. "2 still warming up
    and 1 pending"."""
    parts = []
    if capacity.warming:
        parts.append(f"{capacity.warming} still warming up")
    if capacity.pending:
        parts.append(f"{capacity.pending} pending")
    return " and ".join(parts)


def _limit(capacity: Capacity, up: bool) -> str:
    """Why a policy cannot move the desired capacity further up (or down)."""
    d = capacity.desired
    bound, size = ("maxSize", capacity.max_size) if up else ("minSize", capacity.min_size)
    where = "at" if d == size else ("above" if up else "below")
    return f"desired {d} is {where} {bound} {size}"


def _capped(wanted: int, capacity: Capacity) -> tuple[int, str]:
    new = clamp(wanted, capacity)
    if new < wanted:
        return new, f" (capped at maxSize {capacity.max_size}; wanted {wanted})"
    if new > wanted:
        return new, f" (held at minSize {capacity.min_size}; wanted {wanted})"
    return new, ""


def _span(step: StepAdjustment, threshold: float, above: bool) -> str:
    """The step's metric range, e.g. [60.0, 70.0) above the threshold or (30.0, 40.0] below."""
    lo, hi = step.metric_interval_lower_bound, step.metric_interval_upper_bound
    left = "-inf" if lo is None else _num(threshold + lo)
    right = "+inf" if hi is None else _num(threshold + hi)
    opening = "[" if above and lo is not None else "("
    closing = "]" if not above and hi is not None else ")"
    return f"{opening}{left}, {right}{closing}"


def _ceil(x: float) -> int:
    return math.ceil(x - _EPSILON * max(1.0, abs(x)))


def _num(v: float) -> str:
    """83 -> "83.0", 0.25 -> "0.25": metric values as CloudWatch shows them."""
    text = f"{v:.6g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _at(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
