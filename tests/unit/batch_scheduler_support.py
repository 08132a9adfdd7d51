"""Helpers the Batch job scheduler tests share: compute environments, job queues, jobs, a host
pool, and running the scheduler and reading its plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.batch.models.batch import ComputeEnvironmentSpec, JobQueueSpec
from controller.batch.planners.scheduler import (
    Candidate,
    SchedulePlan,
    schedule,
)
from controller.core.placement import HostSlot


def ce(max_vcpus: int = 4, **spec: Any) -> ComputeEnvironmentSpec:
    return ComputeEnvironmentSpec.model_validate({"maxvCpus": max_vcpus, **spec})


def jq(*environments: str, priority: int = 1, **spec: Any) -> JobQueueSpec:
    order = [{"order": i, "computeEnvironment": e} for i, e in enumerate(environments, 1)]
    return JobQueueSpec.model_validate(
        {"priority": priority, "computeEnvironmentOrder": order, **spec}
    )


def job(
    job_id: str,
    queue: str = "q",
    at: float = 0.0,
    vcpus: float = 1,
    memory: int = 512,
    share: str | None = None,
    nodes: tuple[tuple[float, int], ...] = (),
) -> Candidate:
    return Candidate(job_id, queue, at, vcpus, memory, share, nodes)


def host(
    name: str, zone: str = "a", vcpus: float = 16, memory: int = 65536, **used: Any
) -> HostSlot:
    return HostSlot(name, zone, "127.0.0.1", int(vcpus * 1024), memory, **used)


POOL = [host("h1")]


def run(
    jobs: Sequence[Candidate],
    queues: Mapping[str, JobQueueSpec],
    environments: Mapping[str, ComputeEnvironmentSpec],
    held: Mapping[str, float] | None = None,
    hosts: Sequence[HostSlot] = POOL,
    **options: Any,
) -> SchedulePlan:
    return schedule(jobs, queues, environments, held or {}, hosts, **options)


def placed(plan: SchedulePlan) -> list[str]:
    return [p.job_id for p in plan.placements]


def where(plan: SchedulePlan) -> dict[str, str]:
    return {p.job_id: p.environment for p in plan.placements}
