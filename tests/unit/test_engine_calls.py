"""Engine calls per change: bringing tasks up through the events costs one create, one start
and at most one inspect each (no stats); an event queues only the resource that owns its
container; a resync lists each engine with one call, however many tasks run there."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from controller.core import labels as L
from controller.core.controller import Controller
from controller.manifests.kinds import ResourceKey
from controller.runtime.fake import FakeRuntime
from tests.support.documents import container, dump, service_doc, td_doc
from tests.support.harness import Harness, hosts_yaml, manifest


def services(**counts: int) -> str:
    """A task definition and a service of that name per entry, with that many tasks."""
    docs = []
    for name, count in counts.items():
        docs += [
            td_doc(
                name,
                containerDefinitions=[
                    container("app", image="skiff/busybox:latest", command=["serve"])
                ],
            ),
            service_doc(name, desiredCount=count),
        ]
    return dump(*docs)


class SlowStarts(FakeRuntime):
    """A fake engine whose starts take as long as a real one's (tens of milliseconds): the
    create event is read before the start is done, as from dockerd."""

    def start(self, container_id: str) -> None:
        time.sleep(0.03)
        super().start(container_id)


def calls(engine: FakeRuntime) -> Counter[str]:
    return Counter(op for op, _ in engine.calls)


def work_until(ctl: Controller, done: object, timeout: float = 20.0) -> None:
    """Runs the controller's worker (the observers run on their own threads) until `done()`
    and the queue is idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ctl.process(timeout=0) is None:  # the queue's clock is the harness's fixed one
            if done() and ctl.queue.idle():  # type: ignore[operator]
                return
            time.sleep(0.01)
    raise AssertionError("the controller did not get there in time")


def cached_running(ctl: Controller, owner: str, count: int) -> bool:
    containers = [c for h in ctl.hosts.values() for c in h.observer.snapshot()]
    mine = [c for c in containers if c.labels.get(L.NAME) == owner and c.running]
    return len(mine) == count


def test_bringing_up_n_tasks_costs_n_creates_n_starts_and_at_most_n_inspects(
    tmp_path: Path,
) -> None:
    n = 20
    h = Harness(tmp_path, fake=SlowStarts())
    h.write("web.yaml", services(web=n))
    h.load()  # connects the host: its first resync lists the (empty) engine
    h.fake.calls.clear()
    h.ctl.start_observing()
    try:
        work_until(h.ctl, lambda: cached_running(h.ctl, "web", n))
        counted = calls(h.fake)
        assert counted["create"] == n
        assert counted["start"] == n
        assert counted["inspect"] <= n  # one after each start; none after create
        # No stats here: this fake is a remote engine, whose metrics pass (if one falls in the
        # bring-up) calls the stats API; a local engine's make none (test_collect_sources.py).
        assert len(h.running()) == n
    finally:
        h.ctl.stop()


def test_a_container_created_and_left_unstarted_is_seen_after_its_grace(
    tmp_path: Path,
) -> None:
    from controller.core.observer import HostObserver
    from controller.runtime import ContainerSpec

    engine = FakeRuntime()
    observer = HostObserver("h1", engine, lambda host, kind, name: None, create_grace=0.2)
    observer.resync()
    observer.start()
    try:
        labels = {**L.ownership("default", "Service", "web"), L.TASK: "t", L.CONTAINER: "app"}
        cid = engine.create(ContainerSpec("c", "skiff/busybox:latest", labels))
        deadline = time.monotonic() + 10
        while not any(c.id == cid for c in observer.snapshot()):
            assert time.monotonic() < deadline, "a created container was never looked at"
            time.sleep(0.02)
        assert [c.state for c in observer.snapshot()] == ["created"]
        assert calls(engine)["inspect"] == 1
    finally:
        observer.stop()


def test_a_health_event_sets_the_health_without_an_inspect() -> None:
    from controller.core.observer import HostObserver
    from controller.runtime import ContainerSpec

    engine = FakeRuntime()
    changes: list[str] = []
    observer = HostObserver("h1", engine, lambda host, kind, name: changes.append(name))
    labels = {**L.ownership("default", "Service", "web"), L.TASK: "t", L.CONTAINER: "app"}
    cid = engine.create(ContainerSpec("c", "skiff/busybox:latest", labels))
    engine.start(cid)
    observer.resync()
    observer.start()
    try:
        engine.calls.clear()
        engine.set_health(cid, "healthy")
        deadline = time.monotonic() + 10
        while [c.health for c in observer.snapshot()] != ["healthy"]:
            assert time.monotonic() < deadline, "the health event was not applied"
            time.sleep(0.02)
        assert calls(engine)["inspect"] == 0
    finally:
        observer.stop()


