"""The cgroup reader on this machine's real cgroups agrees with Docker's stats API on the same
containers: the CPU counter Docker reports lies between two cgroup reads taken around its call,
the utilisation over the same interval matches (in a window in which the busy one got its
limit), and memory matches within a MiB or two."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.runtime.cgroups import CgroupReader
from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.errors import Conflict
from controller.runtime.types import ContainerInfo, ContainerStats
from tests.support.cpu_window import in_a_full_window
from tests.support.daemon import wait_for
from tests.support.documents import IMAGE

pytestmark = pytest.mark.integration

HALF_A_CPU = 500_000_000
MIB = 1024 * 1024
CACHE_WRITTEN = "[ $(stat -c %s /tmp/cache) -eq 33554432 ]"


@pytest.fixture
def engine() -> Iterator[tuple[DockerRuntime, Any, str]]:
    client = docker.from_env()
    backend = DockerRuntime()
    prefix = f"t{uuid.uuid4().hex[:6]}-cgroup-"
    try:
        yield backend, client, prefix
    finally:
        for c in client.containers.list(all=True, filters={"name": prefix}):
            c.remove(force=True)
        backend.close()
        client.close()


def _run(client: Any, name: str, script: str) -> str:
    # `timeout` bounds the container's life even if the test's cleanup never runs
    c = client.containers.run(
        IMAGE,
        ["timeout", "300", "sh", "-c", script],
        name=name,
        detach=True,
        nano_cpus=HALF_A_CPU,
        mem_limit="128m",
    )
    return str(c.id)


Bracket = tuple[ContainerStats, ContainerStats, ContainerStats]


def _bracketed(reader: CgroupReader, backend: DockerRuntime, info: ContainerInfo) -> Bracket:
    """A cgroup read, Docker's stats, a cgroup read: Docker's counters were read in between."""
    before = reader.stats(info)
    api = backend.stats(info.id)
    after = reader.stats(info)
    return before, api, after


def test_cgroup_files_and_docker_stats_agree_on_the_same_containers(
    engine: tuple[DockerRuntime, Any, str],
) -> None:
    backend, client, prefix = engine
    reader = backend.cgroups()
    assert reader is not None, "the local engine's containers have cgroup files on this machine"
    busy = _run(client, prefix + "busy", "while :; do :; done")
    # 48 MiB it cannot give back (shared memory) and 32 MiB of file cache it can, which
    # `docker stats` does not count as use
    held = _run(
        client,
        prefix + "mem",
        "dd if=/dev/zero of=/dev/shm/held bs=1M count=48 && "
        "dd if=/dev/zero of=/tmp/cache bs=1M count=32 && sleep 300",
    )
    infos = {cid: backend.inspect(cid) for cid in (busy, held)}
    assert all(i.pid > 0 for i in infos.values())
    wait_for(
        lambda: (
            client.containers.get(held).exec_run(["sh", "-c", CACHE_WRITTEN]).exit_code == 0
            and reader.stats(infos[held]).memory_used_bytes > 48 * MIB
        ),
        timeout=30,
        what="the memory holder to hold its 48 MiB and write its file",
    )

    def window() -> tuple[float, tuple[dict[str, Bracket], dict[str, Bracket]]]:
        first = {cid: _bracketed(reader, backend, info) for cid, info in infos.items()}
        time.sleep(2)  # the interval both sources measure CPU over
        second = {cid: _bracketed(reader, backend, info) for cid, info in infos.items()}
        cg = cpu_percent(first[busy][0], second[busy][0], HALF_A_CPU / 1e9)
        return cg or 0.0, (first, second)

    # if the reader read too low, no window passes; too high, and Docker's figure disagrees
    first, second = in_a_full_window(window)
    for cid in (busy, held):
        for before, docker_read, after in (first[cid], second[cid]):
            assert before.cpu_total_ns <= docker_read.cpu_total_ns <= after.cpu_total_ns, cid
            assert docker_read.online_cpus == before.online_cpus
            assert docker_read.memory_limit_bytes == before.memory_limit_bytes == 128 * MIB
    # CPU utilisation over the same interval, from either source: the busy one near its limit
    cg = cpu_percent(first[busy][0], second[busy][0], HALF_A_CPU / 1e9)
    api = cpu_percent(first[busy][1], second[busy][1], HALF_A_CPU / 1e9)
    assert cg is not None and api is not None
    assert cg > 50 and api > 50, (cg, api)
    assert abs(cg - api) < 15, f"cgroup {cg:.1f}% against Docker's {api:.1f}%"
    # memory: the same figure as `docker stats`, within a couple of MiB
    _, api_mem, cg_mem = second[held]
    assert abs(cg_mem.memory_used_bytes - api_mem.memory_used_bytes) < 2 * MIB, (cg_mem, api_mem)
    held_pct, api_pct = memory_percent(cg_mem), memory_percent(api_mem)
    assert held_pct is not None and api_pct is not None and abs(held_pct - api_pct) < 2
    assert 35 < held_pct < 55  # 48 MiB of 128; the 32 MiB of cache not counted
    print(f"CPU {cg:.1f}% / {api:.1f}%; memory {held_pct:.2f}% / {api_pct:.2f}%")


def test_a_container_is_found_by_its_driver_path_without_its_pid_and_a_stopped_one_has_none(
    engine: tuple[DockerRuntime, Any, str],
) -> None:
    backend, client, prefix = engine
    reader = backend.cgroups()
    assert reader is not None
    cid = _run(client, prefix + "idle", "sleep 300")
    info = backend.inspect(cid)
    by_driver = reader.stats(dataclasses.replace(info, pid=0))
    assert by_driver.memory_limit_bytes == 128 * MIB
    assert by_driver.memory_used_bytes > 0
    client.containers.get(cid).kill()
    client.containers.get(cid).wait()
    with pytest.raises(Conflict, match="not running"):
        reader.stats(backend.inspect(cid))
