"""One new capacity per scaled resource at the end of a scaling pass: combine its policies'
decisions and any predictive floor (out if any policy asks, in only if all agree), apply it as
an activity with its cause, and tell each policy's evaluation in its status; a no-change is a
debug event, stored only when its cause or capacity numbers are news."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import structlog

from controller.autoscaling.planners.policies import Capacity, Decision, combine, held
from controller.autoscaling.sync.scaling_state import (
    Evaluation,
    Pass,
    record_activity,
    remember,
)
from controller.core import capacity
from controller.manifests.kinds import ResourceKey, key_str

if TYPE_CHECKING:
    from controller.core.context import Context

NO_CHANGE = "scaling.no_change"  # told once per change of cause or capacity numbers

log = structlog.get_logger("skiff.scaling")


def apply_new_capacity(ctl: Context, target: ResourceKey, now: float, work: Pass) -> None:
    res = ctl.desired.get(target)
    if res is None:
        return
    b = capacity.bounds(ctl, target, res.spec)
    evaluations = work.evaluations.get(target, [])
    decisions = [e.decision for e in evaluations]
    for e in evaluations:
        for decision in ("scale_out", "scale_in", "no_change"):  # from 0: increase() works
            ctl.metrics.policy_decisions.labels(e.decision.policy, decision)
        ctl.metrics.policy_decisions.labels(e.decision.policy, _decision(e)).inc()
    floor = work.floors.get(target)
    cap = Capacity(b.desired, b.min_size, b.max_size, 0, 0)
    want, reasons = combine(cap, decisions) if decisions else (b.desired, [])
    new_max = b.max_size
    if floor is not None and floor[0] > want:  # a forecast only ever raises the capacity
        new_max = max(b.max_size, floor[1])
        want, reasons = min(floor[0], new_max), [floor[2]]
    if want == b.desired:
        for e in evaluations:
            _evaluated(ctl, target, e, held(e.decision, decisions, e.capacity), now)
        return
    what = "desired capacity" if target[0] == "AutoScalingGroup" else "desired count"
    capacity.change(ctl, target, res.spec, desired=want, max_size=new_max)
    cause = "; ".join(reasons) or "scaling policy"
    if not cause.endswith(f"desired {b.desired} -> {want}"):
        cause = f"{cause}; desired {b.desired} -> {want}"
    record_activity(ctl, target, f"Setting {what} from {b.desired} to {want}", cause, now)
    direction = "lastScaleOut" if want > b.desired else "lastScaleIn"
    for d in decisions:
        if d.desired is not None and ("ScalingPolicy", d.policy) in ctl.desired:
            remember(
                ctl,
                "ScalingPolicy",
                d.policy,
                **{direction: now, "lastActivity": now, "lastAdded": max(0, want - b.desired)},
            )
    for e in evaluations:
        _evaluated(ctl, target, e, e.decision, now)
    log.info("scaling", target=key_str(target), old=b.desired, new=want, cause=cause)


def _decision(e: Evaluation) -> str:
    """What the policy asked for on its own, before the target's other policies had a say."""
    d = e.decision
    if d.desired is None or d.desired == e.capacity.desired:
        return "no_change"
    return "scale_out" if d.desired > e.capacity.desired else "scale_in"


def _evaluated(
    ctl: Context, target: ResourceKey, e: Evaluation, decision: Decision, now: float
) -> None:
    """The policy's status tells its evaluation (decision: what it came to once combined with
    the target's other policies), with the numbers; one that changes nothing is also a debug
    event, stored once per cause and capacity (see the module's docstring)."""
    key = ("ScalingPolicy", decision.policy)
    if key not in ctl.desired:
        return
    cap = e.capacity
    numbers = {
        "currentCapacity": cap.measured,
        "warmingCapacity": cap.warming,
        "pendingCapacity": cap.pending,
        "computedDesired": decision.computed,
        "desiredCapacity": cap.desired,
        "minSize": cap.min_size,
        "maxSize": cap.max_size,
        "warmup": cap.warmup,
        "noChange": decision.hold,
    }
    ctl.set_status(key, "ACTIVE", decision.reason, lastEvaluation={"at": now, **numbers})
    if decision.desired is not None:  # the next no-change is news, whatever the one before
        ctl.actions.settled(*key, NO_CHANGE)
        return
    told = [key_str(target), decision.hold, *(numbers[k] for k in _NEWS)]
    ctl.actions.record_change(
        *key,
        NO_CHANGE,
        decision.reason,
        news=json.dumps(told),
        log_each=True,
        level="debug",
        detail={"target": key_str(target), **numbers},
        target=key_str(target),
        cause=decision.hold,
    )


# What makes a no-change event news: its cause, and these numbers (not the metric's value nor
# the computed desired capacity, which move a little every period while the cause holds).
_NEWS = (
    "currentCapacity",
    "warmingCapacity",
    "pendingCapacity",
    "desiredCapacity",
    "minSize",
    "maxSize",
)
