"""The alarm actions Auto Scaling answers (core/metrics.py; CloudWatch evaluates the alarms and
invokes their actions by name, on a state change and each minute while an alarm stays in
ALARM): a step or simple scaling policy, whose decision joins this period's work, and an
action on the instance the alarm's metric is about."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.autoscaling.models.scaling import ScalingPolicySpec
from controller.autoscaling.planners.policies import Decision, simple_scaling, step_scaling
from controller.autoscaling.sync.commands import instance_action
from controller.autoscaling.sync.policy_evaluation import capacity_of
from controller.autoscaling.sync.scaling_state import Evaluation, Pass, kept_state
from controller.core.metrics import AlarmInvocation, Period
from controller.core.outcomes import CommandError

if TYPE_CHECKING:
    from controller.core.context import Context


def run_instance_action(ctl: Context, call: AlarmInvocation, run: Period) -> None:
    """Stops, terminates, reboots or recovers the instance the alarm's metric is about."""
    action, instance_id = call.argument, call.series[2]
    try:
        message = instance_action(ctl, instance_id, action)
        ctl.actions.record("Alarm", call.alarm, f"instance.{action}", message, instance=instance_id)
    except CommandError as exc:
        ctl.actions.record(
            "Alarm", call.alarm, f"instance.{action}.failed", str(exc), instance=instance_id
        )


def run_policy(ctl: Context, call: AlarmInvocation, run: Period) -> None:
    """A step or simple scaling policy, run by its alarm while the alarm is in ALARM."""
    policy, value, now = call.argument, call.value, run.now
    res = ctl.desired.get(("ScalingPolicy", policy))
    if res is None or value is None or not res.spec.enabled:
        return
    spec: ScalingPolicySpec = res.spec
    target = spec.target.key
    cap = capacity_of(ctl, target, spec, now)
    if cap is None:
        return
    why = (
        f"alarm {call.alarm} in ALARM: {call.metric} {value:g} "
        f"{_SIGNS[call.comparison]} {call.threshold:g}"
    )
    saved = kept_state(ctl, "ScalingPolicy", policy)
    if spec.step_scaling_configuration is not None:
        warming = cap.warming
        last_out = saved.get("lastScaleOut")
        if target[0] == "Service" and last_out is not None:
            cooldown = spec.step_scaling_configuration.cooldown
            warming = int(saved.get("lastAdded", 0)) if now - last_out < cooldown else 0
        decision = step_scaling(
            policy,
            spec.step_scaling_configuration,
            call.threshold,
            value,
            cap,
            now,
            warming,
            last_scale_in=saved.get("lastScaleIn"),
            is_service=target[0] == "Service",
        )
    else:
        assert spec.simple_scaling_configuration is not None
        last = saved.get("lastActivity")
        decision = simple_scaling(policy, spec.simple_scaling_configuration, cap, now, last)
    run.share(Pass).evaluations[target].append(Evaluation(cap, _because(decision, why)))


_SIGNS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def _because(decision: Decision, why: str) -> Decision:
    return replace(decision, reason=f"{why}; {decision.reason}")
