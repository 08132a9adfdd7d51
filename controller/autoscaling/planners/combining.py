"""How several scaling policies on one Auto Scaling group or service combine into one desired
capacity, as EC2 Auto Scaling and Application Auto Scaling decide it (pure: see decisions).

Scale out if any asks (the largest wins); scale in only if every target
tracking policy agrees (the least scale-in wins); always within [minSize, maxSize]. When that
leaves the capacity where it is, held() tells each policy why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from controller.autoscaling.planners.decisions import (
    Capacity,
    Decision,
    Hold,
    capacity_note,
    clamp,
    limit_reason,
)


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
        why, hold = f"not applied: {limit_reason(capacity, up)}", "at-max" if up else "at-min"
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
