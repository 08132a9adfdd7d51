"""ECS task state derived from what the task's containers report and what Skiff decided.

Pure: the same containers, record and clock always give the same view. The names follow ECS:
lastStatus PROVISIONING, PENDING, RUNNING, STOPPING, STOPPED; desiredStatus RUNNING or STOPPED;
health HEALTHY, UNHEALTHY or UNKNOWN. When a task counts as healthy follows ECS's
minimumHealthyPercent: once its essential containers' health checks pass, or, with none, once it
has been RUNNING for `healthy_after` seconds (ECS: 40).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from controller.core.labels import PAUSE_CONTAINER
from controller.core.observed import ObservedTask
from controller.ecs.models.task_definition import (
    DEFAULT_STOP_TIMEOUT,
    ContainerDependency,
    TaskDefinitionSpec,
    has_sandbox,
    start_order,
)
from controller.runtime.types import ContainerInfo
from controller.store.records import TaskRecord

PROVISIONING, PENDING, RUNNING, STOPPING, STOPPED = (
    "PROVISIONING",
    "PENDING",
    "RUNNING",
    "STOPPING",
    "STOPPED",
)
HEALTHY, UNHEALTHY, UNKNOWN = "HEALTHY", "UNHEALTHY", "UNKNOWN"
# ECS counts a task with no essential container health check (and no load balancer) toward
# minimumHealthyPercent this long after it reached RUNNING.
HEALTHY_AFTER_SECONDS = 40.0

ESSENTIAL_EXITED = "Essential container in task exited"
HEALTH_CHECK_FAILED = "Task failed container health checks"
# Reasons of stops the scheduler chose; any other reason means the task itself failed.
# A task lost with its host did not fail either: the scheduler gave up on the host.
SCHEDULER_REASONS = ("Scaling activity", "Service was deleted", "Task lost")
# ECS's stopCode: why a task stopped, in one word.
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
TASK_FAILED_TO_START = "TaskFailedToStart"
SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
STOP_CODES = (ESSENTIAL_CONTAINER_EXITED, TASK_FAILED_TO_START, SCHEDULER_INITIATED)
_FAILED_TO_START = ("Task failed to start", "CannotStartContainerError", "Dependency condition")


def stop_code(reason: str) -> str:
    """ECS's stopCode for a stoppedReason: the task's essential container exited, it never
    started, or else the service scheduler stopped it (scale-in, a deployment, failed health
    checks, a lost host, the service deleted)."""
    if reason.startswith((ESSENTIAL_EXITED, "Task network namespace exited")):
        return ESSENTIAL_CONTAINER_EXITED
    if reason.startswith(_FAILED_TO_START):
        return TASK_FAILED_TO_START
    return SCHEDULER_INITIATED


@dataclass(frozen=True)
class TaskView:
    id: str
    revision: str
    host: str
    created_at: float
    started_at: float | None
    last_status: str
    desired_status: str
    health: str
    stopped_reason: str | None = None
    containers: Mapping[str, ContainerInfo] = None  # type: ignore[assignment]
    to_start: tuple[str, ...] = ()  # container ids whose dependencies are now met, in order
    stop_deadline: float | None = None  # when a STOPPING task's containers get SIGKILL
    stop_timeout: float = 0.0  # seconds its running containers get between SIGTERM and SIGKILL
    spec_hash: str = ""  # of the revision spec the task was created from
    config: str = ""  # of the service settings it was created with
    has_health_check: bool = False
    # RUNNING without a health check and not counted healthy yet: the moment it will be.
    healthy_at: float | None = None
    in_flight: bool = False
    stop_recorded: bool = False  # the store already holds desiredStatus STOPPED for it
    recorded: bool = True  # the store holds a record of it (an abandoned launch's has none)

    @property
    def active(self) -> bool:
        """Counts toward the service: wanted running and not stopped."""
        return self.desired_status == RUNNING and self.last_status != STOPPED

    @cached_property  # asked many times a pass, of views kept from pass to pass
    def healthy(self) -> bool:
        """RUNNING and passing its health checks, or, having none, RUNNING long enough: what
        ECS counts toward minimumHealthyPercent and a steady state."""
        if self.last_status != RUNNING or self.desired_status != RUNNING:
            return False
        return self.health == HEALTHY or (self._unchecked and self.turns_healthy_at is None)

    @cached_property
    def turns_healthy_at(self) -> float | None:
        """When this task, RUNNING with nothing checking its health, starts to count as
        healthy; None if it already does or depends on checks (containers', targets')."""
        if self.last_status != RUNNING or self.desired_status != RUNNING or not self._unchecked:
            return None
        return self.healthy_at

    @property
    def _unchecked(self) -> bool:
        return self.health == UNKNOWN and not self.has_health_check

    @property
    def failed(self) -> bool:
        """Stopped because of its own failure, not because the scheduler stopped it."""
        reason = self.stopped_reason or ""
        return (
            self.last_status == STOPPED
            and bool(reason)
            and not reason.startswith(SCHEDULER_REASONS)
        )

    @property
    def stopped_at(self) -> float:
        ends = [c.finished_at for c in (self.containers or {}).values() if c.finished_at]
        return max(ends) if ends else self.created_at

    def running_container_ids(self) -> list[str]:
        """Its containers that still run: the ones a stop must reach (not a dying one)."""
        return [c.id for c in (self.containers or {}).values() if c.running and not c.dying]

    @property
    def held(self) -> bool:
        """Some container of it still holds its place on the engine: running, or dying and
        not yet let go of (`docker ps` still shows it)."""
        return any(c.running for c in (self.containers or {}).values())

    def container_ids(self) -> list[str]:
        return [c.id for c in (self.containers or {}).values()]


def in_flight_view(task_id: str, revision: str, host: str, now: float) -> TaskView:
    """A task the executor launched that observation has not caught up with yet."""
    return TaskView(
        task_id,
        revision,
        host,
        now,
        None,
        PROVISIONING,
        RUNNING,
        UNKNOWN,
        containers={},
        in_flight=True,
    )


def expected_containers(spec: TaskDefinitionSpec) -> list[str]:
    names = start_order(spec)
    return [PAUSE_CONTAINER, *names] if has_sandbox(spec) else names


def view_task(
    task: ObservedTask,
    spec: TaskDefinitionSpec | None,
    record: TaskRecord | None,
    now: float,
    healthy_after: float = HEALTHY_AFTER_SECONDS,
) -> TaskView:
    """`healthy_after`: seconds a task without health checks must have been RUNNING to count
    as healthy. The clock enters the view only through `healthy_at` (task_views.py relies on
    it to keep views from pass to pass)."""
    containers = task.containers
    failure = _failure(containers, spec)
    desired = record.desired_status if record else RUNNING
    running = any(c.running for c in containers.values())
    reason = (record.stopped_reason if record else None) or failure
    if desired == STOPPED or failure:
        desired = STOPPED
        last = STOPPING if running else STOPPED
    elif (
        spec and all(containers[c.name].running for c in spec.container_definitions if c.essential)
    ) or (spec is None and running):
        last = RUNNING
    else:
        last = PENDING
    essentials_hc = [
        containers[c.name]
        for c in (spec.container_definitions if spec else [])
        if c.essential and c.health_check and c.name in containers
    ]
    health = UNKNOWN
    if last == RUNNING and essentials_hc:
        if any(c.health == "unhealthy" for c in essentials_hc):
            health = UNHEALTHY
        elif all(c.health == "healthy" for c in essentials_hc):
            health = HEALTHY
    since = _running_since(containers, spec) if last == RUNNING else None
    healthy_at = None
    if since is not None and not essentials_hc and now < since + healthy_after:
        healthy_at = since + healthy_after
    timeout = _stop_timeout(spec, containers)
    deadline = None
    if last == STOPPING and record and record.stop_requested_at is not None:
        deadline = record.stop_requested_at + timeout
    return TaskView(
        id=task.id,
        revision=task.revision,
        host=task.host,
        created_at=task.created_at,
        started_at=task.started_at,
        last_status=last,
        desired_status=desired,
        health=health,
        stopped_reason=reason if desired == STOPPED else None,
        containers=containers,
        to_start=_ready_to_start(containers, spec) if desired == RUNNING and spec else (),
        stop_deadline=deadline,
        stop_timeout=timeout,
        spec_hash=task.spec_hash,
        config=task.config,
        has_health_check=bool(essentials_hc),
        healthy_at=healthy_at,
        stop_recorded=record is not None and record.desired_status == STOPPED,
        recorded=record is not None,
    )


def _running_since(
    containers: Mapping[str, ContainerInfo], spec: TaskDefinitionSpec | None
) -> float | None:
    """When a RUNNING task reached RUNNING: the start of the last of its essential containers
    (of its running ones when its revision is unknown)."""
    names = (
        [c.name for c in spec.container_definitions if c.essential]
        if spec
        else [n for n, c in containers.items() if c.running]
    )
    starts = [s for n in names if n in containers and (s := containers[n].started_at)]
    return max(starts) if starts else None


def _all_present(containers: Mapping[str, ContainerInfo], spec: TaskDefinitionSpec) -> bool:
    """Whether every container `expected_containers` names exists, without its start order."""
    if has_sandbox(spec) and PAUSE_CONTAINER not in containers:
        return False
    return all(c.name in containers for c in spec.container_definitions)


def _failure(
    containers: Mapping[str, ContainerInfo], spec: TaskDefinitionSpec | None
) -> str | None:
    """Why this task can no longer run, or None while it can."""
    if spec is not None and not _all_present(containers, spec):
        missing = [n for n in expected_containers(spec) if n not in containers]
        if missing:
            return f"Task failed to start: container {missing[0]} was never created"
    for name, c in containers.items():
        if c.failed_to_start:
            return f"CannotStartContainerError: {name}: {c.error}"
    pause = containers.get(PAUSE_CONTAINER)
    if pause is not None and (pause.exited or pause.dying):
        return "Task network namespace exited"
    essentials = (
        [c.name for c in spec.container_definitions if c.essential] if spec else list(containers)
    )
    if any(containers[n].exited or containers[n].dying for n in essentials if n in containers):
        return ESSENTIAL_EXITED
    if spec is not None:
        for cdef in spec.container_definitions:
            if containers[cdef.name].state != "created":
                continue
            for dep in cdef.depends_on:
                if _dependency_broken(dep, containers.get(dep.container_name)):
                    return (
                        f"Dependency condition {dep.condition} of container {cdef.name} "
                        f"on {dep.container_name} cannot be met"
                    )
    return None


def _ready_to_start(
    containers: Mapping[str, ContainerInfo], spec: TaskDefinitionSpec
) -> tuple[str, ...]:
    if not any(c.state == "created" for c in containers.values()):
        return ()  # nothing waits to be started (a task's usual state): skip the start order
    ready = []
    pause = containers.get(PAUSE_CONTAINER)
    if pause is not None and pause.state == "created":
        return (pause.id,)
    if pause is not None and not pause.running:
        return ()
    for name in start_order(spec):
        c = containers[name]
        if c.state != "created" or c.failed_to_start:
            continue
        deps = spec.container(name).depends_on
        if all(_dependency_met(d, containers.get(d.container_name)) for d in deps):
            ready.append(c.id)
    return tuple(ready)


def _dependency_met(dep: ContainerDependency, c: ContainerInfo | None) -> bool:
    if c is None:
        return False
    return {
        "START": c.state != "created",
        "COMPLETE": c.exited,
        "SUCCESS": c.exited and c.exit_code == 0,
        "HEALTHY": c.health == "healthy",
    }[dep.condition]


def _dependency_broken(dep: ContainerDependency, c: ContainerInfo | None) -> bool:
    if c is None:
        return False
    if dep.condition == "SUCCESS":
        return c.exited and c.exit_code != 0
    if dep.condition == "HEALTHY":
        return c.exited or c.health == "unhealthy"
    return False


def _stop_timeout(spec: TaskDefinitionSpec | None, containers: Mapping[str, ContainerInfo]) -> int:
    if spec is None:
        return DEFAULT_STOP_TIMEOUT
    running = [
        c for c in spec.container_definitions if c.name in containers and containers[c.name].running
    ]
    return max((c.effective_stop_timeout for c in running), default=0)
