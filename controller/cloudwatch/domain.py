"""CloudWatch's entry in the kind registry: the Alarm kind, evaluated by the one pass per
metrics period (core/periodic.py), which CloudWatch registers; the samples collection keeps
between passes; and the metric reader other services read through (core/metrics.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.cloudwatch.models.alarm import AlarmSpec, alarm_problems
from controller.cloudwatch.sync.collect import new_monitor
from controller.cloudwatch.sync.period import monitored, sync_period
from controller.cloudwatch.sync.reading import READER
from controller.core.metrics import MetricSource
from controller.core.periodic import PERIOD
from controller.core.registry import Domain, Entry, Pass
from controller.manifests.kinds import Kind, Manifests, Problems, Resource

if TYPE_CHECKING:
    from controller.core.context import Context


def _references(res: Resource, manifests: Manifests) -> Problems:
    return alarm_problems(res.spec, manifests.resources, lambda key: manifests.named(*key))


def _pass(ctl: Context) -> float | None:
    return sync_period(ctl) if ctl.settings.monitoring else None


DOMAIN = Domain(
    "cloudwatch",
    entries=(
        Entry(
            Kind("Alarm", AlarmSpec, references=_references),
            via=PERIOD,
            reads=("AutoScalingGroup", "Service", "Instance", "TargetGroup", "ScalingPolicy"),
        ),
    ),
    passes=(Pass(PERIOD, _pass, monitored),),
    part=new_monitor,
    metrics=MetricSource(kinds=("Alarm",), reader=READER),
)
