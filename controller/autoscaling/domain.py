"""Auto Scaling's entry in the kind registry: AutoScalingGroup, and ScalingPolicy and
ScheduledAction, which the one pass per metrics period (core/periodic.py) evaluates with the
alarms; Auto Scaling registers that pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.autoscaling.models.group import AutoScalingGroupSpec, check_group
from controller.autoscaling.models.references import scaling_problems
from controller.autoscaling.models.scaling import (
    ScalingPolicySpec,
    ScheduledActionSpec,
    check_scheduled_action,
)
from controller.autoscaling.sync.group import sync_asg
from controller.autoscaling.sync.scaling import sync_monitoring
from controller.autoscaling.sync.targets import TARGETS
from controller.core.instances.references import fleet_references
from controller.core.periodic import PERIOD
from controller.core.registry import Domain, Entry, Pass
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
            via=PERIOD,
            reads=("AutoScalingGroup", "Service", "Alarm"),
        ),
        Entry(
            Kind(
                "ScheduledAction",
                ScheduledActionSpec,
                check_scheduled_action,
                references=_references,
            ),
            via=PERIOD,
            reads=("AutoScalingGroup", "Service"),
        ),
    ),
    passes=(Pass(PERIOD, _pass, _monitoring),),
    targets=TARGETS,
)
