"""The resync's list of an engine is the safety net under its event stream: dockerd spends CPU
on it in proportion to its containers. Up to LIST_SCALE containers an engine is listed at every
resync; above, proportionally less often (a 1,000-container engine every 60 s with the 30 s
resync), and pinged at the resyncs between, so an engine that stops answering is still noticed
at once. Whatever the events missed is still healed, by the next list."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from controller.core.hosts import LIST_SCALE
from controller.runtime.fake import FakeRuntime
from tests.support.builders import FakeClock
from tests.support.harness import Harness, manifest

RESYNC = 30.0  # the daemon's --resync-seconds default


def calls(h: Harness) -> Counter[str]:
    return Counter(operation for operation, _ in h.fake.calls)


def resync(h: Harness, after: float = RESYNC) -> None:
    h.clock.advance(after)
    h.ctl.resync()
    h.ctl.run_until_idle()


def converged(tmp_path: Path, count: int) -> Harness:
    clock = FakeClock()
    h = Harness(tmp_path, FakeRuntime(clock=clock, memory_bytes=64 * 1024**3), clock=clock)
    # No metrics pass: it spreads the fake engine's stats calls over real seconds.
    h.ctl.settings = replace(h.ctl.settings, monitoring=False)
    h.write("web.yaml", manifest(count))
    h.load()
    h.converge(rounds=60)
    assert len(h.running()) == count
    resync(h, 3600)  # a list: the schedule below starts from it
    h.fake.calls.clear()
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
