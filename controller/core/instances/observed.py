"""The pool's instances, for EC2 and Auto Scaling alike: containers grouped by instance id
(cached until an engine's cache changes), and the tracker of launches and starts not yet
observed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.instances.instance import ObservedInstance, group_instances
from controller.core.instances.tracker import InstanceTracker

if TYPE_CHECKING:
    from controller.core.controller import Controller


def observed_instances(ctl: Controller) -> dict[str, ObservedInstance]:
    return dict(ctl.grouped("instances", group_instances))


def instances(ctl: Controller) -> InstanceTracker:
    """The tracker of launches, starts and status checks (EC2 registers it as its part)."""
    return ctl.part(InstanceTracker)
