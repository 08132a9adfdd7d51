"""The `ScalingPolicy` and `ScheduledAction` kinds: EC2 Auto Scaling and Application Auto Scaling
policies, and scheduled actions, on the metrics Skiff measures.

A policy scales an Auto Scaling group's desiredCapacity or a service's desiredCount (a service's
bounds are its `autoScaling` {minCapacity, maxCapacity}, Application Auto Scaling's scalable
target). The metrics it tracks are the shared `controller.manifests.metrics`; the alarms that
run step and simple policies are CloudWatch's (`controller.cloudwatch.models.alarm`).
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from controller.autoscaling.models.group import MAX_GROUP_SIZE
from controller.autoscaling.models.schedule import parse_cron, parse_time, zone
from controller.manifests.base import Path, SpecModel, quote
from controller.manifests.capacity import MAX_TASKS_PER_SERVICE
from controller.manifests.metrics import Metric, Statistic

# Target tracking's predefined metrics: (metric, dimension it needs).
PREDEFINED = {
    "ASGAverageCPUUtilization": ("CPUUtilization", "autoScalingGroup"),
    "ASGAverageMemoryUtilization": ("MemoryUtilization", "autoScalingGroup"),
    "ALBRequestCountPerTarget": ("RequestCountPerTarget", "targetGroup"),
    "ECSServiceAverageCPUUtilization": ("CPUUtilization", "service"),
    "ECSServiceAverageMemoryUtilization": ("MemoryUtilization", "service"),
}
SIMPLE_COOLDOWN = 300  # seconds, EC2 Auto Scaling's default cooldown
SERVICE_COOLDOWN = 300  # Application Auto Scaling's default scale-out and scale-in cooldowns


class ScalingTarget(SpecModel):
    """What a policy or scheduled action scales: an Auto Scaling group or a service."""

    auto_scaling_group: str | None = None
    """The name of the Auto Scaling group scaled."""
    service: str | None = None
    """The name of the ECS service whose desiredCount is scaled."""

    @model_validator(mode="after")
    def _one(self) -> ScalingTarget:
        if (self.auto_scaling_group is None) == (self.service is None):
            raise ValueError("a target is either autoScalingGroup or service")
        return self

    @property
    def key(self) -> tuple[str, str]:
        if self.auto_scaling_group is not None:
            return ("AutoScalingGroup", self.auto_scaling_group)
        assert self.service is not None
        return ("Service", self.service)


class CustomizedMetric(SpecModel):
    metric: Metric
    """The metric tracked."""
    statistic: Statistic = "Average"
    """The statistic of the metric."""


class BacklogPerInstance(SpecModel):
    """AWS's queue-backlog pattern: backlog per instance = queue depth / InService capacity,
    tracked against acceptable latency / average processing time (or targetValue)."""

    queue: Metric = Field(description="The queue depth: a batch queue's metric or a query.")
    acceptable_latency: float | None = Field(None, gt=0, description="Seconds.")
    average_processing_time: float | None = Field(None, gt=0, description="Seconds per item.")

    @model_validator(mode="after")
    def _pair(self) -> BacklogPerInstance:
        if (self.acceptable_latency is None) != (self.average_processing_time is None):
            raise ValueError("acceptableLatency and averageProcessingTime go together")
        return self


class TargetTracking(SpecModel):
    predefined_metric: str | None = None
    """A predefined metric type, such as ASGAverageCPUUtilization."""
    target_group: str | None = Field(None, description="For ALBRequestCountPerTarget.")
    customized_metric: CustomizedMetric | None = None
    """A customized metric, instead of a predefined one."""
    backlog_per_instance: BacklogPerInstance | None = None
    """Track the queue backlog per instance (queue depth divided by InService capacity)."""
    target_value: float | None = Field(None, gt=0)
    """The target value for the metric."""
    disable_scale_in: bool = False
    """Indicates whether scaling in by the target tracking scaling policy is disabled."""
    estimated_instance_warmup: int | None = Field(
        None, ge=0, description="Seconds (groups); default: the group's grace period or 300."
    )
    scale_out_cooldown: int = Field(SERVICE_COOLDOWN, ge=0, description="Services only.")
    scale_in_cooldown: int = Field(SERVICE_COOLDOWN, ge=0, description="Services only.")

    @field_validator("predefined_metric")
    @classmethod
    def _predefined(cls, value: str | None) -> str | None:
        if value is not None and value not in PREDEFINED:
            raise ValueError(
                f"unknown predefinedMetric {quote(value)}: one of {', '.join(PREDEFINED)}"
            )
        return value

    @model_validator(mode="after")
    def _one_metric(self) -> TargetTracking:
        given = [
            x
            for x in (self.predefined_metric, self.customized_metric, self.backlog_per_instance)
            if x is not None
        ]
        if len(given) != 1:
            raise ValueError("give one of predefinedMetric, customizedMetric or backlogPerInstance")
        if self.predefined_metric == "ALBRequestCountPerTarget" and self.target_group is None:
            raise ValueError("ALBRequestCountPerTarget needs targetGroup")
        if self.target_value is None and not (
            self.backlog_per_instance is not None
            and self.backlog_per_instance.acceptable_latency is not None
        ):
            raise ValueError("targetValue is required (or backlogPerInstance's latency pair)")
        return self

    @property
    def target(self) -> float:
        """targetValue, or acceptable latency / average processing time for a backlog."""
        if self.target_value is not None:
            return self.target_value
        b = self.backlog_per_instance
        assert b is not None and b.acceptable_latency and b.average_processing_time
        return b.acceptable_latency / b.average_processing_time


class StepAdjustment(SpecModel):
    """A step: from lower to upper bound, relative to the alarm's threshold (None: unbounded)."""

    metric_interval_lower_bound: float | None = None
    """The lower bound for the difference between the alarm threshold and the metric value; null is
    negative infinity."""
    metric_interval_upper_bound: float | None = None
    """The upper bound for the difference between the alarm threshold and the metric value; null is
    positive infinity."""
    scaling_adjustment: int
    """The amount by which to scale, based on the specified adjustment type."""

    @model_validator(mode="after")
    def _bounds(self) -> StepAdjustment:
        lo, hi = self.metric_interval_lower_bound, self.metric_interval_upper_bound
        if lo is None and hi is None:
            raise ValueError("a step needs a lower or an upper bound")
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError("metricIntervalLowerBound must be below metricIntervalUpperBound")
        return self


