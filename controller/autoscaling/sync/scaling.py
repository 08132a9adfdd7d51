"""Alarms, scaling policies and scheduled actions: one pass per metrics period.

A pass collects the period's metrics (monitoring.py), evaluates every Alarm (state changes run
its actions: a step or simple scaling policy, or an instance action), asks every target
tracking policy what its target needs, raises groups' floors from predictive forecasts, and
combines the answers per group or service (out if any policy asks, in only if all agree) into
one new capacity, recorded as an activity with its cause. Scheduled actions set min, max and
desired when their time comes. What must survive a restart (alarm states, cooldowns, when a
schedule last fired) is kept in the store, tied to the manifest's version.

Every policy evaluation shows in the policy's status (its reason, and `lastEvaluation`: the
capacity numbers it saw). One that leaves the capacity as it is also goes to the action log as
a debug event, `scaling.no_change`: logged each time, stored in the history (and sent on the
event stream) only when its cause or the capacity numbers differ from the last one stored, so
a policy that holds for days stores one event, not one per pass.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from controller.autoscaling.models.scaling import ScalingPolicySpec, ScheduledActionSpec
from controller.autoscaling.models.schedule import due, next_time
from controller.autoscaling.planners.forecast import capacity_for, forecast
from controller.autoscaling.planners.policies import (
    Capacity,
    Decision,
    Hold,
    combine,
    held,
    no_change,
    simple_scaling,
    step_scaling,
    target_tracking,
)
from controller.autoscaling.sync import capacity
from controller.autoscaling.sync.capacity import CapacityError
from controller.autoscaling.sync.commands import CommandError, instance_action
from controller.cloudwatch.models.alarm import AlarmSpec
from controller.cloudwatch.planners.alarms import (
    breaches,
    datapoints,
    evaluate,
    evaluation_range,
    sustained_actions,
    transition_actions,
)
from controller.cloudwatch.sync.collect import collect, predictive_series, series_of
from controller.core import overrides
from controller.core.outcomes import Retry
from controller.manifests.kinds import ResourceKey, key_str
from controller.runtime import RuntimeFailure
from controller.store import Activity

if TYPE_CHECKING:
    from controller.core.controller import Controller

TRACKING_POINTS = 15  # target tracking looks at up to 15 periods (its scale-in alarm's)
DEFAULT_WARMUP = 300.0
REINVOKE_SECONDS = 60.0  # CloudWatch runs an alarm's Auto Scaling actions again each minute

log = structlog.get_logger("skiff.scaling")


@dataclass(frozen=True)
class Evaluation:
    """One policy's evaluation in a pass: the capacity it saw and what it decided."""

    capacity: Capacity
    decision: Decision


@dataclass
class Pass:
    """What one pass decided, per scaled resource."""

    floors: dict[ResourceKey, tuple[int, int, str]]  # predictive: (floor, max size, reason)
    evaluations: dict[ResourceKey, list[Evaluation]] = field(
        default_factory=lambda: defaultdict(list)
    )


def sync_monitoring(ctl: Controller) -> float | None:
    period = ctl.settings.metrics_period
    now = ctl.clock()
    index = math.floor(now / period)
    if ctl.monitor.evaluated != index:  # once a period, whatever else queues this pass
        ctl.monitor.evaluated = index
        ctl.monitor.started = ctl.monitor.started or now
        collect(ctl, now)
        work = Pass({})
        for key, res in sorted(ctl.desired.items()):
            if key[0] == "Alarm":
                _guarded(ctl, key, _alarm, ctl, key[1], res.spec, now, work)
        for key, res in sorted(ctl.desired.items()):
            if key[0] == "ScalingPolicy" and res.spec.enabled:
                _guarded(ctl, key, _policy, ctl, key[1], res.spec, now, work)
        for target in sorted(set(work.evaluations) | set(work.floors)):
            _guarded(ctl, target, _scale, ctl, target, now, work)
    wake = [period - (now % period)]
    for key, res in sorted(ctl.desired.items()):
        if key[0] == "ScheduledAction":
            at = _guarded(ctl, key, _schedule, ctl, key[1], res.spec, now)
            if at is not None:
                wake.append(max(0.0, at - now))
    _forget_gone(ctl)
    return min(wake)


T = TypeVar("T")


