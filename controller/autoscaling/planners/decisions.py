"""What a scaling policy decides, in the vocabulary every policy type shares: the target's
Capacity, a policy's Decision, why a decision changes nothing (Hold, no_change, capacity_note)
and the wording of reasons. The policy types' arithmetic lives beside it: target_tracking,
step_scaling (step and simple scaling) and combining (several policies on one target).

Pure: every function takes the metric's values, the target's capacity and `now`, and returns a
Decision (a new desired capacity, or None, and the human reason recorded as an activity). It
must not collect metrics, read the clock, track warm-up or cooldowns, or write anything: the
caller passes those facts in and applies the result.

A decision that changes nothing says why, in AWS's terms, and ends with the numbers behind it
(capacity_note): current capacity (in service and past its warm-up), warming, pending, the
desired capacity the policy computed (where it got that far), the desired capacity and
[minSize, maxSize]; its `hold` names the cause in one word (cooldown, warm-up, at-max, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

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


def limit_reason(capacity: Capacity, up: bool) -> str:
    """Why a policy cannot move the desired capacity further up (or down)."""
    d = capacity.desired
    bound, size = ("maxSize", capacity.max_size) if up else ("minSize", capacity.min_size)
    where = "at" if d == size else ("above" if up else "below")
    return f"desired {d} is {where} {bound} {size}"


def capped(wanted: int, capacity: Capacity) -> tuple[int, str]:
    """wanted, brought into [minSize, maxSize], and the note a reason ends with when it moved."""
    new = clamp(wanted, capacity)
    if new < wanted:
        return new, f" (capped at maxSize {capacity.max_size}; wanted {wanted})"
    if new > wanted:
        return new, f" (held at minSize {capacity.min_size}; wanted {wanted})"
    return new, ""


def format_value(v: float) -> str:
    """83 -> "83.0", 0.25 -> "0.25": metric values as CloudWatch shows them."""
    text = f"{v:.6g}"
    return text if any(c in text for c in ".en") else text + ".0"


def format_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
