"""Stopping the controller while a pass is under way: the pass finishes its plan instead of
having its Docker calls cancelled under it (which ended it as a crash, halfway through); a
metrics collection, whose reads a stopping daemon has no use for, ends at once and quietly
instead of asking a pool that is being shut down for more (which ended it as a crash too)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from controller.core.periodic import PERIOD as MONITORING
from controller.runtime import ContainerSpec, ContainerStats
from controller.runtime.fake import FakeRuntime
from tests.slow_prometheus import SlowPrometheus, alarms
from tests.support.harness import Harness, manifest


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


def test_no_pass_starts_once_the_stop_has_begun(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(0))
    h.write("web.yaml", manifest(2))
    h.load()  # queued; no worker has taken it yet
    writes = len(h.fake.writes())
    h.ctl.stop()  # no pass was under way: the stop is over at once, the pools are shut down
    with capture_logs() as logs:
        h.ctl.run_until_idle()  # a worker that reaches the queue only now
    assert len(h.fake.writes()) == writes, "a pass began after the stop"
    assert [e for e in logs if e["event"] == "reconcile.crash"] == []


# --- a metrics collection under way: Docker stats, then Prometheus queries ----------------------


class HeldStats(FakeRuntime):
    """A fake engine whose stats calls wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.entered = threading.Semaphore(0)
        self.go = threading.Event()

    def stats(self, container_id: str) -> ContainerStats:
        if self.hold:
            self.entered.release()
            assert self.go.wait(30), "the test never let the stats call go"
        return super().stats(container_id)


@pytest.fixture
def prometheus() -> Iterator[SlowPrometheus]:
    p = SlowPrometheus()
    yield p
    p.close()


def on_shutdown(monkeypatch: pytest.MonkeyPatch, pool: ThreadPoolExecutor) -> threading.Event:
    """Set once `pool` refuses new work, before its shutdown waits for the calls under way: the
    moment a pass still running would find it closed."""
    closed = threading.Event()
    shutdown = pool.shutdown

    def observed(wait: bool = True, *, cancel_futures: bool = False) -> None:
        shutdown(wait=False, cancel_futures=cancel_futures)
        closed.set()
        shutdown(wait=wait)

    monkeypatch.setattr(pool, "shutdown", observed)
    return closed


@pytest.mark.parametrize(
    "held",
    [
        # the reported crash: Prometheus queries asked of the metrics pool once it was shut down
        pytest.param("docker-stats", id="at-docker-stats"),
        # two queries fill the pool (parallelism 2); the third waits in it and is cancelled
        pytest.param("prometheus", id="at-a-prometheus-query"),
    ],
)
def test_stopping_during_a_metrics_collection_ends_it_quietly_and_at_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prometheus: SlowPrometheus,
    held: str,
) -> None:
    engine = HeldStats()
    h = Harness(tmp_path / "m", fake=engine)
    h.write("alarms.yaml", alarms(prometheus.url, ["sum(a)", "sum(b)", "sum(c)"]))
    h.apply("web.yaml", manifest(1))  # one task: one stats call per collection
    waiting: Callable[[], bool]
    if held == "docker-stats":
        engine.hold, waiting, go = True, lambda: engine.entered.acquire(timeout=10), engine.go
    else:
        prometheus.hold, go = True, prometheus.go
        waiting = lambda: all(prometheus.entered.acquire(timeout=10) for _ in range(2))  # noqa: E731
    h.clock.advance(h.ctl.settings.metrics_period)  # the next period: the next collection
    h.ctl.queue.add(MONITORING)
    closed = on_shutdown(monkeypatch, h.ctl.metrics_pool)
    with capture_logs() as logs:
        worker = threading.Thread(target=h.ctl.run_until_idle)
        worker.start()
        try:
            assert waiting(), f"the collection is waiting on {held}"
            stopper = threading.Thread(target=h.ctl.stop)
            stopper.start()
            assert closed.wait(30), "the stop shut the metrics pool down"
        finally:
            go.set()  # what the collection waited for comes, now or after a failed test
        worker.join(10)
        stopper.join(10)
    assert not worker.is_alive() and not stopper.is_alive()
    assert [e for e in logs if e["event"] == "reconcile.crash"] == []
    assert [e for e in logs if "exc_info" in e] == [], "a traceback was logged"
    assert [e for e in logs if e["event"] == "daemon.stop_forced"] == [], (
        "the stop waited out its grace for the collection"
    )