def _guarded(ctl: Controller, key: ResourceKey, step: Callable[..., T], *args: Any) -> T | None:
    """One resource's part of the pass; its failure shows on it and stops nothing else."""
    try:
        return step(*args)
    except (CapacityError, CommandError, RuntimeFailure, Retry, ValueError) as exc:
        log.warning("scaling.failed", resource=key_str(key), error=str(exc))
        if key in ctl.desired and key[0] in ("Alarm", "ScalingPolicy", "ScheduledAction"):
            ctl.set_status(key, "ERROR", str(exc))
        return None


# --- state kept in the store, tied to the manifest's version ----------------------------------


def _basis(ctl: Controller, kind: str, name: str) -> Any:
    """What the kept state answers to: an alarm's state and a policy's cooldowns survive
    edits (as PutMetricAlarm keeps the state); a scheduled action starts again when edited."""
    return ctl.desired[(kind, name)].spec if kind == "ScheduledAction" else kind


def _state(ctl: Controller, kind: str, name: str) -> dict[str, Any]:
    return overrides.current(ctl.store, kind, name, _basis(ctl, kind, name))


def _remember(ctl: Controller, kind: str, name: str, **changes: Any) -> None:
    overrides.put(ctl.store, kind, name, _basis(ctl, kind, name), **changes)


# --- alarms --------------------------------------------------------------------------------------


def _alarm(ctl: Controller, name: str, spec: AlarmSpec, now: float, work: Pass) -> None:
    key = series_of(spec.metric, ctl)
    span = evaluation_range(spec)
    with ctl.monitor.lock:
        samples = ctl.monitor.history.samples(key, now - spec.period * (span + 1))
        unavailable = ctl.monitor.unavailable.get(key)
    points = datapoints(samples, spec.statistic, spec.period, span, now)
    saved = _state(ctl, "Alarm", name)
    previous = saved.get("state", "INSUFFICIENT_DATA")
    verdict = evaluate(spec, points, previous, unavailable=unavailable)
    young = now - ctl.monitor.started < spec.period * (span + 1)
    inherited = "state" in saved and saved.get("since", 0) < ctl.monitor.started
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
        _remember(ctl, "Alarm", name, state=verdict.state, since=now, reason=verdict.reason)
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
        _remember(ctl, "Alarm", name, invoked=now)
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
    cap = _capacity(ctl, target, spec, now)
    if cap is None:
        return
    why = (
        f"alarm {alarm} in ALARM: {alarm_spec.metric.label()} {value:g} "
        f"{_SIGNS[alarm_spec.comparison_operator]} {alarm_spec.threshold:g}"
    )
    saved = _state(ctl, "ScalingPolicy", policy)
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


# --- policies that watch their own metric ------------------------------------------------------


