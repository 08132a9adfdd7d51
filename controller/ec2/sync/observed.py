"""The pool's instances as EC2 sees them: containers grouped by instance id (cached until an
engine's cache changes), and the tracker of launches and starts not yet observed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.ec2.planners.instances import ObservedInstance, group_instances
from controller.ec2.sync.tracker import InstanceTracker

if TYPE_CHECKING:
    from controller.core.controller import Controller


def observed_instances(ctl: Controller) -> dict[str, ObservedInstance]:
    return dict(ctl.grouped("instances", group_instances))


def instances(ctl: Controller) -> InstanceTracker:
    """EC2's tracker of launches, starts and status checks (its part of the controller)."""
    return ctl.part(InstanceTracker)
