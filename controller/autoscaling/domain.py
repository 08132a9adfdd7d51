"""Auto Scaling's entry in the kind registry: AutoScalingGroup, and ScalingPolicy,
ScheduledAction and Alarm, which one pass per metrics period evaluates together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.autoscaling.models.references import scaling_problems
from controller.autoscaling.models.scaling import (
    AlarmSpec,
    ScalingPolicySpec,
    ScheduledActionSpec,
    check_scheduled_action,
)
from controller.autoscaling.sync.group import sync_asg
from controller.autoscaling.sync.scaling import MONITORING, sync_monitoring
from controller.autoscaling.sync.targets import TARGETS
from controller.core.registry import Domain, Entry, Pass
from controller.ec2.models.ec2 import AutoScalingGroupSpec, check_group
from controller.ec2.references import fleet_references
from controller.manifests.kinds import Kind, Manifests, Problems, Resource

if TYPE_CHECKING:
    from controller.core.controller import Controller

# Kinds whose metrics are collected, or that are evaluated, every period.
MONITORED = (
    "AutoScalingGroup",
    "Service",
    "Instance",
    "TargetGroup",
    "Alarm",
    "ScalingPolicy",
    "ScheduledAction",
)


def _references(res: Resource, manifests: Manifests) -> Problems:
    return scaling_problems(res, dict(manifests.resources), set(manifests.claimed))


def _monitoring(ctl: Controller) -> bool:
    return ctl.settings.monitoring and any(k[0] in MONITORED for k in ctl.desired)


def _pass(ctl: Controller) -> float | None:
    return sync_monitoring(ctl) if ctl.settings.monitoring else None


DOMAIN = Domain(
    "autoscaling",
    entries=(
        Entry(
            Kind(
                "AutoScalingGroup",
                AutoScalingGroupSpec,
                check_group,
                references=fleet_references,
            ),
            sync=sync_asg,
            reads=("LaunchTemplate", "TargetGroup", "Host"),
        ),
        Entry(
            Kind("ScalingPolicy", ScalingPolicySpec, references=_references),
            via=MONITORING,
            reads=("AutoScalingGroup", "Service", "Alarm"),
        ),
        Entry(Kind("Alarm", AlarmSpec, references=_references), via=MONITORING),
        Entry(
            Kind(
                "ScheduledAction",
                ScheduledActionSpec,
                check_scheduled_action,
                references=_references,
            ),
            via=MONITORING,
            reads=("AutoScalingGroup", "Service"),
        ),
    ),
    passes=(Pass(MONITORING, _pass, _monitoring),),
    targets=TARGETS,
)
