"""CPU and memory utilization from container stats, as CloudWatch reports them: pure arithmetic.

CPU is a rate, so it takes two samples: the CPU time used between them divided by the wall time
between their `read` stamps and by the CPUs the container may use. Nothing here reads a clock.
"""

from __future__ import annotations

from controller.runtime.types import ContainerStats

_NANO = 1_000_000_000


def cpu_percent(
    prev: ContainerStats, cur: ContainerStats, limit_cpus: float | None
) -> float | None:
    """Percent of `limit_cpus` CPUs (or, when None, of the host's online CPUs) that the
    container used between two samples; None when the samples cannot tell.

    Not clamped: with a hard limit (nano_cpus, as an instance type sets) the kernel keeps the
    figure at 100 or below, give or take a percent of sampling jitter, so an instance reads
    0-100 like EC2's CPUUtilization; with a soft one (CPU shares, as an ECS task's `cpu` is) a
    container may use idle CPUs beyond it and the figure exceeds 100, as ECS' service
    CPUUtilization does (0.5 CPU used against 0.25 reserved is 200).

    None when the second sample is not later than the first, when the counter went backwards
    (the container restarted: a new cgroup counts from zero), or when there is no capacity to
    divide by (limit None and the host's CPU count unknown).
    """
    elapsed_ns = (cur.read - prev.read) * _NANO
    used_ns = cur.cpu_total_ns - prev.cpu_total_ns
    cpus = limit_cpus if limit_cpus is not None else float(cur.online_cpus or prev.online_cpus)
    if elapsed_ns <= 0 or used_ns < 0 or cpus <= 0:
        return None
    return 100.0 * used_ns / (elapsed_ns * cpus)


def memory_percent(stats: ContainerStats, limit_bytes: int | None = None) -> float | None:
    """Percent of `limit_bytes` (or, when None, of the limit Docker reports: the container's
    hard limit, else the host's memory) the container uses, page cache it can drop excluded.

    Not clamped: against a soft reservation usage may exceed 100, as ECS' MemoryUtilization
    does. None when there is no limit to divide by.
    """
    limit = limit_bytes if limit_bytes is not None else stats.memory_limit_bytes
    if limit <= 0:
        return None
    return 100.0 * stats.memory_used_bytes / limit
