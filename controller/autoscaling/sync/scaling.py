"""Scaling policies and scheduled actions: Auto Scaling's step of the one pass per metrics
period (core/metrics.py; CloudWatch runs the pass: it collects the period's metrics and
evaluates the alarms first, and an alarm's scalingPolicy action runs its step or simple
policy, alarm_actions.py, whose decision joins this period's work).

Once a period the step records the load history predictive policies forecast from, asks every
target tracking policy what its target needs (reading CloudWatch's statistics through the
core's metric reader), raises groups' floors from predictive forecasts, and combines the
answers per group or service (out if any policy asks, in only if all agree) into one new
capacity, recorded as an activity with its cause. Scheduled actions set min, max and desired
when their time comes, each time the pass runs. What must survive a restart (cooldowns, when a
schedule last fired) is kept in the store, tied to the manifest's version.

Every policy evaluation shows in the policy's status (its reason, and `lastEvaluation`: the
capacity numbers it saw). One that leaves the capacity as it is also goes to the action log as
a debug event, `scaling.no_change`: logged each time, stored in the history (and sent on the
event stream) only when its cause or the capacity numbers differ from the last one stored, so
a policy that holds for days stores one event, not one per pass.

The step's parts: alarm_actions, policy_evaluation, load_history, new_capacity,
scheduled_actions, sharing scaling_state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from controller.autoscaling.sync.load_history import record_load
from controller.autoscaling.sync.new_capacity import apply_new_capacity
from controller.autoscaling.sync.policy_evaluation import evaluate_policy
from controller.autoscaling.sync.scaling_state import Pass
from controller.autoscaling.sync.scheduled_actions import run_scheduled_action
from controller.core.capacity import CapacityError
from controller.core.metrics import Period
from controller.core.outcomes import CommandError, Retry
from controller.manifests.kinds import ResourceKey, key_str
from controller.runtime import RuntimeFailure

if TYPE_CHECKING:
    from controller.core.context import Context


log = structlog.get_logger("skiff.scaling")


def scaling_step(ctl: Context, run: Period) -> float | None:
    """Auto Scaling's part of the period's pass; when it next has work (a schedule's time)."""
    now = run.now
    if run.fresh:
        record_load(ctl, now)
        work = run.share(Pass)
        for key, res in sorted(ctl.desired.items()):
            if key[0] == "ScalingPolicy" and res.spec.enabled:
                _guarded(ctl, key, evaluate_policy, ctl, key[1], res.spec, now, work)
        for target in sorted(set(work.evaluations) | set(work.floors)):
            _guarded(ctl, target, apply_new_capacity, ctl, target, now, work)
    wake = []
    for key, res in sorted(ctl.desired.items()):
        if key[0] == "ScheduledAction":
            at = _guarded(ctl, key, run_scheduled_action, ctl, key[1], res.spec, now)
            if at is not None:
                wake.append(max(0.0, at - now))
    _forget_gone(ctl)
    return min(wake, default=None)


T = TypeVar("T")


def _guarded(ctl: Context, key: ResourceKey, step: Callable[..., T], *args: Any) -> T | None:
    """One resource's part of the pass; its failure shows on it and stops nothing else."""
    try:
        return step(*args)
    except (CapacityError, CommandError, RuntimeFailure, Retry, ValueError) as exc:
        log.warning("scaling.failed", resource=key_str(key), error=str(exc))
        if key in ctl.desired and key[0] in ("ScalingPolicy", "ScheduledAction"):
            ctl.set_status(key, "ERROR", str(exc))
        return None


def _forget_gone(ctl: Context) -> None:
    for key in list(ctl.status):
        if key[0] in ("ScalingPolicy", "ScheduledAction") and key not in ctl.desired:
            ctl.forget_status(key)
            ctl.store.delete_override(*key)
