"""Alarms in the period's pass: evaluate each Alarm on its metric's datapoints (CloudWatch's
rules, planners/alarms.py), keep its state across restarts (in the store, as PutMetricAlarm
keeps it across edits), and on a state change (and each minute while it stays in ALARM, for
Auto Scaling's actions) invoke its actions through the handlers the services register
(core/metrics.py): a scaling policy, an action on an instance."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from controller.cloudwatch.models.alarm import AlarmAction, AlarmSpec
from controller.cloudwatch.planners.alarms import (
    breaches,
    datapoints,
    evaluate,
    evaluation_range,
    sustained_actions,
    transition_actions,
)
from controller.cloudwatch.sync.collect import monitor, series_of
from controller.core import overrides
from controller.core.metrics import AlarmInvocation, Period, sources

if TYPE_CHECKING:
    from controller.core.context import Context

log = structlog.get_logger("skiff.monitoring")

REINVOKE_SECONDS = 60.0  # CloudWatch runs an alarm's Auto Scaling actions again each minute


def _kept(ctl: Context, name: str) -> dict[str, Any]:
    return overrides.current(ctl.store, "Alarm", name, "Alarm")


def _remember(ctl: Context, name: str, **changes: Any) -> None:
    overrides.put(ctl.store, "Alarm", name, "Alarm", **changes)


def evaluate_alarm(ctl: Context, name: str, spec: AlarmSpec, period: Period) -> None:
    now = period.now
    key = series_of(spec.metric, ctl)
    span = evaluation_range(spec)
    with monitor(ctl).lock:
        samples = monitor(ctl).history.samples(key, now - spec.period * (span + 1))
        unavailable = monitor(ctl).unavailable.get(key)
    points = datapoints(samples, spec.statistic, spec.period, span, now)
    saved = _kept(ctl, name)
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
        _remember(ctl, name, state=verdict.state, since=now, reason=verdict.reason)
        ctl.actions.record(
            "Alarm", name, "alarm.state", verdict.reason, old=previous, new=verdict.state
        )
    elif not held and newest_agrees and now - saved.get("invoked", now) >= REINVOKE_SECONDS:
        actions = sustained_actions(spec, verdict.state)  # Auto Scaling's, once a minute
    else:
        actions = []
    for action in actions:
        _invoke(ctl, name, spec, action, key, verdict.newest, period)
    if actions:
        _remember(ctl, name, invoked=now)
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


def _invoke(
    ctl: Context,
    name: str,
    spec: AlarmSpec,
    action: AlarmAction,
    key: tuple[str, str, str],
    value: float | None,
    period: Period,
) -> None:
    """One action, by the handler of the service that answers it."""
    field, argument = "scalingPolicy", action.scaling_policy or ""
    if action.instance_action is not None:
        field, argument = "instanceAction", action.instance_action
    handlers = [s.actions[field] for _, s in sources(ctl) if field in s.actions]
    if not handlers:
        log.warning("alarm.action.unhandled", alarm=name, action=field)
        return
    call = AlarmInvocation(
        name, argument, spec.metric.label(), key, spec.threshold, spec.comparison_operator, value
    )
    for handler in handlers:
        handler(ctl, call, period)
