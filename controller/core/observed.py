"""Observed tasks: Skiff-managed containers grouped by the task they belong to.

Built only from container labels, so the grouping is the same before and after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.core import labels as L
from controller.runtime.types import ContainerInfo


@dataclass(frozen=True)
class ObservedTask:
    id: str
    owner_kind: str
    owner: str
    revision: str
    host: str
    containers: Mapping[str, ContainerInfo]  # by container name in the task definition
    spec_hash: str = ""  # of the revision's spec when the task was created
    config: str = ""  # of the service's task-relevant settings when it was created

    @property
    def created_at(self) -> float:
        return min(c.created_at for c in self.containers.values())

    @property
    def started_at(self) -> float | None:
        starts = [c.started_at for c in self.containers.values() if c.started_at]
        return min(starts) if starts else None

    def container_ids(self) -> list[str]:
        return [c.id for c in self.containers.values()]


def group_tasks(containers: Iterable[tuple[str, ContainerInfo]]) -> dict[str, ObservedTask]:
    """(host, container) pairs -> tasks by id. Unmanaged or unlabelled containers are skipped."""
    parts: dict[str, dict[str, ContainerInfo]] = {}
    first: dict[str, tuple[str, ContainerInfo]] = {}
    for host, c in containers:
        task_id = c.labels.get(L.TASK)
        if not L.is_managed(c.labels) or not task_id or L.CONTAINER not in c.labels:
            continue
        parts.setdefault(task_id, {})[c.labels[L.CONTAINER]] = c
        first.setdefault(task_id, (host, c))
    tasks = {}
    for task_id, members in parts.items():
        host, c = first[task_id]
        tasks[task_id] = ObservedTask(
            id=task_id,
            owner_kind=c.labels.get(L.KIND, ""),
            owner=c.labels.get(L.NAME, ""),
            revision=c.labels.get(L.REVISION, ""),
            host=host,
            containers=members,
            spec_hash=c.labels.get(L.SPEC_HASH, ""),
            config=c.labels.get(L.SERVICE_CONFIG, ""),
        )
    return tasks
