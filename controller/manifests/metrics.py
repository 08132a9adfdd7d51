"""Metric vocabulary shared by CloudWatch and Auto Scaling: the metrics Skiff measures (by the
dimension they are about), the statistics over them, and the `Metric` model an alarm watches and
a target tracking policy tracks. Both services use it, so it lives here, where each may import it
without importing the other.

A metric is either one Skiff collects (`metricName` with one dimension: an Auto Scaling group,
a service, a target group or an instance) or a `prometheusQuery` against the user's Prometheus
server.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from controller.addresses import http_url_problem
from controller.manifests.base import SpecModel, quote

# Metrics Skiff collects, by the dimension they are about.
GROUP_METRICS = ("CPUUtilization", "MemoryUtilization", "GroupInServiceInstances")
SERVICE_METRICS = ("CPUUtilization", "MemoryUtilization", "RunningTaskCount")
TARGET_GROUP_METRICS = (
    "RequestCount",
    "RequestCountPerTarget",
    "TargetResponseTime",
    "HTTPCode_Target_5XX_Count",
    "HealthyHostCount",
    "UnHealthyHostCount",
)
INSTANCE_METRICS = ("CPUUtilization", "MemoryUtilization", "StatusCheckFailed")
Statistic = Literal["Average", "Maximum", "Minimum", "Sum", "SampleCount"]
STATISTICS: tuple[str, ...] = get_args(Statistic)
# The manifest kind each dimension names.
DIMENSION_KINDS = {
    "autoScalingGroup": "AutoScalingGroup",
    "service": "Service",
    "targetGroup": "TargetGroup",
    "instance": "Instance",
}


class Metric(SpecModel):
    """One metric: Skiff's own (metricName and one dimension) or a Prometheus query."""

    metric_name: str | None = None
    """The name of the metric."""
    auto_scaling_group: str | None = None
    """The AutoScalingGroup dimension: the group's name."""
    service: str | None = None
    """The ServiceName dimension: the ECS service's name."""
    target_group: str | None = None
    """The TargetGroup dimension: the target group's name."""
    instance: str | None = Field(None, description="An Instance manifest's name or an id.")
    prometheus_query: str | None = Field(None, description="A PromQL query giving one value.")
    prometheus_url: str | None = Field(
        None, description="The Prometheus server; default: the daemon's --prometheus-url."
    )

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        problem = None if value is None else http_url_problem(value)
        if problem is not None:
            raise ValueError(f"prometheusUrl {problem}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Metric:
        dims = [d for d in self.dimensions() if d[1] is not None]
        if self.prometheus_query is not None:
            if self.metric_name is not None or dims:
                raise ValueError("prometheusQuery stands alone: no metricName or dimension")
            if not self.prometheus_query.strip():
                raise ValueError("prometheusQuery is empty")
            return self
        if self.prometheus_url is not None:
            raise ValueError("prometheusUrl goes with prometheusQuery")
        if self.metric_name is None:
            raise ValueError("a metric needs metricName (with one dimension) or prometheusQuery")
        if len(dims) != 1:
            raise ValueError(
                "a metric needs exactly one dimension: autoScalingGroup, service, targetGroup "
                "or instance"
            )
        allowed = {
            "autoScalingGroup": GROUP_METRICS,
            "service": SERVICE_METRICS,
            "targetGroup": TARGET_GROUP_METRICS,
            "instance": INSTANCE_METRICS,
        }[dims[0][0]]
        if self.metric_name not in allowed:
            raise ValueError(
                f"unknown metricName {quote(self.metric_name)} for {dims[0][0]}: "
                f"one of {', '.join(allowed)}"
            )
        return self

    def dimensions(self) -> list[tuple[str, str | None]]:
        return [
            ("autoScalingGroup", self.auto_scaling_group),
            ("service", self.service),
            ("targetGroup", self.target_group),
            ("instance", self.instance),
        ]

    def dimension(self) -> tuple[str, str] | None:
        """(dimension, value), or None for a Prometheus query."""
        return next(((k, v) for k, v in self.dimensions() if v is not None), None)

    def named_resource(self) -> tuple[str, tuple[str, str]] | None:
        """(dimension, (kind, name)) of the manifest this metric is about, which must exist;
        None for a Prometheus query or an instance id (instances of groups come and go, so an
        id is not checked against the manifests)."""
        dim = self.dimension()
        if dim is None:
            return None
        name, value = dim
        if name == "instance" and value.startswith("i-"):
            return None
        return name, (DIMENSION_KINDS[name], value)

    def label(self) -> str:
        """How the metric is named in reasons and status."""
        if self.prometheus_query is not None:
            return f"prometheus {self.prometheus_query!r}"
        dim = self.dimension()
        assert dim is not None
        return f"{self.metric_name} ({dim[0]} {dim[1]})"
