"""The `Alarm` kind: a CloudWatch metric alarm on a metric Skiff measures, with the actions it
runs on entering a state (a scaling policy, or an action on the instance its metric is about).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from controller.manifests.base import Path, SpecModel, quote
from controller.manifests.metrics import Metric, Statistic

# (kind, name): the key of a manifest, as the loader keys its resources.
ResourceKey = tuple[str, str]

Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
COMPARISONS: tuple[str, ...] = get_args(Comparison)


class AlarmAction(SpecModel):
    """What an alarm does on entering a state: execute a scaling policy (StepScaling or
    SimpleScaling), or act on the instance its metric is about."""

    scaling_policy: str | None = None
    """The name of a ScalingPolicy to execute."""
    instance_action: Literal["stop", "terminate", "reboot", "recover"] | None = None
    """An EC2 action on the alarm's instance: stop, terminate, reboot or recover."""

    @model_validator(mode="after")
    def _one(self) -> AlarmAction:
        if (self.scaling_policy is None) == (self.instance_action is None):
            raise ValueError("an action is either scalingPolicy or instanceAction")
        return self


class AlarmSpec(SpecModel):
    metric: Metric
    """The metric the alarm watches."""
    statistic: Statistic = "Average"
    """The statistic for the metric specified in MetricName."""
    period: int = Field(60, ge=1, le=86400, description="Seconds per datapoint.")
    evaluation_periods: int = Field(1, ge=1, le=100)
    """The number of periods over which data is compared to the specified threshold."""
    datapoints_to_alarm: int | None = Field(
        None, ge=1, description="M of the N evaluation periods; default N."
    )
    threshold: float
    """The value against which the specified statistic is compared."""
    comparison_operator: Comparison
    """The arithmetic operation to use when comparing the specified statistic and threshold."""
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] = "missing"
    """Sets how this alarm is to handle missing data points."""
    actions_enabled: bool = True
    """Indicates whether actions should be executed during any changes to the alarm state."""
    alarm_actions: list[AlarmAction] = Field(default_factory=list, max_length=5)
    """The actions to execute when this alarm transitions to the ALARM state."""
    ok_actions: list[AlarmAction] = Field(default_factory=list, max_length=5)
    """The actions to execute when this alarm transitions to an OK state."""
    insufficient_data_actions: list[AlarmAction] = Field(default_factory=list, max_length=5)
    """The actions to execute when this alarm transitions to the INSUFFICIENT_DATA state."""

    @model_validator(mode="after")
    def _datapoints(self) -> AlarmSpec:
        if self.datapoints_to_alarm is not None and (
            self.datapoints_to_alarm > self.evaluation_periods
        ):
            raise ValueError(
                f"datapointsToAlarm ({self.datapoints_to_alarm}) cannot exceed "
                f"evaluationPeriods ({self.evaluation_periods})"
            )
        if self.period * self.evaluation_periods > 7 * 86400:
            raise ValueError("period x evaluationPeriods cannot exceed 7 days")
        for actions in (self.alarm_actions, self.ok_actions, self.insufficient_data_actions):
            for a in actions:
                if a.instance_action is not None and self.metric.instance is None:
                    raise ValueError(
                        f"instanceAction {a.instance_action} needs a metric with an instance "
                        "dimension"
                    )
        return self

    @property
    def m_of_n(self) -> tuple[int, int]:
        n = self.evaluation_periods
        return (self.datapoints_to_alarm or n, n)


def alarm_problems(
    spec: AlarmSpec,
    resources: Mapping[ResourceKey, Any],
    exists: Callable[[ResourceKey], bool],
) -> list[tuple[Path, str]]:
    """Checks between documents for an alarm: the resource its metric is about and the scaling
    policies it runs must exist, and those policies must be ones an alarm runs. `resources` are
    the loader's valid resources by key; `exists` also holds what is present but invalid, which
    has its own errors."""
    problems: list[tuple[Path, str]] = []
    named = spec.metric.named_resource()
    if named is not None and not exists(named[1]):
        kind, name = named[1]
        problems.append((("metric", named[0]), f"no {kind} named {quote(name)} in these manifests"))
    lists = (
        ("alarmActions", spec.alarm_actions),
        ("okActions", spec.ok_actions),
        ("insufficientDataActions", spec.insufficient_data_actions),
    )
    for field, actions in lists:
        for i, action in enumerate(actions):
            if action.scaling_policy is None:
                continue
            key = ("ScalingPolicy", action.scaling_policy)
            path: Path = (field, i, "scalingPolicy")
            policy = resources.get(key)
            if policy is None:
                if not exists(key):
                    problems.append(
                        (path, f"no ScalingPolicy named {quote(action.scaling_policy)}")
                    )
            elif policy.spec.policy_type not in ("StepScaling", "SimpleScaling"):
                problems.append(
                    (
                        path,
                        f"ScalingPolicy {quote(action.scaling_policy)} is "
                        f"{policy.spec.policy_type}; an alarm runs StepScaling or SimpleScaling "
                        "policies (target tracking and predictive policies watch their metrics "
                        "themselves)",
                    )
                )
    return problems
