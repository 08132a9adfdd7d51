"""Container stats through the runtime: the fake's simulated counters, the instrumented wrapper,
and how the Docker backend reads dockerd's stats (cgroup v1 and v2) and asks for them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.docker_responses import container_stats as _container_stats
from controller.runtime.errors import Conflict, EngineUnavailable, NotFound
from controller.runtime.fake import IDLE_MEMORY_BYTES, FakeRuntime
from controller.runtime.instrumented import InstrumentedRuntime
from controller.runtime.types import ContainerSpec
from controller.telemetry import Metrics
from tests.support.builders import T0, FakeClock

MIB = 1024 * 1024


def running(fake: FakeRuntime, name: str = "c", **spec: Any) -> str:
    cid = fake.create(ContainerSpec(name=name, image="skiff/busybox:latest", labels={}, **spec))
    fake.start(cid)
    return cid


# --- the fake ----------------------------------------------------------------------------------


def test_a_fresh_container_is_idle_with_the_default_memory() -> None:
    clock = FakeClock()
    fake = FakeRuntime(clock=clock, cpus=4, memory_bytes=8 * 1024 * MIB)
    cid = running(fake)
    first = fake.stats(cid)
    clock.advance(10)
    second = fake.stats(cid)
    assert (first.read, second.read) == (T0, T0 + 10)
    assert second.cpu_total_ns == 0 and second.online_cpus == 4
    assert cpu_percent(first, second, None) == 0.0
    assert second.memory_used_bytes == IDLE_MEMORY_BYTES
    assert second.memory_limit_bytes == 8 * 1024 * MIB  # no limit: the host's memory
    assert fake.calls[-1] == ("stats", cid)


def test_cpu_cores_make_the_counter_grow_with_the_clock() -> None:
    clock = FakeClock()
    fake = FakeRuntime(clock=clock)
    cid = running(fake, memory_mib=256)
    fake.set_stats(cid, cpu_cores=0.5, memory_used_bytes=64 * MIB)
    before = fake.stats(cid)
    clock.advance(20)
    after = fake.stats(cid)
    assert after.cpu_total_ns - before.cpu_total_ns == 10 * 1_000_000_000
    assert cpu_percent(before, after, 1.0) == pytest.approx(50.0)
    assert memory_percent(after) == pytest.approx(25.0)  # of the spec's 256 MiB
    fake.set_stats(cid, cpu_cores=0.0)  # goes idle: what it used so far stays counted
    clock.advance(5)
    assert fake.stats(cid).cpu_total_ns == after.cpu_total_ns


def test_a_hard_cpu_limit_caps_what_the_container_can_burn() -> None:
    clock = FakeClock()
    fake = FakeRuntime(clock=clock, cpus=2)
    limited = running(fake, "limited", nano_cpus=250_000_000)
    unlimited = running(fake, "unlimited")
    for cid in (limited, unlimited):
        fake.set_stats(cid, cpu_cores=8.0)
    before = {cid: fake.stats(cid) for cid in (limited, unlimited)}
    clock.advance(4)
    assert cpu_percent(before[limited], fake.stats(limited), 0.25) == pytest.approx(100.0)
    assert cpu_percent(before[unlimited], fake.stats(unlimited), None) == pytest.approx(100.0)


def test_the_counter_can_be_set_and_restarts_from_zero_with_the_container() -> None:
    clock = FakeClock()
    fake = FakeRuntime(clock=clock)
    cid = running(fake)
    fake.set_stats(cid, cpu_total_ns=5_000, cpu_cores=1.0)
    clock.advance(1)
    assert fake.stats(cid).cpu_total_ns == 5_000 + 1_000_000_000
    fake.kill(cid, "SIGKILL")
    with pytest.raises(Conflict, match="not running"):
        fake.stats(cid)
    fake.start(cid)
    assert fake.stats(cid).cpu_total_ns == 0
    clock.advance(2)
    assert fake.stats(cid).cpu_total_ns == 2_000_000_000  # still busy at one core


def test_stats_of_a_missing_container_and_injected_faults() -> None:
    fake = FakeRuntime()
    with pytest.raises(NotFound):
        fake.stats("nope")
    with pytest.raises(NotFound):
        fake.set_stats("nope", cpu_cores=1)
    cid = running(fake)
    fake.fail("stats", EngineUnavailable("boom"))
    with pytest.raises(EngineUnavailable):
        fake.stats(cid)
    assert fake.stats(cid).cpu_total_ns == 0


def test_the_instrumented_runtime_counts_stats_calls() -> None:
    fake = FakeRuntime()
    metrics = Metrics()
    runtime = InstrumentedRuntime(fake, "h1", metrics)
    cid = running(fake)
    runtime.stats(cid)
    with pytest.raises(NotFound):
        runtime.stats("gone")
    value = metrics.registry.get_sample_value
    labels = {"host": "h1", "operation": "stats"}
    assert value("skiff_docker_api_calls_total", {**labels, "outcome": "success"}) == 1
    assert value("skiff_docker_api_calls_total", {**labels, "outcome": "NotFound"}) == 1


# --- the Docker backend: reading dockerd's answer ----------------------------------------------

CGROUP_V1 = {
    "read": "2026-11-28T00:29:09.993668068Z",
    "preread": "0001-01-01T00:00:00Z",
    "cpu_stats": {
        "cpu_usage": {"total_usage": 28281413, "percpu_usage": [21443682, 6837731]},
        "system_cpu_usage": 27484030000000,
        "online_cpus": 2,
    },
    "memory_stats": {
        "usage": 1642496,
        "stats": {"cache": 761856, "inactive_file": 4096, "total_inactive_file": 8192},
        "limit": 25276502016,
    },
}

CGROUP_V2 = {
    "read": "2026-11-28T00:29:10.5Z",
    "cpu_stats": {"cpu_usage": {"total_usage": 900}, "system_cpu_usage": 0, "online_cpus": 8},
    "memory_stats": {
        "usage": 10 * MIB,
        "stats": {"anon": 6 * MIB, "file": 4 * MIB, "inactive_file": 3 * MIB},
        "limit": 512 * MIB,
    },
}


def test_cgroup_v1_stats_subtract_total_inactive_file_as_docker_stats_does() -> None:
    s = _container_stats("c1", CGROUP_V1)
    stamp = dt.datetime(2026, 11, 28, 0, 29, 9, 993668, tzinfo=dt.UTC).timestamp()
    assert s.read == pytest.approx(stamp, abs=1e-6)
    assert (s.cpu_total_ns, s.system_cpu_ns, s.online_cpus) == (28281413, 27484030000000, 2)
    assert s.memory_used_bytes == 1642496 - 8192
    assert s.memory_limit_bytes == 25276502016


def test_cgroup_v2_stats_subtract_inactive_file_and_a_zero_system_counter_is_none() -> None:
    s = _container_stats("c2", CGROUP_V2)
    assert (s.cpu_total_ns, s.system_cpu_ns, s.online_cpus) == (900, None, 8)
    assert s.memory_used_bytes == 7 * MIB
    assert s.memory_limit_bytes == 512 * MIB


def test_old_engines_without_online_cpus_or_inactive_file() -> None:
    data = {
        "read": "2026-11-28T00:29:10Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 5, "percpu_usage": [1, 2, 1, 1]}},
        "memory_stats": {"usage": 100, "stats": {"cache": 30}, "limit": 1000},
    }
    s = _container_stats("c3", data)
    assert (s.online_cpus, s.system_cpu_ns, s.memory_used_bytes) == (4, None, 70)


def test_a_stopped_container_has_no_stats() -> None:
    # what dockerd answers for a created or exited container: zero time, zero counters
    data = {"read": "0001-01-01T00:00:00Z", "cpu_stats": {"cpu_usage": {"total_usage": 0}}}
    with pytest.raises(Conflict, match="not running"):
        _container_stats("c4", data)


class StubAPI:
    def __init__(self, api_version: str) -> None:
        self.api_version = api_version
        self.asked: list[dict[str, Any]] = []

    def stats(self, container: str, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs)
        return CGROUP_V2


@pytest.mark.parametrize(("version", "one_shot"), [("1.41", True), ("1.43", True), ("1.40", None)])
def test_the_backend_asks_for_one_shot_stats_where_the_api_has_them(
    version: str, one_shot: bool | None
) -> None:
    runtime = DockerRuntime("unix:///nonexistent.sock")  # connects lazily: never here
    runtime._api = StubAPI(version)  # type: ignore[assignment]
    assert runtime.stats("c1").cpu_total_ns == 900
    assert runtime._api.asked == [{"stream": False, "one_shot": one_shot}]  # type: ignore[attr-defined]
