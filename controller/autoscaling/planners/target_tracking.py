"""Target tracking scaling policies' arithmetic, as EC2 Auto Scaling and Application Auto
Scaling decide it (pure: see decisions).

Target tracking is AWS's two alarms. Scale out when the last SCALE_OUT_DATAPOINTS (3) values
are all above the target, to ceil(measured capacity x value / target) in one step; scale in
when the last SCALE_IN_DATAPOINTS (15) are all below SCALE_IN_THRESHOLD (0.9) x target,
gradually: at most SCALE_IN_MAX_PERCENT (10%) of desired capacity (at least one) per
scale-in, never below the proportional value. Missing data never scales. Warming instances
count as capacity already added and block scale-in (groups); services use Application Auto
Scaling's scale-out and scale-in cooldowns. Backlog per instance tracks queue depth / in
service against acceptable latency / processing time, and wants ceil(depth / target).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from controller.autoscaling.models.scaling import PREDEFINED, TargetTracking
from controller.autoscaling.planners.decisions import (
    Capacity,
    Decision,
    Hold,
    capped,
    format_time,
    format_value,
    limit_reason,
    no_change,
)

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
            f"{shown} is neither above target {format_value(target)} "
            f"for {SCALE_OUT_DATAPOINTS} periods "
            f"nor below {format_value(low)} for {SCALE_IN_DATAPOINTS}",
            "within-target",
        )
    if len(window) < SCALE_IN_DATAPOINTS:
        return none(
            f"{shown} is below {format_value(low)}, but only {len(window)} of the last "
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
    d, target = capacity.desired, format_value(spec.target)
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
                f"; in scale-out cooldown until {format_time(cooldown_end)}, "
                "only a scale-out beyond "
                "the last one goes ahead"
            )
        return none(why, hold)
    new, note = capped(needed, capacity)
    if new <= d:
        return none(
            f"{shown} > target {target} needs {needed}, but {limit_reason(capacity, True)}",
            "at-max",
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
        f"{shown} < {format_value(low)} "
        f"({SCALE_IN_THRESHOLD:g} x target {format_value(spec.target)}) "
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
                return none(
                    f"but in {which} cooldown until {format_time(last + cooldown)}", "cooldown"
                )
    new, note = capped(wanted, capacity)
    if new >= d:
        if proportional >= d:
            return none(
                f"but the proportional capacity {proportional} is not below desired {d}",
                "already-there",
            )
        return none(f"but {limit_reason(capacity, False)}", "at-min")
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
        return f"{metric_label(spec)} {format_value(value)}"
    return (
        f"backlog per instance {format_value(value)} ({format_value(newest)} queued / "
        f"{capacity.in_service} in service)"
    )


def _coming(capacity: Capacity) -> str:
    """What the desired capacity holds beyond the current capacity, e.g. "2 still warming up
    and 1 pending"."""
    parts = []
    if capacity.warming:
        parts.append(f"{capacity.warming} still warming up")
    if capacity.pending:
        parts.append(f"{capacity.pending} pending")
    return " and ".join(parts)


def _ceil(x: float) -> int:
    return math.ceil(x - _EPSILON * max(1.0, abs(x)))
