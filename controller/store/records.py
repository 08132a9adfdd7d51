"""Rows of the store as frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Revision:
    """One immutable task-definition revision (`family:number`)."""

    family: str
    number: int
    spec: dict[str, Any]
    spec_hash: str
    status: str  # ACTIVE | INACTIVE
    registered_at: float
    deregistered_at: float | None = None

    @property
    def key(self) -> str:
        return f"{self.family}:{self.number}"


@dataclass(frozen=True)
class TaskRecord:
    """What Skiff decided about a task, which container state alone cannot tell."""

    task_id: str
    owner_kind: str
    owner: str
    revision: str
    host: str
    desired_status: str  # RUNNING | STOPPED
    created_at: float
    stopped_reason: str | None = None
    stop_requested_at: float | None = None


@dataclass(frozen=True)
class EventRecord:
    at: float
    kind: str
    name: str
    action: str
    reason: str
    message: str = ""
    detail: str = ""  # JSON: what the event stream sends as the event's detail ("" = built)


@dataclass(frozen=True)
class Deployment:
    id: str
    revision: str  # the task definition revision it runs
    requested: str  # what the manifest asked for when it began (differs after a rollback)
    status: str  # PRIMARY | ACTIVE | INACTIVE
    rollout_state: str  # IN_PROGRESS | COMPLETED | FAILED
    reason: str
    created_at: float
    updated_at: float
    failed_tasks: tuple[str, ...] = ()  # ids of its tasks that failed while it rolled out
    quick_failures: int = 0  # tasks that failed to start, in a row
    last_failure_at: float | None = None
    running: int = 0
    pending: int = 0
    config: str = ""  # hash of the service's task-relevant settings it was made for


@dataclass(frozen=True)
class TemplateVersion:
    """One immutable launch template version (`name` version `number`)."""

    name: str
    number: int
    data: dict[str, Any]
    data_hash: str
    created_at: float


@dataclass(frozen=True)
class InstanceRecord:
    """What Skiff decided about an instance, which its container alone cannot tell."""

    instance_id: str
    owner_kind: str  # Instance | AutoScalingGroup
    owner: str
    template: str  # name:version, or "" for inline settings
    zone: str
    host: str
    desired_state: str  # running | stopped | terminated
    launched_at: float
    state_reason: str = ""
    lifecycle_state: str = ""  # an Auto Scaling group's: Pending, Pending:Wait, InService, ...
    hook_deadline: float | None = None  # a lifecycle hook's heartbeat timeout
    hook_result: str = ""  # CONTINUE | ABANDON, once completed
    protected: bool = False  # from scale-in
    health: str = "Healthy"  # Healthy | Unhealthy
    terminated_at: float | None = None
    stop_requested_at: float | None = None
    in_service_at: float | None = None  # the health check grace period counts from here


@dataclass(frozen=True)
class Activity:
    """A scaling activity, as DescribeScalingActivities lists them."""

    activity_id: str
    owner: str
    description: str
    cause: str
    status: str  # InProgress | Successful | Failed | Cancelled
    start: float
    end: float | None = None
