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