def test_an_event_queues_only_the_resource_that_owns_its_container(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.apply("web.yaml", services(web=3, api=3, jobs=2))
    queued: list[ResourceKey] = []
    add = h.ctl.queue.add

    def recording(key: ResourceKey) -> None:
        queued.append(key)
        add(key)

    h.ctl.queue.add = recording  # type: ignore[method-assign]
    h.ctl.start_observing()
    try:
        victim = next(c for c in h.running("api"))
        h.fake.exit(victim.id, 1)
        deadline = time.monotonic() + 10
        while not queued:
            assert time.monotonic() < deadline, "the exit queued nothing"
            time.sleep(0.02)
        time.sleep(0.2)  # nothing else follows from that one event
        assert set(queued) == {("Service", "api")}
    finally:
        h.ctl.stop()


def test_a_resync_lists_each_of_three_engines_once_with_a_thousand_tasks(tmp_path: Path) -> None:
    engines = {n: FakeRuntime(name=n, memory_bytes=64 * 1024**3) for n in ("a", "b", "c")}
    h = Harness(tmp_path, engines=engines)
    h.write("hosts.yaml", hosts_yaml("a", "b", "c"))
    h.write("web.yaml", services(web=1000))
    h.load()
    h.converge(rounds=60)
    assert len(h.running()) == 1000
    assert all(e.containers for e in engines.values())  # spread over the three
    for engine in engines.values():
        engine.calls.clear()
    h.clock.advance(60)  # a list is due: a pool of 1,000 is listed once a minute
    h.ctl.resync()
    h.ctl.run_until_idle()
    assert [calls(e)["list"] for e in engines.values()] == [1, 1, 1]
    assert sum(calls(e)["inspect"] for e in engines.values()) == 0  # nothing changed


def test_a_start_slower_than_the_grace_still_costs_one_inspect() -> None:
    """On a busy engine a start takes longer than the create's grace (ten at once take
    seconds on dockerd 20.10): the create waits for the start under way, not for its grace."""
    import threading

    from controller.core.observer import HostObserver
    from controller.runtime import ContainerSpec
    from controller.runtime.instrumented import InstrumentedRuntime
    from controller.telemetry import Metrics

    class VerySlowStarts(FakeRuntime):
        def start(self, container_id: str) -> None:
            time.sleep(0.5)  # ten times the grace below
            super().start(container_id)

    engine = VerySlowStarts()
    counted = InstrumentedRuntime(engine, "h1", Metrics())
    observer = HostObserver("h1", counted, lambda host, kind, name: None, create_grace=0.05)
    counted.on_starting, counted.on_started = observer.starting, observer.started
    observer.resync()
    observer.start()
    try:
        labels = {**L.ownership("default", "Service", "web"), L.TASK: "t", L.CONTAINER: "app"}
        cid = counted.create(ContainerSpec("c", "skiff/busybox:latest", labels))
        starter = threading.Thread(target=counted.start, args=(cid,))
        starter.start()
        starter.join()
        deadline = time.monotonic() + 10
        while not any(c.id == cid and c.running for c in observer.snapshot()):
            assert time.monotonic() < deadline, "the started container was never seen running"
            time.sleep(0.02)
        assert calls(engine)["inspect"] == 1
    finally:
        observer.stop()


def test_a_crashed_task_is_replaced_before_an_older_stopped_task_is_removed(
    tmp_path: Path,
) -> None:
    """ECS keeps a service's stopped tasks for a while; Skiff keeps the newest five. From the
    sixth crash on, the pass that replaces the crashed task also removes the oldest stopped
    one, and the replacement's create is not kept waiting behind that `docker rm`."""
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(1))
    crashed = []
    for crash in range(1, 7):
        (task,) = h.running()
        crashed.append(task.id)
        h.clock.advance(30)  # it ran long enough not to count as failing to start
        h.fake.calls.clear()
        h.fake.exit(task.id, 137)
        h.converge()
        ops = [(op, arg) for op, arg in h.fake.calls if op in ("create", "remove")]
        assert ops[0][0] == "create", (crash, ops)
        removed = [arg for op, arg in ops if op == "remove"]
        assert removed == (crashed[:1] if crash == 6 else []), (crash, ops)
    assert len(h.running()) == 1
    kept = {c.id for c in h.fake.containers.values() if not c.running}
    assert kept == set(crashed[1:])  # the newest five stopped tasks, for their logs