AdjustmentType = Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]


class StepScaling(SpecModel):
    adjustment_type: AdjustmentType = "ChangeInCapacity"
    """Whether the adjustment is an absolute number or a percentage of the current capacity."""
    step_adjustments: list[StepAdjustment] = Field(min_length=1, max_length=20)
    """A set of adjustments that enable you to scale based on the size of the alarm breach."""
    min_adjustment_magnitude: int | None = Field(None, ge=1)
    """The minimum value to scale by when the adjustment type is PercentChangeInCapacity."""
    estimated_instance_warmup: int | None = Field(None, ge=0)
    """The estimated time, in seconds, until a newly launched instance can contribute to the
    metrics."""
    cooldown: int = Field(SERVICE_COOLDOWN, ge=0, description="Services only.")

    @model_validator(mode="after")
    def _steps(self) -> StepScaling:
        _check_steps(self.step_adjustments)
        _check_adjustment(
            self.adjustment_type,
            [s.scaling_adjustment for s in self.step_adjustments],
            self.min_adjustment_magnitude,
        )
        return self


def _check_steps(steps: list[StepAdjustment]) -> None:
    """AWS's rules: the steps do not overlap, leave no gap, and at most one is unbounded on
    each side."""
    spans = sorted(
        (
            s.metric_interval_lower_bound
            if s.metric_interval_lower_bound is not None
            else float("-inf"),
            s.metric_interval_upper_bound
            if s.metric_interval_upper_bound is not None
            else float("inf"),
        )
        for s in steps
    )
    for (_, hi1), (lo2, _) in itertools.pairwise(spans):
        if lo2 < hi1:
            raise ValueError(f"step adjustments overlap at {lo2:g}")
        if lo2 > hi1:
            raise ValueError(f"step adjustments leave a gap between {hi1:g} and {lo2:g}")
    if spans[-1][1] != float("inf") and spans[-1][1] > 0:
        raise ValueError(
            "the highest step needs no metricIntervalUpperBound (it takes every larger breach)"
        )
    if spans[0][0] != float("-inf") and spans[0][0] < 0:
        raise ValueError(
            "the lowest step needs no metricIntervalLowerBound (it takes every larger breach "
            "below the threshold)"
        )


