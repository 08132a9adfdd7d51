"""What ECS publishes to CloudWatch (core/metrics.py): its services' running tasks' containers
to sample, each sharing its task's CPU and memory reservation and counting toward its
service's series, and each service's RunningTaskCount."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from controller.core.metrics import MetricSource, Sampled, SeriesKey
from controller.ecs.sync.state import revision

if TYPE_CHECKING:
    from controller.core.context import Context


def _containers(ctl: Context) -> Iterator[Sampled]:
    for task in ctl.observed_tasks().values():
        if task.owner_kind != "Service":
            continue
        rev = revision(ctl, task.revision)
        cpu = rev.spec.cpu_need / 1024 if rev else 0
        memory = rev.spec.memory_need if rev else 0
        running = [c for c in task.containers.values() if c.running]
        share = 1 / max(1, len(running))  # a task's containers share its reservation
        for c in running:
            series = (("service", task.owner),)
            yield Sampled(task.host, c.id, cpu * share or None, memory * share or None, series)


def _samples(ctl: Context, now: float, memory: dict[str, Any]) -> Iterator[tuple[SeriesKey, float]]:
    for key, st in list(ctl.status.items()):
        if key[0] == "Service":
            yield ("RunningTaskCount", "service", key[1]), float(st.details.get("runningCount", 0))


METRICS = MetricSource(kinds=("Service",), containers=_containers, samples=_samples)
