"""Checks between documents for scaling policies and scheduled actions: what they name
(a group, a service, a target group, an instance, a policy) must exist in the manifests, and a
service they scale must declare its autoScaling bounds.

A resource that is present but invalid (`claimed`) has its own errors; what names it is not
told that it is missing.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.autoscaling.models.scaling import (
    PREDEFINED,
    ScalingPolicySpec,
    ScalingTarget,
    ScheduledActionSpec,
)
from controller.manifests.base import Path, quote
from controller.manifests.capacity import ServiceAutoScaling
from controller.manifests.kinds import Resource, ResourceKey
from controller.manifests.metrics import DIMENSION_KINDS, Metric

Report = Callable[[Path, str], None]


def scaling_problems(
    res: Resource, resources: dict[ResourceKey, Resource], claimed: set[ResourceKey]
) -> list[tuple[Path, str]]:
    """(path under spec, message) for each name that points nowhere."""
    out: list[tuple[Path, str]] = []

    def report(path: Path, message: str) -> None:
        out.append((path, message))

    def exists(key: ResourceKey) -> bool:
        return key in resources or key in claimed

    if res.kind == "ScalingPolicy":
        spec: ScalingPolicySpec = res.spec
        _target(spec.target, resources, exists, report)
        tt = spec.target_tracking_configuration
        if tt is not None:
            if tt.predefined_metric is not None:
                dim = PREDEFINED[tt.predefined_metric][1]
                if dim == "targetGroup" and tt.target_group is not None:
                    _named(
                        ("targetTrackingConfiguration", "targetGroup"),
                        "TargetGroup",
                        tt.target_group,
                        exists,
                        report,
                    )
                elif dim != "targetGroup" and DIMENSION_KINDS[dim] != spec.target.key[0]:
                    report(
                        ("targetTrackingConfiguration", "predefinedMetric"),
                        f"{tt.predefined_metric} is a metric of a "
                        f"{DIMENSION_KINDS[dim]}, but the policy scales a {spec.target.key[0]}",
                    )
            if tt.customized_metric is not None:
                _metric(
                    ("targetTrackingConfiguration", "customizedMetric", "metric"),
                    tt.customized_metric.metric,
                    exists,
                    report,
                )
            if tt.backlog_per_instance is not None:
                _metric(
                    ("targetTrackingConfiguration", "backlogPerInstance", "queue"),
                    tt.backlog_per_instance.queue,
                    exists,
                    report,
                )
        pc = spec.predictive_scaling_configuration
        if pc is not None and pc.target_group is not None:
            _named(
                ("predictiveScalingConfiguration", "targetGroup"),
                "TargetGroup",
                pc.target_group,
                exists,
                report,
            )
    elif res.kind == "ScheduledAction":
        sa: ScheduledActionSpec = res.spec
        _target(sa.target, resources, exists, report)
    return out


def _metric(
    path: Path, metric: Metric, exists: Callable[[ResourceKey], bool], report: Report
) -> None:
    named = metric.named_resource()
    if named is not None:
        dimension, (kind, name) = named
        _named((*path, dimension), kind, name, exists, report)


def _target(
    target: ScalingTarget,
    resources: dict[ResourceKey, Resource],
    exists: Callable[[ResourceKey], bool],
    report: Report,
) -> None:
    kind, name = target.key
    field = "autoScalingGroup" if kind == "AutoScalingGroup" else "service"
    if not _named(("target", field), kind, name, exists, report):
        return
    found = resources.get(target.key)
    if found is not None and kind == "Service":
        bounds: ServiceAutoScaling | None = found.spec.auto_scaling
        if bounds is None:
            report(
                ("target", "service"),
                f"Service {quote(name)} has no autoScaling {{minCapacity, maxCapacity}}: "
                "the bounds "
                "a policy or scheduled action keeps its desiredCount within",
            )


def _named(
    path: Path, kind: str, name: str, exists: Callable[[ResourceKey], bool], report: Report
) -> bool:
    if exists((kind, name)):
        return True
    report(path, f"no {kind} named {quote(name)} in these manifests")
    return False