class SimpleScaling(SpecModel):
    adjustment_type: AdjustmentType = "ChangeInCapacity"
    """Whether the adjustment is an absolute number or a percentage of the current capacity."""
    scaling_adjustment: int
    """The amount by which to scale, based on the specified adjustment type."""
    min_adjustment_magnitude: int | None = Field(None, ge=1)
    """The minimum value to scale by when the adjustment type is PercentChangeInCapacity."""
    cooldown: int = Field(SIMPLE_COOLDOWN, ge=0)
    """The duration of the policy's cooldown period, in seconds."""

    @model_validator(mode="after")
    def _adjustment(self) -> SimpleScaling:
        _check_adjustment(
            self.adjustment_type, [self.scaling_adjustment], self.min_adjustment_magnitude
        )
        return self


def _check_adjustment(kind: str, adjustments: list[int], magnitude: int | None) -> None:
    """AWS's rules: ExactCapacity is never negative; a minimum magnitude goes with a percent."""
    if kind == "ExactCapacity" and any(a < 0 for a in adjustments):
        raise ValueError("an ExactCapacity scalingAdjustment cannot be negative")
    if magnitude is not None and kind != "PercentChangeInCapacity":
        raise ValueError("minAdjustmentMagnitude goes with PercentChangeInCapacity")


class PredictiveScaling(SpecModel):
    predefined_metric: Literal["ASGCPUUtilization", "ALBRequestCount"] = "ASGCPUUtilization"
    """The metric pair forecast: the group's CPU or its load balancer's request count."""
    target_group: str | None = Field(None, description="For ALBRequestCount.")
    target_value: float = Field(
        gt=0,
        description="CPU % per instance (ASGCPUUtilization) or requests per instance per "
        "minute (ALBRequestCount).",
    )
    mode: Literal["ForecastOnly", "ForecastAndScale"] = "ForecastOnly"
    """The predictive scaling mode: ForecastOnly, or ForecastAndScale to act on the forecast."""
    scheduling_buffer_time: int = Field(
        300, ge=0, lt=3600, description="Seconds ahead of the forecast hour to launch."
    )
    max_capacity_breach_behavior: Literal["HonorMaxCapacity", "IncreaseMaxCapacity"] = (
        "HonorMaxCapacity"
    )
    """Whether the forecast capacity may exceed the group's maximum capacity."""
    max_capacity_buffer: int | None = Field(
        None, ge=0, le=100, description="Percent over the forecast (IncreaseMaxCapacity only)."
    )

    @model_validator(mode="after")
    def _group(self) -> PredictiveScaling:
        if self.predefined_metric == "ALBRequestCount" and self.target_group is None:
            raise ValueError("ALBRequestCount needs targetGroup")
        if (self.max_capacity_buffer is not None) != (
            self.max_capacity_breach_behavior == "IncreaseMaxCapacity"
        ):
            raise ValueError("maxCapacityBuffer goes with IncreaseMaxCapacity, and only with it")
        return self


