"""CloudWatch's entry in the kind registry: the Alarm kind, evaluated by the one pass per
metrics period (core/periodic.py), and the samples collection keeps between passes."""

from __future__ import annotations

from controller.cloudwatch.models.alarm import AlarmSpec, alarm_problems
from controller.cloudwatch.sync.collect import new_monitor
from controller.core.periodic import PERIOD
from controller.core.registry import Domain, Entry
from controller.manifests.kinds import Kind, Manifests, Problems, Resource


def _references(res: Resource, manifests: Manifests) -> Problems:
    return alarm_problems(res.spec, manifests.resources, lambda key: manifests.named(*key))


DOMAIN = Domain(
    "cloudwatch",
    entries=(
        Entry(
            Kind("Alarm", AlarmSpec, references=_references),
            via=PERIOD,
            reads=("AutoScalingGroup", "Service", "Instance", "TargetGroup", "ScalingPolicy"),
        ),
    ),
    part=new_monitor,
)
