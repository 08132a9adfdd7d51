"""Container stats on a real dockerd: one-shot samples through the backend show a CPU-bound
container at its limit (in a window in which the kernel says it got it) and an idle one near
zero."""

from __future__ import annotations

import time
import uuid
from typing import Any

import docker
import pytest

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.errors import Conflict, NotFound
from controller.runtime.types import ContainerStats
from tests.support.cpu_window import in_a_full_window
from tests.support.daemon import process_cpu_seconds, wait_for
from tests.support.documents import IMAGE

pytestmark = pytest.mark.integration

HALF_A_CPU = 500_000_000


def test_a_busy_container_reads_high_of_its_cpu_limit_and_an_idle_one_near_zero() -> None:
    client = docker.from_env()
    backend = DockerRuntime()
    prefix = f"t{uuid.uuid4().hex[:6]}-stats-"
    made: list[Any] = []
    try:

        def run(name: str, script: str) -> str:
            c = client.containers.run(
                IMAGE,
                ["sh", "-c", script],
                name=prefix + name,
                detach=True,
                nano_cpus=HALF_A_CPU,
                mem_limit="64m",
            )
            made.append(c)
            return str(c.id)

        busy = run("busy", "while :; do :; done")
        idle = run("idle", "sleep 3600")
        pid = int(client.api.inspect_container(busy)["State"]["Pid"])

        def one_second_after(cid: str, first: ContainerStats) -> ContainerStats:
            def later() -> ContainerStats | None:
                s = backend.stats(cid)
                return s if s.read >= first.read + 1.0 else None

            second = wait_for(later, timeout=15, what="a sample one second after the first")
            assert second is not None
            return second

        def window() -> tuple[float, dict[str, tuple[ContainerStats, ContainerStats]]]:
            started, used = time.monotonic(), process_cpu_seconds(pid)
            first = {cid: backend.stats(cid) for cid in (busy, idle)}
            second = {cid: one_second_after(cid, first[cid]) for cid in (busy, idle)}
            kernel = (process_cpu_seconds(pid) - used) / (time.monotonic() - started)
            return kernel / (HALF_A_CPU / 1e9) * 100, {c: (first[c], second[c]) for c in first}

        samples = in_a_full_window(window)
        busy_pct = cpu_percent(*samples[busy], HALF_A_CPU / 1e9)
        idle_pct = cpu_percent(*samples[idle], HALF_A_CPU / 1e9)
        assert busy_pct is not None and busy_pct > 50, busy_pct
        assert busy_pct < 130, f"{busy_pct}: the 0.5 CPU limit does not hold"
        assert idle_pct is not None and idle_pct < 10, idle_pct
        mem = samples[idle][1]
        assert mem.memory_limit_bytes == 64 * 1024 * 1024
        assert 0 < mem.memory_used_bytes < mem.memory_limit_bytes
        assert 0 < (memory_percent(mem) or 0) < 100
        assert mem.online_cpus >= 1

        made[1].kill()
        made[1].wait()
        with pytest.raises(Conflict, match="not running"):
            backend.stats(idle)
        made[0].remove(force=True)
        with pytest.raises(NotFound):
            backend.stats(busy)
    finally:
        for c in made:
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass
        backend.close()
        client.close()
