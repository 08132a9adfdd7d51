"""Builders for planner tests: task definitions, and containers and tasks as Docker reports them."""

from __future__ import annotations

from typing import Any

from controller.core import labels as L
from controller.core.observed import ObservedTask
from controller.core.placement import HostSlot
from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.ecs.planners.task_definition import ResolvedRevision, spec_hash
from controller.runtime.types import ContainerInfo, PortBinding
from controller.store.records import TaskRecord

T0 = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told: tests drive time instead of sleeping."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def td(**spec: Any) -> TaskDefinitionSpec:
    """A one-container task definition (`app`, 64 MiB) unless told otherwise."""
    spec.setdefault(
        "containerDefinitions",
        [{"name": "app", "image": "skiff/busybox:latest", "memory": 64}],
    )
    return TaskDefinitionSpec.model_validate(spec)


def revision(key: str = "web:1", spec: TaskDefinitionSpec | None = None) -> ResolvedRevision:
    spec = spec or td()
    return ResolvedRevision(key, spec, spec_hash(spec))


def container(
    task_id: str,
    name: str = "app",
    state: str = "running",
    *,
    owner: str = "web",
    rev: str = "web:1",
    health: str = "none",
    exit_code: int | None = None,
    created: float = T0,
    error: str = "",
    ports: tuple[PortBinding, ...] = (),
    managed: bool = True,
) -> ContainerInfo:
    labels = {
        L.CLUSTER: L.DEFAULT_CLUSTER,
        L.KIND: "Service",
        L.NAME: owner,
        L.REVISION: rev,
        L.TASK: task_id,
        L.CONTAINER: name,
    }
    if managed:
        labels[L.MANAGED_BY] = L.MANAGED_BY_VALUE
    return ContainerInfo(
        id=f"{task_id}-{name}",
        name=f"skiff-{owner}-{name}-{task_id}",
        labels=labels,
        image="skiff/busybox:latest",
        state=state,
        health=health,
        exit_code=exit_code if state != "running" else None,
        error=error,
        created_at=created,
        started_at=None if state == "created" else created + 1,
        finished_at=created + 5 if state == "exited" else None,
        ports=ports,
    )


def task(task_id: str, *containers: ContainerInfo, host: str = "h1") -> ObservedTask:
    first = containers[0]
    return ObservedTask(
        id=task_id,
        owner_kind="Service",
        owner=first.labels[L.NAME],
        revision=first.labels[L.REVISION],
        host=host,
        containers={c.labels[L.CONTAINER]: c for c in containers},
    )


def running(
    task_id: str,
    *,
    rev: str = "web:1",
    created: float = T0,
    health: str = "none",
    host: str = "h1",
    owner: str = "web",
) -> ObservedTask:
    return task(
        task_id, container(task_id, rev=rev, created=created, health=health, owner=owner), host=host
    )


def stop_record(
    task_id: str, reason: str, requested: float | None, rev: str = "web:1"
) -> TaskRecord:
    return TaskRecord(task_id, "Service", "web", rev, "h1", "STOPPED", T0, reason, requested)


def hosts(
    *names: str, cpu: int = 4096, memory: int = 8192, address: str = "127.0.0.1", zone: str = "a"
) -> list[HostSlot]:
    return [HostSlot(n, zone, address, cpu, memory) for n in names or ("h1",)]