def _policy(ctl: Controller, name: str, spec: ScalingPolicySpec, now: float, work: Pass) -> None:
    target = spec.target.key
    if target not in ctl.desired:
        ctl.set_status(("ScalingPolicy", name), "ERROR", f"no {key_str(target)}")
        return
    cap = _capacity(ctl, target, spec, now)
    if cap is None:
        ctl.set_status(
            ("ScalingPolicy", name), "ACTIVE", f"waiting for {key_str(target)}'s first count"
        )
        return
    tt = spec.target_tracking_configuration
    if tt is not None:
        metric, statistic = _tracked_metric(spec)
        key = series_of(metric, ctl)
        period = ctl.settings.metrics_period
        with ctl.monitor.lock:
            samples = ctl.monitor.history.samples(key, now - period * (TRACKING_POINTS + 1))
            unavailable = ctl.monitor.unavailable.get(key)
        points = datapoints(samples, statistic, period, TRACKING_POINTS, now)
        saved = _state(ctl, "ScalingPolicy", name)
        decision = target_tracking(
            name,
            tt,
            points,
            cap,
            now,
            saved.get("lastScaleOut"),
            saved.get("lastScaleIn"),
            target[0] == "Service",
        )
        if unavailable:
            decision = replace(decision, reason=f"{unavailable}; {decision.reason}")
        work.evaluations[target].append(Evaluation(cap, decision))
        ctl.set_status(
            ("ScalingPolicy", name),
            "ACTIVE",
            decision.reason,
            policyType=spec.policy_type,
            target=key_str(target),
            metric=metric.label(),
            targetValue=tt.target,
            datapoints=[None if p is None else round(p, 3) for p in points[-3:]],
        )
        return
    pc = spec.predictive_scaling_configuration
    if pc is not None:
        history = ctl.store.metric_hours(predictive_series(spec), now - 14 * 86400)
        predicted = forecast(history, now)
        need = capacity_for(pc, predicted, now, cap.desired, cap.min_size, cap.max_size)
        if need.min_capacity is not None:  # a floor also holds up other policies' scale-in
            work.floors[target] = (
                need.min_capacity,
                need.max_size,
                f"policy {name}: {need.reason}",
            )
        if need.min_capacity is None or need.min_capacity <= cap.desired:
            hold: Hold = "already-there"
            if pc.mode == "ForecastOnly":
                hold = "forecast-only"
            elif need.forecast_capacity is None:
                hold = "missing-data"
            elif need.min_capacity == cap.max_size < need.forecast_capacity:
                hold = "at-max"
            decision = no_change(
                name, "PredictiveScaling", need.reason, hold, cap, need.forecast_capacity
            )
            work.evaluations[target].append(Evaluation(cap, decision))
        ctl.set_status(
            ("ScalingPolicy", name),
            "ACTIVE",
            need.reason,
            policyType=spec.policy_type,
            target=key_str(target),
            mode=pc.mode,
            forecastCapacity=need.forecast_capacity,
            forecast=[
                {"time": p.start, "load": round(p.load, 3)}
                for p in getattr(predicted, "points", ())[:48]
            ],
        )
        return
    # A step or simple policy is evaluated when its alarm runs it (this pass's evaluation, if
    # any, is told by _scale); until the next one, its status keeps the last one's reason.
    st = ctl.status.get(("ScalingPolicy", name))
    evaluated = st is not None and st.status == "ACTIVE" and "lastEvaluation" in st.details
    ctl.set_status(
        ("ScalingPolicy", name),
        "ACTIVE",
        st.message if st is not None and evaluated else "",
        policyType=spec.policy_type,
        target=key_str(target),
        lastActivity=_state(ctl, "ScalingPolicy", name).get("lastActivity"),
    )


def _tracked_metric(spec: ScalingPolicySpec) -> tuple[Any, str]:
    from controller.autoscaling.models.scaling import PREDEFINED
    from controller.manifests.metrics import Metric

    tt = spec.target_tracking_configuration
    assert tt is not None
    if tt.customized_metric is not None:
        return tt.customized_metric.metric, tt.customized_metric.statistic
    if tt.backlog_per_instance is not None:
        return tt.backlog_per_instance.queue, "Average"
    assert tt.predefined_metric is not None
    metric_name, dim = PREDEFINED[tt.predefined_metric]
    name = tt.target_group if dim == "targetGroup" else spec.target.key[1]
    # Averages: of instances' or tasks' utilisation, or of requests per target per minute.
    return Metric.model_validate({"metricName": metric_name, dim: name}), "Average"


def _capacity(
    ctl: Controller, target: ResourceKey, spec: ScalingPolicySpec, now: float
) -> Capacity | None:
    res = ctl.desired.get(target)
    if res is None:
        return None
    b = capacity.bounds(ctl, target, res.spec)
    if target[0] == "AutoScalingGroup":
        warmup = _warmup(spec, res.spec)
        records = ctl.store.instances(*target).values()
        alive = [r for r in records if r.lifecycle_state in _ALIVE]
        warming = [
            r
            for r in alive
            if r.lifecycle_state != "InService"
            or (r.in_service_at is not None and now - r.in_service_at < warmup)
        ]
        # Pending and warming instances count as capacity, but their metrics do not yet.
        return Capacity(b.desired, b.min_size, b.max_size, len(alive), len(warming), warmup)
    st = ctl.status.get(target)
    if st is None or "runningCount" not in st.details:
        return None  # not looked at yet (the daemon just started): no count to scale from
    return Capacity(b.desired, b.min_size, b.max_size, int(st.details["runningCount"]), 0)


_ALIVE = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")


