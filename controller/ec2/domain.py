"""EC2's entry in the kind registry: LaunchTemplate and Instance and their syncs; and, since
the instance tracker (core/instances/) is EC2's part, the owners of instances with work left
and what instances hold on each host, every instance's, groups' too (core/instances/observed.py
computes them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.instances.observed import holdings, owners_with_work
from controller.core.instances.references import fleet_references
from controller.core.instances.tracker import InstanceTracker
from controller.core.instances.versions import InstanceFields, LaunchTemplateFields
from controller.core.registry import Domain, Entry
from controller.ec2.metrics import METRICS
from controller.ec2.models.ec2 import (
    InstanceSpec,
    LaunchTemplateSpec,
    check_instance,
    check_launch_template,
)
from controller.ec2.needs import instance_needs, launch_template_needs
from controller.ec2.sync.instance import sync_instance
from controller.ec2.sync.launch_template import sync_launch_template
from controller.manifests.kinds import Kind

if TYPE_CHECKING:
    from controller.core.context import Context


def _fields(t: LaunchTemplateSpec, i: InstanceSpec) -> tuple[LaunchTemplateFields, InstanceFields]:
    """EC2's manifests give the core's instance machinery what it reads of them (mypy checks
    it here: core/instances/versions.py declares it)."""
    return t, i


def _tracker(ctl: Context) -> InstanceTracker:
    return InstanceTracker(ctl.settings.expectation_ttl, ctl.clock)


DOMAIN = Domain(
    "ec2",
    entries=(
        Entry(
            Kind(
                "LaunchTemplate",
                LaunchTemplateSpec,
                check_launch_template,
                needs=launch_template_needs,
            ),
            sync=sync_launch_template,
        ),
        Entry(
            Kind(
                "Instance",
                InstanceSpec,
                check_instance,
                needs=instance_needs,
                references=fleet_references,
            ),
            sync=sync_instance,
            reads=("LaunchTemplate", "Host"),
        ),
    ),
    keys=owners_with_work,
    holdings=holdings,
    part=_tracker,
    metrics=METRICS,
)
