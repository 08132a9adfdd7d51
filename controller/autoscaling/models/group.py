"""The `AutoScalingGroup` kind: EC2 Auto Scaling's group of instances launched from a launch
template, with its sizes, lifecycle hooks, target groups, termination policies and suspended
processes. Field names follow the Auto Scaling API.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from controller.manifests.base import Path, SpecModel, quote
from controller.manifests.templates import TemplateRef

# Instances one group may hold. EC2 Auto Scaling sets no figure of its own on a group's size
# (the account's EC2 capacity bounds it); Skiff takes ECS's "container instances per
# cluster" quota, 5,000 (not adjustable), the most instances AWS lets one pool hold.
MAX_GROUP_SIZE = 5000

PROCESSES = (
    "Launch",
    "Terminate",
    "HealthCheck",
    "ReplaceUnhealthy",
    "AZRebalance",
    "AddToLoadBalancer",
    "InstanceRefresh",
)
TERMINATION_POLICIES = (
    "Default",
    "OldestInstance",
    "NewestInstance",
    "OldestLaunchTemplate",
    "ClosestToNextInstanceHour",
)


class LifecycleHook(SpecModel):
    lifecycle_hook_name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,255}$")
    """The name of the lifecycle hook."""
    lifecycle_transition: Literal[
        "autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"
    ]
    """The lifecycle transition the hook pauses instances at: launching or terminating."""
    heartbeat_timeout: int = Field(3600, ge=30, le=7200)
    """The maximum time, in seconds, that can elapse before the lifecycle hook times out."""
    default_result: Literal["CONTINUE", "ABANDON"] = "ABANDON"
    """The action the Auto Scaling group takes when the lifecycle hook timeout elapses: CONTINUE or
    ABANDON."""


class GroupTargetGroup(SpecModel):
    target_group: str
    """The name of a TargetGroup the group's instances are registered with."""
    port: int = Field(ge=1, le=65535, description="The instance's container port to register.")


class InstanceRefreshPreferences(SpecModel):
    min_healthy_percentage: int = Field(90, ge=0, le=100)
    """The amount of capacity, as a percentage of the desired capacity, that must remain healthy
    during an instance refresh."""


class AutoScalingGroupSpec(SpecModel):
    launch_template: TemplateRef
    """The launch template the group launches its instances from."""
    min_size: int = Field(ge=0)
    """The minimum size of the group."""
    max_size: int = Field(ge=0)
    """The maximum size of the group."""
    desired_capacity: int | None = Field(None, ge=0, description="Default: minSize.")
    availability_zones: list[str] = Field(min_length=1, description="Zones of the pool's hosts.")
    health_check_type: Literal["EC2", "ELB"] = "EC2"
    """Whether the group replaces instances on EC2 status checks alone or also on its target groups'
    health checks (ELB)."""
    health_check_grace_period: int = Field(0, ge=0, description="Seconds (0 through the API).")
    target_groups: list[GroupTargetGroup] = Field(default_factory=list)
    """The target groups the group's instances are registered with."""
    termination_policies: list[str] = Field(default_factory=lambda: ["Default"])
    """The policies that decide which instances to terminate first when the group scales in."""
    new_instances_protected_from_scale_in: bool = False
    """Whether newly launched instances are protected from termination by Amazon EC2 Auto Scaling
    when scaling in."""
    lifecycle_hooks: list[LifecycleHook] = Field(default_factory=list, max_length=50)
    """Lifecycle hooks that pause instances as they launch or terminate."""
    suspended_processes: list[str] = Field(default_factory=list)
    """The scaling processes suspended for the group (Launch, Terminate, HealthCheck, ...)."""
    instance_refresh: InstanceRefreshPreferences = Field(default_factory=InstanceRefreshPreferences)
    """The preferences of the group's instance refreshes."""

    @field_validator("termination_policies")
    @classmethod
    def _policies(cls, value: list[str]) -> list[str]:
        for p in value:
            if p not in TERMINATION_POLICIES:
                raise ValueError(
                    f"unknown termination policy {quote(p)}: {', '.join(TERMINATION_POLICIES)}"
                )
        return value or ["Default"]

    @field_validator("suspended_processes")
    @classmethod
    def _processes(cls, value: list[str]) -> list[str]:
        for p in value:
            if p not in PROCESSES:
                raise ValueError(f"unknown process {quote(p)}: {', '.join(PROCESSES)}")
        return value

    @property
    def capacity(self) -> int:
        return self.min_size if self.desired_capacity is None else self.desired_capacity

    def hook(self, transition: str) -> LifecycleHook | None:
        return next((h for h in self.lifecycle_hooks if h.lifecycle_transition == transition), None)


def check_group(spec: AutoScalingGroupSpec) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    sizes = {
        "minSize": spec.min_size,
        "maxSize": spec.max_size,
        "desiredCapacity": spec.desired_capacity,
    }
    for field, size in sizes.items():
        if size is not None and size > MAX_GROUP_SIZE:
            problems.append(
                ((field,), f"{field} {size} is more than a group holds ({MAX_GROUP_SIZE})")
            )
    if spec.min_size > spec.max_size:
        problems.append(
            (("minSize",), f"minSize {spec.min_size} is greater than maxSize {spec.max_size}")
        )
    elif not spec.min_size <= spec.capacity <= spec.max_size:
        problems.append(
            (
                ("desiredCapacity",),
                f"desiredCapacity {spec.capacity} is outside [{spec.min_size}, {spec.max_size}]",
            )
        )
    seen: set[str] = set()
    for i, h in enumerate(spec.lifecycle_hooks):
        if h.lifecycle_transition in seen:
            problems.append(
                (
                    ("lifecycleHooks", i, "lifecycleTransition"),
                    f"a second {h.lifecycle_transition} hook: Skiff runs one hook per transition",
                )
            )
        seen.add(h.lifecycle_transition)
    names = [h.lifecycle_hook_name for h in spec.lifecycle_hooks]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(
                (("lifecycleHooks", i, "lifecycleHookName"), f"duplicate hook {quote(name)}")
            )
    return problems
