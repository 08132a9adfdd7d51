"""A metrics collection never holds up a plan: its Docker stats calls (each waits for the
engine's next stats round) run on their own threads, so launches go on while they wait. The
reliability suite saw every launch of a 260-task service stall about 9 s once a minute, behind
the collection's 260 stats calls on the shared pool."""

from __future__ import annotations

import threading
from pathlib import Path

from controller.cloudwatch.sync.collect import collect
from controller.runtime import ContainerStats
from controller.runtime.fake import FakeRuntime
from tests.support.harness import Harness, manifest


class HeldStats(FakeRuntime):
    """A fake engine whose stats calls wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.entered = threading.Event()
        self.go = threading.Event()

    def stats(self, container_id: str) -> ContainerStats:
        if self.hold:
            self.entered.set()
            self.go.wait(10)
        return super().stats(container_id)


def test_launches_go_on_while_a_metrics_collection_waits_for_docker_stats(tmp_path: Path) -> None:
    engine = HeldStats()
    h = Harness(tmp_path / "m", fake=engine)  # parallelism 2: two stats calls fill a pool
    h.apply("web.yaml", manifest(3))
    engine.hold = True
    collector = threading.Thread(target=collect, args=(h.ctl, h.clock()))
    collector.start()
    try:
        assert engine.entered.wait(5), "the collection is waiting on Docker"
        h.write("web.yaml", manifest(6))
        h.load()
        launcher = threading.Thread(target=h.ctl.run_until_idle)
        launcher.start()
        launcher.join(5)
        launched_meanwhile = not launcher.is_alive()
    finally:
        engine.go.set()
        collector.join(10)
    launcher.join(10)
    assert launched_meanwhile, "the launches waited for the metrics collection"
    assert len(h.running()) == 6
