"""Moved to `controller.core.instances.observed` (issue 14): observed instances are shared by
EC2 and Auto Scaling. This re-export stays only until the CloudWatch collector imports them
from there; nothing new may import it."""

from controller.core.instances.observed import instances, observed_instances

__all__ = ["instances", "observed_instances"]
