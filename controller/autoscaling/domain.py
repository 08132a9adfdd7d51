"""Auto Scaling's entry in the kind registry: AutoScalingGroup, and ScalingPolicy and
ScheduledAction, which its step of the one pass per metrics period (core/periodic.py,
CloudWatch's) evaluates after the alarms; what it publishes to CloudWatch (core/metrics.py);
and how long scaling activities are kept."""

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
from controller.autoscaling.sync.metrics import METRICS
from controller.autoscaling.sync.targets import TARGETS
from controller.core.instances.references import fleet_references
from controller.core.periodic import PERIOD
from controller.core.registry import Domain, Entry, Retention
from controller.manifests.kinds import Kind, Manifests, Problems, Resource

if TYPE_CHECKING:
    from controller.core.context import Context


def _references(res: Resource, manifests: Manifests) -> Problems:
    return scaling_problems(res, dict(manifests.resources), set(manifests.claimed))


def _prune_activities(ctl: Context, limit: int) -> int:
    """Scaling activities that ended more than --activity-retention ago (AWS: 6 weeks)."""
    return ctl.store.prune_activities(ctl.clock() - ctl.settings.activity_retention, limit)


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
    metrics=METRICS,
    targets=TARGETS,
    retention=(Retention("scaling activities", _prune_activities),),
)