class ScalingPolicySpec(SpecModel):
    target: ScalingTarget
    """What the policy scales: an Auto Scaling group or a service."""
    policy_type: Literal[
        "TargetTrackingScaling", "StepScaling", "SimpleScaling", "PredictiveScaling"
    ]
    """One of the following policy types: TargetTrackingScaling, StepScaling, SimpleScaling,
    PredictiveScaling."""
    target_tracking_configuration: TargetTracking | None = None
    """A target tracking scaling policy's configuration."""
    step_scaling_configuration: StepScaling | None = None
    """A step scaling policy's configuration."""
    simple_scaling_configuration: SimpleScaling | None = None
    """A simple scaling policy's configuration."""
    predictive_scaling_configuration: PredictiveScaling | None = None
    """A predictive scaling policy's configuration."""
    enabled: bool = True
    """Indicates whether the scaling policy is enabled or disabled."""

    @model_validator(mode="after")
    def _configuration(self) -> ScalingPolicySpec:
        wanted = {
            "TargetTrackingScaling": "targetTrackingConfiguration",
            "StepScaling": "stepScalingConfiguration",
            "SimpleScaling": "simpleScalingConfiguration",
            "PredictiveScaling": "predictiveScalingConfiguration",
        }
        given = {
            "targetTrackingConfiguration": self.target_tracking_configuration,
            "stepScalingConfiguration": self.step_scaling_configuration,
            "simpleScalingConfiguration": self.simple_scaling_configuration,
            "predictiveScalingConfiguration": self.predictive_scaling_configuration,
        }
        need = wanted[self.policy_type]
        if given[need] is None:
            raise ValueError(f"policyType {self.policy_type} needs {need}")
        extra = [k for k, v in given.items() if v is not None and k != need]
        if extra:
            raise ValueError(f"policyType {self.policy_type} takes no {extra[0]}")
        if self.policy_type == "PredictiveScaling" and self.target.service is not None:
            raise ValueError("PredictiveScaling scales Auto Scaling groups only")
        return self


class ScheduledActionSpec(SpecModel):
    """EC2 Auto Scaling's scheduled action: a cron `recurrence` (five fields, in timeZone) or a
    one-time `startTime`; it sets any of minSize, maxSize and desiredCapacity (for a service:
    its autoScaling bounds and desiredCount)."""

    target: ScalingTarget
    """What the scheduled action scales: an Auto Scaling group or a service."""
    recurrence: str | None = Field(None, description="Unix cron: minute hour day month weekday.")
    start_time: str | None = Field(
        None, description="ISO 8601; the one time, or when a recurrence begins."
    )
    end_time: str | None = Field(None, description="ISO 8601; when a recurrence stops.")
    time_zone: str = Field("UTC", description="An IANA time zone, for recurrence and times.")
    min_size: int | None = Field(None, ge=0)
    """The minimum size of the target at the scheduled time."""
    max_size: int | None = Field(None, ge=0)
    """The maximum size of the target at the scheduled time."""
    desired_capacity: int | None = Field(None, ge=0)
    """The desired capacity set at the scheduled time."""

    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _yaml_time(cls, value: object) -> object:
        """YAML reads an unquoted 2024-06-01T08:00:00Z as a timestamp: take it as the ISO 8601
        text it was (a time without offset stays a wall-clock time in timeZone)."""
        if isinstance(value, date):  # datetime included
            return value.isoformat()
        return value

    @field_validator("recurrence")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cron(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _when_and_what(self) -> ScheduledActionSpec:
        if self.recurrence is None and self.start_time is None:
            raise ValueError("a scheduled action needs recurrence or startTime")
        start = parse_time(self.start_time, self.time_zone) if self.start_time else None
        end = parse_time(self.end_time, self.time_zone) if self.end_time else None
        if end is not None and self.recurrence is None:
            raise ValueError("endTime goes with recurrence (a one-time action has none)")
        if start is not None and end is not None and end <= start:
            raise ValueError(f"endTime {self.end_time} is not after startTime {self.start_time}")
        if self.min_size is None and self.max_size is None and self.desired_capacity is None:
            raise ValueError("a scheduled action sets minSize, maxSize or desiredCapacity")
        if (
            self.min_size is not None
            and self.max_size is not None
            and (self.min_size > self.max_size)
        ):
            raise ValueError(f"minSize ({self.min_size}) exceeds maxSize ({self.max_size})")
        return self


def check_scheduled_action(spec: ScheduledActionSpec) -> list[tuple[Path, str]]:
    """Sizes its target could never take: a group holds at most MAX_GROUP_SIZE instances, a
    service runs at most MAX_TASKS_PER_SERVICE tasks."""
    group = spec.target.auto_scaling_group is not None
    limit = MAX_GROUP_SIZE if group else MAX_TASKS_PER_SERVICE
    what = "an Auto Scaling group holds" if group else "a service runs"
    sizes = {
        "minSize": spec.min_size,
        "maxSize": spec.max_size,
        "desiredCapacity": spec.desired_capacity,
    }
    return [
        ((field,), f"{field} {size} is more than {what} ({limit})")
        for field, size in sizes.items()
        if size is not None and size > limit
    ]
