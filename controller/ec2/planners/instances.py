"""Moved to `controller.core.instances.instance` (issue 14): the instance vocabulary is shared
by EC2 and Auto Scaling. This re-export stays only until the CloudWatch collector and the
preview import it from there; nothing new may import it."""

from controller.core.instances.instance import IMPAIRED, ObservedInstance, group_instances

__all__ = ["IMPAIRED", "ObservedInstance", "group_instances"]
