"""What Auto Scaling brings to CloudWatch (core/metrics.py): each group's
GroupInServiceInstances, the metrics its target tracking policies read (CloudWatch asks their
Prometheus queries each period), the alarm actions it answers (scalingPolicy, and
instanceAction: the instance commands live with its fleet's), and its step of the period's
pass: scaling policies and scheduled actions. Its groups' instances' CPU and memory are
published by EC2, under the group's dimension while they are InService."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from controller.autoscaling.sync.alarm_actions import run_instance_action, run_policy
from controller.autoscaling.sync.scaling import scaling_step
from controller.core.metrics import MetricSource, SeriesKey
from controller.manifests.metrics import Metric

if TYPE_CHECKING:
    from controller.core.context import Context


def _samples(ctl: Context, now: float, memory: dict[str, Any]) -> Iterator[tuple[SeriesKey, float]]:
    for key, st in list(ctl.status.items()):
        if key[0] == "AutoScalingGroup":
            in_service = float(st.details.get("inServiceCount", 0))
            yield ("GroupInServiceInstances", "autoScalingGroup", key[1]), in_service


def _reads(ctl: Context) -> Iterator[Metric]:
    for key, res in list(ctl.desired.items()):
        if key[0] == "ScalingPolicy":
            tt = res.spec.target_tracking_configuration
            if tt is not None and tt.customized_metric is not None:
                yield tt.customized_metric.metric
            if tt is not None and tt.backlog_per_instance is not None:
                yield tt.backlog_per_instance.queue


METRICS = MetricSource(
    kinds=("AutoScalingGroup", "ScalingPolicy", "ScheduledAction"),
    samples=_samples,
    reads=_reads,
    actions={"scalingPolicy": run_policy, "instanceAction": run_instance_action},
    step=scaling_step,
)
