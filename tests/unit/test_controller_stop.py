"""Stopping the controller while a pass is under way: the pass finishes its plan instead of
having its Docker calls cancelled under it (which ended it as a crash, halfway through)."""

from __future__ import annotations

import threading
from pathlib import Path

from controller.runtime import ContainerSpec
from controller.runtime.fake import FakeRuntime
from tests.unit.test_controller import Harness, manifest


class HeldCreates(FakeRuntime):
    """A fake engine whose creates wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.entered = threading.Event()
        self.go = threading.Event()

    def create(self, spec: ContainerSpec) -> str:
        if self.hold:
            self.entered.set()
            assert self.go.wait(10), "the test never let the create go"
        return super().create(spec)


def test_stopping_while_a_pass_launches_lets_the_pass_finish(tmp_path: Path) -> None:
    engine = HeldCreates()
    h = Harness(tmp_path / "m", fake=engine)
    h.apply("web.yaml", manifest(0))
    engine.hold = True
    h.write("web.yaml", manifest(5))
    h.load()  # queues the service
    worker = threading.Thread(target=h.ctl.process, kwargs={"timeout": 1.0})
    worker.start()
    assert engine.entered.wait(10), "the pass began launching"
    stopper = threading.Thread(target=h.ctl.stop)
    stopper.start()
    assert not h.ctl.queue.wait_processed(0.05), "the stop waits for the pass in hand"
    engine.go.set()
    worker.join(10)
    stopper.join(15)
    assert not worker.is_alive() and not stopper.is_alive()
    errors = h.ctl.metrics.registry.get_sample_value(
        "skiff_reconcile_total", {"kind": "Service", "result": "error"}
    )
    assert not errors, "the pass was cut short"
    assert [op for op, _ in engine.writes()].count("create") == 5
