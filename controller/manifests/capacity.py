"""Capacity vocabulary shared by ECS, whose services hold tasks, and Auto Scaling, which changes
how many: the most tasks ECS lets one service run, and a service's scalable-target bounds. Both
services check sizes against them, so they live here, where each may import them without
importing the other.
"""

from __future__ import annotations

from pydantic import Field

from controller.manifests.base import SpecModel

# ECS service quotas: "Tasks per service", 5,000.
MAX_TASKS_PER_SERVICE = 5000


class ServiceAutoScaling(SpecModel):
    """Application Auto Scaling's scalable target: the bounds policies and scheduled actions
    keep desiredCount within."""

    min_capacity: int = Field(ge=0, le=MAX_TASKS_PER_SERVICE)
    """The minimum value that you plan to scale in to."""
    max_capacity: int = Field(ge=0, le=MAX_TASKS_PER_SERVICE)
    """The maximum value that you plan to scale out to."""