def _warmup(spec: ScalingPolicySpec, group: Any) -> float:
    for conf in (spec.target_tracking_configuration, spec.step_scaling_configuration):
        if conf is not None and conf.estimated_instance_warmup is not None:
            return float(conf.estimated_instance_warmup)
    return float(group.health_check_grace_period or DEFAULT_WARMUP)


# --- one new capacity per scaled resource -------------------------------------------------------


def _scale(ctl: Controller, target: ResourceKey, now: float, work: Pass) -> None:
    res = ctl.desired.get(target)
    if res is None:
        return
    b = capacity.bounds(ctl, target, res.spec)
    evaluations = work.evaluations.get(target, [])
    decisions = [e.decision for e in evaluations]
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
    _activity(ctl, target, f"Setting {what} from {b.desired} to {want}", cause, now)
    direction = "lastScaleOut" if want > b.desired else "lastScaleIn"
    for d in decisions:
        if d.desired is not None and ("ScalingPolicy", d.policy) in ctl.desired:
            _remember(
                ctl,
                "ScalingPolicy",
                d.policy,
                **{direction: now, "lastActivity": now, "lastAdded": max(0, want - b.desired)},
            )
    for e in evaluations:
        _evaluated(ctl, target, e, e.decision, now)
    log.info("scaling", target=key_str(target), old=b.desired, new=want, cause=cause)


def _evaluated(
    ctl: Controller, target: ResourceKey, e: Evaluation, decision: Decision, now: float
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
    last = _state(ctl, *key).get("lastNoChange")
    if decision.desired is not None:
        if last is not None:  # the next no-change is news, whatever the one before it was
            _remember(ctl, *key, lastNoChange=None)
        return
    told = [key_str(target), decision.hold, *(numbers[k] for k in _NEWS)]
    if told != last:
        _remember(ctl, *key, lastNoChange=told)
    ctl.actions.record(
        *key,
        "scaling.no_change",
        decision.reason,
        level="debug",
        keep=told != last,
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


def _activity(
    ctl: Controller, target: ResourceKey, description: str, cause: str, now: float
) -> None:
    ctl.store.put_activity(
        Activity(uuid.uuid4().hex, key_str(target), description, cause, "Successful", now, now)
    )
    ctl.actions.record(target[0], target[1], "scaling.activity", cause)
    ctl.queue.add(target)


# --- scheduled actions ---------------------------------------------------------------------------


def _schedule(ctl: Controller, name: str, spec: ScheduledActionSpec, now: float) -> float | None:
    """Fires the action when due; returns when it next fires."""
    saved = _state(ctl, "ScheduledAction", name)
    if "created" not in saved:
        _remember(ctl, "ScheduledAction", name, created=now)
        saved = {"created": now}
    at = due(spec, saved.get("lastFired"), saved["created"], now)
    target = spec.target.key
    res = ctl.desired.get(target)
    if at is not None and res is not None:
        before, after = capacity.change(
            ctl,
            target,
            res.spec,
            desired=spec.desired_capacity,
            min_size=spec.min_size,
            max_size=spec.max_size,
        )
        _remember(ctl, "ScheduledAction", name, lastFired=at)
        what = ", ".join(
            f"{label} {old} -> {new}"
            for label, old, new in (
                ("min", before.min_size, after.min_size),
                ("max", before.max_size, after.max_size),
                ("desired", before.desired, after.desired),
            )
            if old != new
        )
        _activity(
            ctl,
            target,
            f"Executing scheduled action {name}",
            f"scheduled action {name} fired at {_iso(at)}: {what or 'no change'}",
            now,
        )
    upcoming = next_time(spec, now)
    ctl.set_status(
        ("ScheduledAction", name),
        "ACTIVE" if upcoming is not None else "COMPLETED",
        "" if res is not None else f"no {key_str(target)}",
        target=key_str(target),
        nextTime=upcoming,
        lastFired=_state(ctl, "ScheduledAction", name).get("lastFired"),
    )
    return upcoming


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _forget_gone(ctl: Controller) -> None:
    for key in list(ctl.status):
        if key[0] in ("Alarm", "ScalingPolicy", "ScheduledAction") and key not in ctl.desired:
            ctl.forget_status(key)
            ctl.store.delete_override(*key)
            if key[0] == "Alarm":
                try:
                    ctl.metrics.alarm_state.remove(key[1])
                except KeyError:
                    pass
