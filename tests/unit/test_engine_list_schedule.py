"""The resync's list of an engine is the safety net under its event stream: dockerd spends CPU
on it in proportion to its containers, and the daemon in proportion to all it lists. Up to
LIST_SCALE containers in the pool, every engine is listed at every resync; above,
proportionally less often (1,000 containers every 60 s with the 30 s resync, on one engine or
spread over three), and pinged at the resyncs between, so an engine that stops answering is
still noticed at once. Whatever the events missed is still healed, by the next list."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from controller.core.hosts import LIST_SCALE
from controller.runtime.fake import FakeRuntime
from tests.support.builders import FakeClock
from tests.support.harness import Harness, hosts_yaml, manifest

RESYNC = 30.0  # the daemon's --resync-seconds default


def calls(h: Harness) -> Counter[str]:
    return Counter(operation for engine in h.all_engines() for operation, _ in engine.calls)


def resync(h: Harness, after: float = RESYNC) -> None:
    h.clock.advance(after)
    h.ctl.resync()
    h.ctl.run_until_idle()


def converged(tmp_path: Path, count: int, hosts: tuple[str, ...] = ()) -> Harness:
    """`count` tasks running on the local engine, or spread over `hosts`, each its own."""
    clock = FakeClock()
    engines = {n: FakeRuntime(clock=clock, memory_bytes=64 * 1024**3) for n in hosts}
    h = Harness(
        tmp_path,
        FakeRuntime(clock=clock, memory_bytes=64 * 1024**3),
        clock=clock,
        engines=engines,
    )
    # No metrics pass: it spreads the fake engine's stats calls over real seconds.
    h.ctl.settings = replace(h.ctl.settings, monitoring=False)
    if hosts:
        h.write("hosts.yaml", hosts_yaml(*hosts))
    h.write("web.yaml", manifest(count))
    h.load()
    h.converge(rounds=60)
    assert len(h.running()) == count
    resync(h, 3600)  # a list: the schedule below starts from it
    for engine in h.all_engines():
        engine.calls.clear()
    return h


def test_a_small_engine_is_listed_at_every_resync(tmp_path: Path) -> None:
    h = converged(tmp_path, 5)
    for _ in range(3):
        resync(h)
    assert (calls(h)["list"], calls(h)["ping"]) == (3, 0)


def test_an_engine_with_1000_containers_is_listed_every_minute_and_pinged_between(
    tmp_path: Path,
) -> None:
    assert LIST_SCALE == 500
    h = converged(tmp_path, 1000)
    resync(h)  # 30 s after the list
    assert (calls(h)["list"], calls(h)["ping"]) == (0, 1)
    resync(h)  # 60 s: 30 s x 1,000 / 500
    assert (calls(h)["list"], calls(h)["ping"]) == (1, 1)
    resync(h)
    assert (calls(h)["list"], calls(h)["ping"]) == (1, 2)


def test_three_engines_holding_1000_containers_between_them_are_listed_every_minute(
    tmp_path: Path,
) -> None:
    h = converged(tmp_path, 1000, hosts=("a", "b", "c"))
    assert sorted(len(e.containers) for e in h.engines.values()) == [333, 333, 334]
    resync(h)  # 30 s after the lists: each engine is pinged
    assert (calls(h)["list"], calls(h)["ping"]) == (0, 3)
    resync(h)  # 60 s: each is listed, 1,000 containers in all, as one engine of 1,000
    assert (calls(h)["list"], calls(h)["ping"]) == (3, 3)


def test_an_engine_that_stops_answering_its_ping_is_down_and_listed_once_it_answers(
    tmp_path: Path,
) -> None:
    h = converged(tmp_path, 1000)
    h.fake.down = True
    resync(h)  # a ping, not a list, is due: it fails
    assert calls(h)["ping"] == 1
    assert not h.ctl.hosts["local"].up
    h.fake.down = False
    resync(h, 1)  # a host that was down is listed at the next resync, however large
    assert calls(h)["list"] == 1
    assert h.ctl.hosts["local"].up


def test_a_container_gone_without_an_event_is_replaced_after_the_next_list(
    tmp_path: Path,
) -> None:
    h = converged(tmp_path, 1000)
    lost = h.running()[0].id
    del h.fake.containers[lost]  # as if its events were dropped: the cache still holds it
    resync(h)  # a ping: the cache does not know yet
    assert lost in {c.id for c in h.ctl.hosts["local"].observer.snapshot()}
    resync(h)  # the list: it is gone, and the service launches a replacement
    h.converge()
    assert lost not in {c.id for c in h.running()}
    assert len(h.running()) == 1000
