"""CPU and memory utilization from two stats samples: the arithmetic, with fixed numbers."""

from __future__ import annotations

import pytest

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.runtime.types import ContainerStats

GIB = 1024**3


def sample(read: float, cpu_s: float, *, cpus: int = 4, used: int = 0, limit: int = GIB):
    return ContainerStats(
        read=read,
        cpu_total_ns=int(cpu_s * 1e9),
        system_cpu_ns=None,
        online_cpus=cpus,
        memory_used_bytes=used,
        memory_limit_bytes=limit,
    )


def test_half_a_cpu_for_ten_seconds_is_half_of_a_one_cpu_limit() -> None:
    assert cpu_percent(sample(100, 7), sample(110, 12), 1.0) == pytest.approx(50.0)


def test_a_container_at_its_hard_limit_reads_100() -> None:
    assert cpu_percent(sample(100, 0), sample(102, 0.5), 0.25) == pytest.approx(100.0)


def test_without_a_limit_the_host_online_cpus_are_the_capacity() -> None:
    # 2 CPUs busy for 5 s on a 4-CPU host
    assert cpu_percent(sample(0, 0), sample(5, 10), None) == pytest.approx(50.0)


def test_beyond_a_soft_limit_the_figure_exceeds_100_as_ecs_service_cpu_does() -> None:
    assert cpu_percent(sample(0, 0), sample(10, 5), 0.25) == pytest.approx(200.0)


def test_the_wall_time_between_read_stamps_is_the_interval() -> None:
    # the same CPU time over twice the wall time is half the utilization
    assert cpu_percent(sample(0, 0), sample(4, 1), 1.0) == pytest.approx(25.0)
    assert cpu_percent(sample(0, 0), sample(2, 1), 1.0) == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("prev", "cur", "limit"),
    [
        (sample(10, 1), sample(10, 2), 1.0),  # no time between the samples
        (sample(10, 1), sample(5, 2), 1.0),  # out of order
        (sample(0, 50), sample(10, 1), 1.0),  # counter went back: the container restarted
        (sample(0, 0, cpus=0), sample(10, 1, cpus=0), None),  # host CPUs unknown
        (sample(0, 0), sample(10, 1), 0.0),
    ],
)
def test_samples_that_cannot_tell_give_none(
    prev: ContainerStats, cur: ContainerStats, limit: float | None
) -> None:
    assert cpu_percent(prev, cur, limit) is None


def test_an_idle_container_reads_zero() -> None:
    assert cpu_percent(sample(0, 3), sample(60, 3), 2.0) == 0.0


def test_memory_percent_of_an_explicit_limit_and_of_dockers() -> None:
    stats = sample(0, 0, used=256 * 1024**2, limit=GIB)
    assert memory_percent(stats, 512 * 1024**2) == pytest.approx(50.0)
    assert memory_percent(stats) == pytest.approx(25.0)
    assert memory_percent(sample(0, 0, used=1, limit=0)) is None
    assert memory_percent(sample(0, 0, used=2 * GIB), GIB) == pytest.approx(200.0)
