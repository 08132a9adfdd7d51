"""The `Service` kind: keep `desiredCount` copies of a task definition running, as ECS does."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field

from controller.manifests.base import Path, ResourceName, SpecModel
from controller.manifests.capacity import MAX_TASKS_PER_SERVICE, ServiceAutoScaling
from controller.manifests.placement import Constraint, Strategy

TASK_DEFINITION_REF = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(:[1-9][0-9]*)?$"


class DeploymentCircuitBreaker(SpecModel):
    enable: bool = False
    """Determines whether to use the deployment circuit breaker logic for the service."""
    rollback: bool = False
    """Determines whether to configure Amazon ECS to roll back the service if a service deployment
    fails."""


class DeploymentConfiguration(SpecModel):
    minimum_healthy_percent: int = Field(
        100, ge=0, le=100, description="Healthy tasks kept during a deployment, rounded up."
    )
    maximum_percent: int = Field(
        200, ge=100, le=2000, description="Running plus pending tasks allowed, rounded down."
    )
    deployment_circuit_breaker: DeploymentCircuitBreaker = Field(
        default_factory=DeploymentCircuitBreaker
    )
    """The deployment circuit breaker determines whether a service deployment will fail if the
    service can't reach a steady state."""


class ServiceLoadBalancer(SpecModel):
    """Service.loadBalancers: which container port of each task goes into which group."""

    target_group: ResourceName
    """The name of the target group to associate with the service."""
    container_name: str
    """The name of the container (as it appears in a container definition) to associate with the
    load balancer."""
    container_port: int = Field(ge=1, le=65535)
    """The port on the container to associate with the load balancer."""


class ServiceSpec(SpecModel):
    task_definition: str = Field(
        pattern=TASK_DEFINITION_REF,
        description="A family (its latest ACTIVE revision) or family:revision.",
    )
    desired_count: int = Field(1, ge=0, le=MAX_TASKS_PER_SERVICE)
    """The number of instantiations of the task definition to keep running on the service."""
    launch_type: Literal["EC2", "FARGATE", "EXTERNAL"] = "EC2"
    """The infrastructure that you run your service on: EC2, FARGATE or EXTERNAL."""
    health_check_grace_period_seconds: int = Field(0, ge=0, le=2_147_483_647)
    """The period of time, in seconds, that the Amazon ECS service scheduler ignores unhealthy
    Elastic Load Balancing target health checks after a task has first started."""
    scale_in_order: Literal["NEWEST_FIRST", "OLDEST_FIRST"] = Field(
        "NEWEST_FIRST", description="Which tasks a scale-in stops first."
    )
    deployment_configuration: DeploymentConfiguration = Field(
        default_factory=DeploymentConfiguration
    )
    """Optional deployment parameters that control how many tasks run during the deployment and the
    ordering of stopping and starting tasks."""
    placement_constraints: list[Constraint] = Field(default_factory=list, max_length=10)
    """An array of placement constraint objects to use for tasks in your service."""
    load_balancers: list[ServiceLoadBalancer] = Field(
        default_factory=list,
        max_length=5,
        description="Target groups each task's container port is registered in.",
    )
    placement_strategy: list[Strategy] = Field(
        default_factory=list,
        max_length=5,
        description="Chained, best effort; default: spread over zones, then hosts.",
    )
    auto_scaling: ServiceAutoScaling | None = Field(
        None, description="minCapacity and maxCapacity for scaling policies."
    )

    @property
    def family(self) -> str:
        return self.task_definition.split(":", 1)[0]

    @property
    def pinned_revision(self) -> int | None:
        _, _, rev = self.task_definition.partition(":")
        return int(rev) if rev else None


def check_service(spec: ServiceSpec) -> list[tuple[Path, str]]:
    """Bounds that contradict each other. Deployment bounds that leave a rollout no room
    (100/100) are accepted, as ECS accepts them: the service's status and events say why its
    deployment cannot proceed."""
    bounds = spec.auto_scaling
    if bounds is not None and bounds.min_capacity > bounds.max_capacity:
        return [
            (
                ("autoScaling", "minCapacity"),
                f"minCapacity ({bounds.min_capacity}) exceeds maxCapacity ({bounds.max_capacity})",
            )
        ]
    return []


def task_config_hash(spec: ServiceSpec) -> str:
    """What of the service itself shapes its tasks (where and how they run): a change starts a
    deployment that replaces them, as ECS's UpdateService does."""
    relevant = {
        "launchType": spec.launch_type,
        "placementConstraints": [c.to_wire() for c in spec.placement_constraints],
        "placementStrategy": [s.to_wire() for s in spec.placement_strategy],
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]
