"""Where a metrics pass gets each container's counters: an engine on this machine is read from its
cgroup files with no Docker stats call at all, and the CPU and memory utilisation it records are
the ones the stats API path records for the same counters; a remote engine is asked through the
stats API, never more than REMOTE_AT_ONCE calls at once, started spread out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from controller.cloudwatch.sync.collect import REMOTE_AT_ONCE, collect, monitor
from controller.core.stopping import StoppablePool
from controller.runtime import ContainerStats
from controller.runtime.fake import FakeRuntime
from tests.support.builders import FakeClock
from tests.support.cgroup_tree import MIB, Tree
from tests.support.harness import Harness, manifest

HALF_A_CPU_NS = 500_000_000  # CPU nanoseconds per second at half a CPU


def _utilisation(h: Harness) -> dict[tuple[str, str, str], list[float]]:
    history = monitor(h.ctl).history
    series = history.keys()  # a MetricHistory's, not a dict's
    return {
        key: [v for _, v in history.samples(key, 0)]
        for key in series
        if isinstance(key, tuple) and key[0] in ("CPUUtilization", "MemoryUtilization")
    }


def _two_passes(h: Harness, between: object) -> None:
    collect(h.ctl, h.clock())
    h.clock.advance(60)
    if callable(between):
        between()
    collect(h.ctl, h.clock())


def test_a_local_engine_is_read_from_cgroups_with_no_stats_call_and_the_same_figures(
    tmp_path: Path,
) -> None:
    # The stats API path: the fake engine's counters, half a CPU and 24 MiB per container.
    remote = Harness(tmp_path / "remote", clock=FakeClock())
    remote.apply("web.yaml", manifest(3))
    for c in remote.running():
        remote.fake.set_stats(c.id, cpu_cores=0.5, memory_used_bytes=24 * MIB)
    _two_passes(remote, None)
    assert sum(op == "stats" for op, _ in remote.fake.calls) == 6

    # The same counters in cgroup files of an engine on this machine.
    tree = Tree(tmp_path, 2)
    local = Harness(tmp_path / "local", clock=FakeClock())
    local.apply("web.yaml", manifest(3))
    local.fake.cgroup_reader = tree.reader(local.clock)
    started = {c.id: c.started_at or 0.0 for c in local.running()}

    def counters() -> None:
        for cid, at in started.items():
            used_ns = int((local.clock() - at) * HALF_A_CPU_NS)
            tree.container(
                f"docker/{cid}", cpu_ns=used_ns, usage=30 * MIB, inactive_file=6 * MIB, limit=None
            )

    counters()
    local.fake.calls.clear()
    _two_passes(local, counters)
    assert not [c for c in local.fake.calls if c[0] == "stats"], "a stats call for a local engine"

    figures = _utilisation(local)
    assert figures, "the cgroup readings were recorded"
    assert figures.keys() == _utilisation(remote).keys()
    for key, values in _utilisation(remote).items():
        assert figures[key] == pytest.approx(values, rel=1e-6), key
    cpu = [v for key, values in figures.items() if key[0] == "CPUUtilization" for v in values]
    assert cpu and all(v > 0 for v in cpu), "CPU from two cgroup readings"


class Counting(FakeRuntime):
    """A remote fake engine whose stats calls take a while, counting how many are in flight."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.in_flight = self.most = 0
        self.starts: list[float] = []
        self._count = threading.Lock()

    def stats(self, container_id: str) -> ContainerStats:
        with self._count:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.starts.append(time.monotonic())
        try:
            time.sleep(0.4)  # dockerd's wait for its next stats round
            return super().stats(container_id)
        finally:
            with self._count:
                self.in_flight -= 1


def test_a_remote_engine_gets_its_stats_calls_bounded_and_spread(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = Counting(clock)
    h = Harness(tmp_path / "m", fake=engine, clock=clock)
    h.apply("web.yaml", manifest(8))
    h.ctl.metrics_pool.shutdown()
    h.ctl.metrics_pool = StoppablePool(8, thread_name_prefix="metrics")  # threads to spare
    try:
        collect(h.ctl, h.clock())
    finally:
        h.ctl.metrics_pool.shutdown()
    assert len(engine.starts) == 8, "every running container was sampled"
    assert engine.most <= REMOTE_AT_ONCE, f"{engine.most} stats calls at once"
    assert engine.most > 1, "the calls may overlap up to the bound"
    starts = sorted(engine.starts)
    assert starts[-1] - starts[0] >= 0.6, "the calls started spread out, not in one burst"
    assert _utilisation(h), "their figures were recorded"
