"""The core's in-flight ledger (issue 14): launches, starts and removals stay pending until
observation shows them or their TTL passes; `done`/`failed` drop one; a fixed fake clock drives
time. Also the instance tracker, the ledger's user for instances, with its reboot rule."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from controller.core.in_flight import InFlightLedger, Write
from controller.core.instances.tracker import InstanceTracker
from tests.support.builders import T0, FakeClock

TTL = 60.0
WEB = ("Service", "web")
API = ("Service", "api")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> InFlightLedger[tuple[str, str], str, None]:
    return InFlightLedger(ttl=TTL, clock=clock)


Ledger = InFlightLedger[tuple[str, str], str, None]


def nothing(_id: str, _w: Write[Any]) -> bool:
    return False


def among(ids: set[str]) -> Any:
    return lambda i, _w: i in ids


# --- launches ------------------------------------------------------------------------------------


def test_a_launch_is_pending_with_what_it_holds_until_observed(ledger: Ledger) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    pending = ledger.launches.pending(WEB, nothing)
    assert {i: w.payload for i, w in pending.items()} == {"t1": "h1"}
    assert pending["t1"].at == T0 and pending["t1"].expires == T0 + TTL

    assert ledger.launches.pending(WEB, among({"t1"})) == {}
    assert ledger.launches.pending(WEB, nothing) == {}, "once observed, it is dropped"


def test_a_launch_expires_after_its_ttl_and_not_before(ledger: Ledger, clock: FakeClock) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    clock.advance(TTL)
    assert set(ledger.launches.pending(WEB, nothing)) == {"t1"}, "kept while expires >= now"
    clock.advance(0.001)
    assert ledger.launches.pending(WEB, nothing) == {}


def test_expecting_again_renews_the_ttl(ledger: Ledger, clock: FakeClock) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    clock.advance(TTL / 2)
    ledger.expect_launch(WEB, "t1", "h2")
    clock.advance(TTL / 2 + 1)
    pending = ledger.launches.pending(WEB, nothing)
    assert pending["t1"].payload == "h2"


def test_a_failed_launch_is_dropped_at_once(ledger: Ledger) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    ledger.expect_launch(WEB, "t2", "h1")
    ledger.launches.failed(WEB, ["t1"])
    ledger.launches.done(WEB, ["nope"])  # unknown ids are ignored
    assert set(ledger.launches.pending(WEB, nothing)) == {"t2"}


def test_keys_are_kept_apart(ledger: Ledger) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    ledger.expect_launch(API, "t2", "h2")
    assert set(ledger.launches.pending(WEB, among({"t2"}))) == {"t1"}
    assert set(ledger.launches.pending(API, nothing)) == {"t2"}
    ledger.launches.done(WEB, ["t2"])
    assert set(ledger.launches.pending(API, nothing)) == {"t2"}


def test_pending_keeps_the_order_launches_were_expected(ledger: Ledger) -> None:
    for t in ("t3", "t1", "t2"):
        ledger.expect_launch(WEB, t, "h1")
    assert list(ledger.launches.pending(WEB, nothing)) == ["t3", "t1", "t2"]


def test_unexpired_lists_every_key_without_dropping(ledger: Ledger, clock: FakeClock) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    clock.advance(TTL / 2)
    ledger.expect_launch(API, "t2", "h2")
    assert sorted((k, i, w.payload) for k, i, w in ledger.launches.unexpired()) == [
        (API, "t2", "h2"),
        (WEB, "t1", "h1"),
    ]
    clock.advance(TTL / 2 + 1)
    assert [i for _, i, _ in ledger.launches.unexpired()] == ["t2"]
    assert ledger.launches.get(WEB, "t1") is not None, "unexpired() drops nothing"


def test_the_predicate_sees_the_write(ledger: Ledger) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    ledger.expect_launch(WEB, "t2", "h2")
    kept = ledger.launches.pending(WEB, lambda _i, w: w.payload == "h1")
    assert set(kept) == {"t2"}


# --- starts and removals -------------------------------------------------------------------------


def test_starts_and_removals_are_pending_together_until_shown(
    ledger: Ledger, clock: FakeClock
) -> None:
    ledger.expect_launch(WEB, "t1", "h1")
    ledger.expect_start(WEB, ["c1", "c2"], None)
    ledger.expect_removal(WEB, ["c3"])
    p = ledger.pending(WEB)
    assert (set(p.launches), set(p.starts), set(p.removals)) == ({"t1"}, {"c1", "c2"}, {"c3"})

    p = ledger.pending(WEB, started=among({"c1"}), removed=among({"c3"}))
    assert (set(p.launches), set(p.starts), set(p.removals)) == ({"t1"}, {"c2"}, set())
    clock.advance(TTL + 1)
    p = ledger.pending(WEB)
    assert (p.launches, p.starts, p.removals) == ({}, {}, {})


def test_a_failed_removal_or_start_is_dropped(ledger: Ledger) -> None:
    ledger.expect_removal(WEB, ["c1", "c2"])
    ledger.expect_start(WEB, ["c3"], None)
    ledger.removals.failed(WEB, ["c1"])
    ledger.starts.failed(WEB, ["c3"])
    p = ledger.pending(WEB)
    assert (set(p.starts), set(p.removals)) == (set(), {"c2"})


def test_forget_drops_an_id_of_every_kind_and_key(ledger: Ledger) -> None:
    ledger.expect_launch(WEB, "i1", "h1")
    ledger.expect_start(API, ["i1", "i2"], None)
    ledger.expect_removal(WEB, ["i1"])
    ledger.forget(["i1"])
    assert ledger.pending(WEB).launches == {} and ledger.pending(WEB).removals == {}
    assert set(ledger.pending(API).starts) == {"i2"}


def test_concurrent_expect_and_pending_lose_nothing(ledger: Ledger) -> None:
    def writer(n: int) -> None:
        for i in range(200):
            ledger.expect_launch(WEB, f"{n}-{i}", "h1")
            ledger.launches.pending(WEB, nothing)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ledger.launches.pending(WEB, nothing)) == 800


# --- the instance tracker on the ledger ----------------------------------------------------------


def seen(started_at: float | None = None, running: bool = False) -> Any:
    return SimpleNamespace(container=SimpleNamespace(started_at=started_at, running=running))


def test_tracker_reserves_a_launch_until_observed_or_expired(clock: FakeClock) -> None:
    tr = InstanceTracker(TTL, clock)
    tr.expect_launch("i-1", "h1", 1024, 512)
    tr.expect_launch("i-2", "h2", 2048, 256)
    assert tr.reserved({}) == [("h1", 1024, 512), ("h2", 2048, 256)]
    assert tr.in_flight({"i-1": seen()}) == {"i-2"}
    tr.launch_done("i-2")
    assert tr.reserved({}) == []
    tr.expect_launch("i-3", "h1", 1, 1)
    clock.advance(TTL + 1)
    assert tr.in_flight({}) == set()


def test_tracker_start_ends_when_the_container_runs_or_began_after(clock: FakeClock) -> None:
    tr = InstanceTracker(TTL, clock)
    tr.expect_start("i-1")
    assert tr.starting({"i-1": seen(started_at=T0 - 5)}) == {"i-1"}
    assert tr.starting({"i-1": seen(started_at=T0 - 1)}) == set(), "a second's slack"
    tr.expect_start("i-1")
    assert tr.starting({"i-1": seen(running=True)}) == set()


def test_tracker_reboot_waits_for_a_start_after_it(clock: FakeClock) -> None:
    tr = InstanceTracker(TTL, clock)
    tr.expect_reboot("i-1")
    clock.advance(1)
    assert tr.starting({"i-1": seen(started_at=T0 - 100, running=True)}) == {"i-1"}
    tr.expect_start("i-1")  # a start asked while the reboot is pending stays a reboot
    assert tr.starting({"i-1": seen(started_at=T0, running=True)}) == {"i-1"}
    assert tr.starting({"i-1": seen(started_at=T0 + 1, running=True)}) == set()
    tr.expect_start("i-1")  # the reboot was seen: a plain start now
    assert tr.starting({"i-1": seen(running=True)}) == set()


def test_tracker_forget_drops_flights_and_checks(clock: FakeClock) -> None:
    tr = InstanceTracker(TTL, clock)
    tr.expect_launch("i-1", "h1", 1, 1)
    tr.expect_start("i-1")
    tr.forget(["i-1"])
    assert tr.in_flight({}) == set() and tr.starting({}) == set()
