"""The load history predictive scaling forecasts from: each period, the load of every group
with a predictive policy (read from CloudWatch through the core's metric reader), folded into
hours in the store."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from controller.core.metrics import reader
from controller.manifests.metrics import Metric

if TYPE_CHECKING:
    from controller.core.context import Context

HOURS_KEPT = 15 * 24  # hourly load history for predictive scaling: AWS uses up to 14 days


def record_load(ctl: Context, now: float) -> None:
    """Load samples of groups with predictive policies, folded into hours in the store."""
    for key, res in list(ctl.desired.items()):
        if key[0] != "ScalingPolicy" or res.spec.predictive_scaling_configuration is None:
            continue
        load = predictive_load(ctl, res.spec, now)
        if load is not None:
            ctl.store.add_metric_sample(predictive_series(res.spec), now, load)
    ctl.store.prune_metric_hours(now - HOURS_KEPT * 3600)


def predictive_series(spec: Any) -> str:
    pc = spec.predictive_scaling_configuration
    group = spec.target.auto_scaling_group
    if pc.predefined_metric == "ALBRequestCount":
        return f"AutoScalingGroup/{group}:ALBRequestCount:{pc.target_group}"
    return f"AutoScalingGroup/{group}:ASGCPUUtilization"


def predictive_load(ctl: Context, spec: Any, now: float) -> float | None:
    """The group's load now: CPU percent times InService instances, or requests at this
    period's rate per hour (the hour's average is then its total)."""
    pc = spec.predictive_scaling_configuration
    group = spec.target.auto_scaling_group
    period = ctl.settings.metrics_period
    if pc.predefined_metric == "ALBRequestCount":
        requests = Metric.model_validate(
            {"metricName": "RequestCount", "targetGroup": pc.target_group}
        )
        got = reader(ctl).samples(ctl, requests, now - period)
        return sum(v for _, v in got) * 3600 / period if got else None  # per hour
    used = Metric.model_validate({"metricName": "CPUUtilization", "autoScalingGroup": group})
    cpu = reader(ctl).samples(ctl, used, now - period)
    if not cpu:
        return None
    st = ctl.status.get(("AutoScalingGroup", group))
    in_service = st.details.get("inServiceCount", 0) if st else 0
    average = sum(v for _, v in cpu) / len(cpu)
    return average * in_service if math.isfinite(average) else None
