"""Scaling policies that watch their own metric, in a scaling pass: target tracking on its
metric's datapoints (CloudWatch's, read through the core's metric reader), predictive
scaling's forecast floor; and the capacity every policy
evaluation starts from (in service, warming, pending, bounds). Step and simple policies run
when their alarm does (alarm_actions)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from controller.autoscaling.models.scaling import ScalingPolicySpec
from controller.autoscaling.planners.forecast import capacity_for, forecast
from controller.autoscaling.planners.policies import Capacity, Hold, no_change, target_tracking
from controller.autoscaling.sync.load_history import predictive_series
from controller.autoscaling.sync.scaling_state import Evaluation, Pass, kept_state
from controller.core import capacity
from controller.core.metrics import reader
from controller.manifests.kinds import ResourceKey, key_str

if TYPE_CHECKING:
    from controller.core.context import Context

TRACKING_POINTS = 15  # target tracking looks at up to 15 periods (its scale-in alarm's)
DEFAULT_WARMUP = 300.0


def evaluate_policy(
    ctl: Context, name: str, spec: ScalingPolicySpec, now: float, work: Pass
) -> None:
    target = spec.target.key
    if target not in ctl.desired:
        ctl.set_status(("ScalingPolicy", name), "ERROR", f"no {key_str(target)}")
        return
    cap = capacity_of(ctl, target, spec, now)
    if cap is None:
        ctl.set_status(
            ("ScalingPolicy", name), "ACTIVE", f"waiting for {key_str(target)}'s first count"
        )
        return
    tt = spec.target_tracking_configuration
    if tt is not None:
        metric, statistic = _tracked_metric(spec)
        period = ctl.settings.metrics_period
        read = reader(ctl).statistics(ctl, metric, statistic, period, TRACKING_POINTS, now)
        points, unavailable = read.points, read.unavailable
        saved = kept_state(ctl, "ScalingPolicy", name)
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
    # any, is told by apply_new_capacity); until the next one, its status keeps the last one's
    # reason.
    st = ctl.status.get(("ScalingPolicy", name))
    evaluated = st is not None and st.status == "ACTIVE" and "lastEvaluation" in st.details
    ctl.set_status(
        ("ScalingPolicy", name),
        "ACTIVE",
        st.message if st is not None and evaluated else "",
        policyType=spec.policy_type,
        target=key_str(target),
        lastActivity=kept_state(ctl, "ScalingPolicy", name).get("lastActivity"),
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


def capacity_of(
    ctl: Context, target: ResourceKey, spec: ScalingPolicySpec, now: float
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
