"""The host observer keeps Skiff's view of an engine fresh from its events: a burst of events
for one container costs one more inspect, not one per event, and the cache ends as the
container is (or without it, once destroyed)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from controller.core import labels as L
from controller.core.observer import HostObserver
from controller.runtime import ContainerInfo, ContainerSpec
from controller.runtime.fake import FakeRuntime
from tests.support.daemon import wait_for

CLUSTER = "default"


class SlowInspects(FakeRuntime):
    """A fake engine whose inspects wait at a gate while it is closed (a busy dockerd), and
    answer what the container was when they began."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.inspects: list[str] = []

    def inspect(self, container_id: str) -> ContainerInfo:
        self.inspects.append(container_id)
        info = super().inspect(container_id)
        self.waiting.set()
        self.gate.wait(10)
        return info


CHANGES: list[str] = []


def observe(engine: FakeRuntime) -> tuple[HostObserver, Callable[[Callable[[], bool]], bool]]:
    """A started observer, and a wait for a condition that its cache changes make true."""
    changed = threading.Condition()
    CHANGES.clear()

    def on_change(host: str, kind: str, name: str) -> None:
        with changed:
            CHANGES.append(name)
            changed.notify_all()

    def until(pred: Callable[[], bool]) -> bool:
        with changed:
            return changed.wait_for(pred, 10)

    observer = HostObserver("h1", engine, on_change, cluster=CLUSTER)
    observer.resync()
    observer.start()
    return observer, until


_names = itertools.count(1)


def create(engine: FakeRuntime) -> str:
    labels = L.ownership(CLUSTER, "Service", "web")
    name = f"web-{next(_names)}"
    return engine.create(ContainerSpec(name=name, image="skiff/busybox:latest", labels=labels))


def state(observer: HostObserver, container_id: str) -> str | None:
    return next((c.state for c in observer.snapshot() if c.id == container_id), None)


def test_a_burst_of_events_for_one_container_costs_one_more_inspect() -> None:
    engine = SlowInspects()
    observer, until = observe(engine)
    try:
        engine.gate.clear()
        cid = create(engine)
        assert engine.waiting.wait(10)  # the refresher is inspecting the new container
        engine.start(cid)
        engine.exit(cid, 3)
        engine.gate.set()
        assert until(lambda: state(observer, cid) == "exited")
        assert engine.inspects.count(cid) == 2  # create's, then one for start and die together
    finally:
        observer.stop()


def test_a_container_destroyed_during_its_inspect_leaves_the_cache() -> None:
    engine = SlowInspects()
    observer, until = observe(engine)
    try:
        engine.gate.clear()
        cid = create(engine)
        assert engine.waiting.wait(10)
        engine.remove(cid)
        engine.gate.set()  # the inspect under way still reports it; the destroy comes after
        assert until(lambda: len(CHANGES) == 2)  # cached from that inspect, then dropped
        assert state(observer, cid) is None
    finally:
        observer.stop()


def test_many_containers_are_refreshed_side_by_side() -> None:
    engine = FakeRuntime()
    observer, until = observe(engine)
    try:
        ids = [create(engine) for _ in range(20)]
        for cid in ids:
            engine.start(cid)
        for cid in ids[:10]:
            engine.exit(cid, 0)
        assert until(
            lambda: [state(observer, c) for c in ids] == ["exited"] * 10 + ["running"] * 10
        )
    finally:
        observer.stop()


def test_a_container_docker_would_not_start_is_looked_at_again_though_no_event_comes() -> None:
    from controller.runtime import StartFailed
    from controller.runtime.instrumented import InstrumentedRuntime
    from controller.telemetry import Metrics

    engine = FakeRuntime()
    observer, until = observe(engine)
    runtime = InstrumentedRuntime(engine, "h1", Metrics())
    runtime.on_start_failed = observer.touch  # as the controller wires them
    labels = {**L.ownership(CLUSTER, "Service", "web"), L.TASK: "t1", L.CONTAINER: "app"}
    cid = runtime.create(ContainerSpec(name="c", image="skiff/busybox:latest", labels=labels))
    assert until(lambda: any(c.id == cid for c in observer.snapshot()))
    engine.fail("start", StartFailed("CannotStartContainerError: exec: nope: not found"))
    try:
        runtime.start(cid)
    except StartFailed:
        pass
    # dockerd sends no event for a failed start: the cache learns of it only by looking again.
    assert until(lambda: any(c.id == cid and c.failed_to_start for c in observer.snapshot()))
    observer.stop()


def cached(observer: HostObserver, container_id: str) -> ContainerInfo:
    return next(c for c in observer.snapshot() if c.id == container_id)


def running_behind_a_closed_gate() -> tuple[
    SlowInspects, HostObserver, Callable[[Callable[[], bool]], bool], str
]:
    """An observed running container on an engine whose next inspects wait at the gate."""
    engine = SlowInspects()
    observer, until = observe(engine)
    cid = create(engine)
    engine.start(cid)
    assert until(lambda: state(observer, cid) == "running")
    engine.gate.clear()
    engine.waiting.clear()
    return engine, observer, until, cid


def test_a_crash_reaches_its_owner_from_the_die_event_before_the_inspect_answers() -> None:
    """dockerd holds an inspect after a `die` until it has let go of the container (40 to 150
    ms on a busy engine): the event's exit code and time are cached at once, as `dying`."""
    engine, observer, until, cid = running_behind_a_closed_gate()
    try:
        engine.exit(cid, 3)
        assert until(lambda: cached(observer, cid).dying)
        seen = cached(observer, cid)
        assert (seen.running, seen.exit_code) == (True, 3)  # dockerd still shows it running
        assert engine.waiting.wait(10)  # its inspect is under way, held by the busy engine
        assert cached(observer, cid).dying
        engine.gate.set()
        assert until(lambda: state(observer, cid) == "exited")
        assert (cached(observer, cid).dying, cached(observer, cid).exit_code) == (False, 3)
    finally:
        engine.gate.set()
        observer.stop()


def test_a_die_during_an_inspect_begun_before_it_waits_for_the_next_inspect() -> None:
    """That inspect may answer `running`: caching it after the `dying` would bring the
    container back to life, so the `die` is left to the inspect that follows."""
    engine, observer, until, cid = running_behind_a_closed_gate()
    try:
        observer.touch(cid)  # an inspect begins while it runs
        assert engine.waiting.wait(10)
        engine.exit(cid, 3)
        wait_for(lambda: observer.last_event is not None and cid in observer._dirty, 10, "die")
        assert not cached(observer, cid).dying
        engine.gate.set()
        assert until(lambda: state(observer, cid) == "exited")
        assert engine.inspects.count(cid) == 3  # start's, the touch's, the die's
    finally:
        engine.gate.set()
        observer.stop()


def test_a_die_event_from_dockerd_carries_its_exit_code() -> None:
    from controller.runtime.docker_responses import DockerEvents

    raw = {
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": "c1", "Attributes": {"exitCode": "137", "skiff.kind": "Service"}},
        "timeNano": 1_700_000_000_500_000_000,
    }
    (event,) = DockerEvents(iter([raw]))
    assert (event.action, event.exit_code, event.labels) == ("die", 137, {"skiff.kind": "Service"})
    assert event.time == 1_700_000_000.5
