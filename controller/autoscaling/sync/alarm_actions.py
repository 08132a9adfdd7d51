"""Alarms in a scaling pass: evaluate each Alarm on its metric's datapoints (CloudWatch's
rules), keep its state across restarts, and run its actions on a state change (and each minute
while it stays in ALARM): an instance action, or a step or simple scaling policy whose decision
joins the pass."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.autoscaling.models.scaling import ScalingPolicySpec
from controller.autoscaling.planners.policies import Decision, simple_scaling, step_scaling
from controller.autoscaling.sync.commands import instance_action
from controller.autoscaling.sync.policy_evaluation import capacity_of
from controller.autoscaling.sync.scaling_state import Evaluation, Pass, kept_state, remember
from controller.cloudwatch.models.alarm import AlarmSpec
from controller.cloudwatch.planners.alarms import (
    breaches,
    datapoints,
    evaluate,
    evaluation_range,
    sustained_actions,
    transition_actions,
)
from controller.cloudwatch.sync.collect import monitor, series_of
from controller.core.outcomes import CommandError

if TYPE_CHECKING:
    from controller.core.controller import Controller

REINVOKE_SECONDS = 60.0  # CloudWatch runs an alarm's Auto Scaling actions again each minute


def evaluate_alarm(ctl: Controller, name: str, spec: AlarmSpec, now: float, work: Pass) -> None:
    key = series_of(spec.metric, ctl)
    span = evaluation_range(spec)
    with monitor(ctl).lock:
        samples = monitor(ctl).history.samples(key, now - spec.period * (span + 1))
        unavailable = monitor(ctl).unavailable.get(key)
    points = datapoints(samples, spec.statistic, spec.period, span, now)
    saved = kept_state(ctl, "Alarm", name)
    previous = saved.get("state", "INSUFFICIENT_DATA")
    verdict = evaluate(spec, points, previous, unavailable=unavailable)
    young = now - monitor(ctl).started < spec.period * (span + 1)
    inherited = "state" in saved and saved.get("since", 0) < monitor(ctl).started
    held = young and inherited and not unavailable and verdict.state != previous
    if held:
        # The daemon has just started: its history is short, not the metric. The alarm keeps
        # its state (and does not run its actions again) until the history covers its range.
        verdict = replace(verdict, state=previous, reason=saved.get("reason", verdict.reason))
    newest_agrees = verdict.newest is not None and (
        breaches(spec, verdict.newest) == (verdict.state == "ALARM")
    )
    if verdict.state != previous:
        actions = transition_actions(spec, previous, verdict.state)
        remember(ctl, "Alarm", name, state=verdict.state, since=now, reason=verdict.reason)
        ctl.actions.record(
            "Alarm", name, "alarm.state", verdict.reason, old=previous, new=verdict.state
        )
    elif not held and newest_agrees and now - saved.get("invoked", now) >= REINVOKE_SECONDS:
        actions = sustained_actions(spec, verdict.state)  # Auto Scaling's, once a minute
    else:
        actions = []
    for action in actions:
        if action.instance_action is not None:
            _instance_action(ctl, name, spec, action.instance_action, key[2])
        elif action.scaling_policy is not None:
            _run_policy(ctl, name, spec, action.scaling_policy, verdict.newest, now, work)
    if actions:
        remember(ctl, "Alarm", name, invoked=now)
    since_state = saved.get("since", now) if verdict.state == previous else now
    ctl.metrics.alarm_state.labels(name).set(
        {"OK": 0, "ALARM": 1, "INSUFFICIENT_DATA": -1}[verdict.state]
    )
    ctl.set_status(
        ("Alarm", name),
        verdict.state,
        verdict.reason,
        metric=spec.metric.label(),
        statistic=spec.statistic,
        period=spec.period,
        threshold=spec.threshold,
        comparisonOperator=spec.comparison_operator,
        datapoints=[None if p is None else round(p, 3) for p in points],
        stateUpdatedAt=since_state,
    )


def _instance_action(
    ctl: Controller, alarm: str, spec: AlarmSpec, action: str, instance_id: str
) -> None:
    try:
        message = instance_action(ctl, instance_id, action)
        ctl.actions.record("Alarm", alarm, f"instance.{action}", message, instance=instance_id)
    except CommandError as exc:
        ctl.actions.record(
            "Alarm", alarm, f"instance.{action}.failed", str(exc), instance=instance_id
        )


def _run_policy(
    ctl: Controller,
    alarm: str,
    alarm_spec: AlarmSpec,
    policy: str,
    value: float | None,
    now: float,
    work: Pass,
) -> None:
    """A step or simple scaling policy, run by its alarm while the alarm is in ALARM."""
    res = ctl.desired.get(("ScalingPolicy", policy))
    if res is None or value is None or not res.spec.enabled:
        return
    spec: ScalingPolicySpec = res.spec
    target = spec.target.key
    cap = capacity_of(ctl, target, spec, now)
    if cap is None:
        return
    why = (
        f"alarm {alarm} in ALARM: {alarm_spec.metric.label()} {value:g} "
        f"{_SIGNS[alarm_spec.comparison_operator]} {alarm_spec.threshold:g}"
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
            alarm_spec.threshold,
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
    work.evaluations[target].append(Evaluation(cap, _because(decision, why)))


_SIGNS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def _because(decision: Decision, why: str) -> Decision:
    return replace(decision, reason=f"{why}; {decision.reason}")
