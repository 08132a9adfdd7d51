"""Capacity vocabulary shared by the services that hold capacity (ECS services, EC2 Auto Scaling
groups) and Auto Scaling, which changes it: the most instances or tasks AWS lets one hold, and a
service's scalable-target bounds. Each of those services checks sizes against them, so they live
here, where each may import them without importing the others.
"""

from __future__ import annotations

from pydantic import Field

from controller.manifests.base import SpecModel

# Instances one group may hold. EC2 Auto Scaling sets no figure of its own on a group's size
# (the account's EC2 capacity bounds it); Skiff takes ECS's "container instances per
# cluster" quota, 5,000 (not adjustable), the most instances AWS lets one pool hold.
MAX_GROUP_SIZE = 5000
# ECS service quotas: "Tasks per service", 5,000.
MAX_TASKS_PER_SERVICE = 5000


class ServiceAutoScaling(SpecModel):
    """Application Auto Scaling's scalable target: the bounds policies and scheduled actions
    keep desiredCount within."""

    min_capacity: int = Field(ge=0, le=MAX_TASKS_PER_SERVICE)
    max_capacity: int = Field(ge=0, le=MAX_TASKS_PER_SERVICE)
