"""Expectations: a key's launches, removals and starts stay pending until observation shows them
(or they time out), so a stale read never launches or removes twice."""

from __future__ import annotations

import pytest

from controller.core.observed import ObservedTask
from controller.ecs.planners.service import InFlight
from controller.ecs.sync.expectations import Expectations
from tests.support.builders import FakeClock, container, task

WEB = ("Service", "web")
API = ("Service", "api")
TTL = 60.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exp(clock: FakeClock) -> Expectations:
    return Expectations(ttl=TTL, clock=clock)


def flight(task_id: str, host: str = "h1") -> InFlight:
    return InFlight(task_id, "web:1", host)


def observed(*tasks: ObservedTask) -> dict[str, ObservedTask]:
    return {t.id: t for t in tasks}


NOTHING: dict[str, ObservedTask] = {}


# --- launches ------------------------------------------------------------------------------------


def test_a_launch_is_in_flight_until_its_task_is_observed(exp: Expectations) -> None:
    f = flight("t1")
    exp.expect_launch(WEB, f, containers=1)
    assert exp.pending(WEB, NOTHING).launches == [f]

    seen = observed(task("t1", container("t1", "app", state="created")))
    assert exp.pending(WEB, seen).launches == []
    assert exp.pending(WEB, NOTHING).launches == [], "once observed, it is not expected again"


def test_a_partially_observed_launch_stays_in_flight(exp: Expectations) -> None:
    f = flight("t1")
    exp.expect_launch(WEB, f, containers=2)
    half = observed(task("t1", container("t1", "app")))
    assert exp.pending(WEB, half).launches == [f]
    both = observed(task("t1", container("t1", "app"), container("t1", "sidecar")))
    assert exp.pending(WEB, both).launches == []


def test_other_tasks_being_observed_do_not_satisfy_a_launch(exp: Expectations) -> None:
    f = flight("t1")
    exp.expect_launch(WEB, f, containers=1)
    others = observed(task("t2", container("t2", "app")), task("t3", container("t3", "app")))
    assert exp.pending(WEB, others).launches == [f]


def test_a_launch_expires_after_the_ttl(clock: FakeClock, exp: Expectations) -> None:
    f = flight("t1")
    exp.expect_launch(WEB, f, containers=1)
    clock.advance(TTL)
    assert exp.pending(WEB, NOTHING).launches == [f], "still within the ttl"
    clock.advance(0.001)
    assert exp.pending(WEB, NOTHING).launches == []


def test_launch_done_forgets_a_failed_launch(exp: Expectations) -> None:
    ok, failed = flight("t1"), flight("t2")
    exp.expect_launch(WEB, ok, containers=1)
    exp.expect_launch(WEB, failed, containers=1)
    exp.launch_done(WEB, "t2")
    assert exp.pending(WEB, NOTHING).launches == [ok]
    assert exp.all_in_flight() == [ok]


def test_launch_done_for_unknown_launches_is_harmless(exp: Expectations) -> None:
    exp.launch_done(WEB, "nope")
    exp.expect_launch(WEB, flight("t1"), containers=1)
    exp.launch_done(API, "t1")  # another key's launch of that id: not this one
    assert len(exp.pending(WEB, NOTHING).launches) == 1


# --- removals and starts -------------------------------------------------------------------------


def test_a_removal_is_pending_while_the_container_is_still_listed(exp: Expectations) -> None:
    exp.expect_removal(WEB, ["t1-app"])
    still_listed = observed(task("t1", container("t1", "app", state="exited")))
    assert exp.pending(WEB, still_listed).removing == {"t1-app"}
    assert exp.pending(WEB, NOTHING).removing == set()


def test_a_removal_clears_container_by_container(exp: Expectations) -> None:
    exp.expect_removal(WEB, ["t1-app", "t1-sidecar"])
    one_left = observed(task("t1", container("t1", "sidecar", state="exited")))
    assert exp.pending(WEB, one_left).removing == {"t1-sidecar"}


def test_a_removal_expires_after_the_ttl(clock: FakeClock, exp: Expectations) -> None:
    exp.expect_removal(WEB, ["t1-app"])
    stuck = observed(task("t1", container("t1", "app", state="exited")))
    clock.advance(TTL + 0.001)
    assert exp.pending(WEB, stuck).removing == set()


def test_a_start_is_pending_while_the_container_is_still_created(exp: Expectations) -> None:
    exp.expect_started(WEB, ["t1-app"])
    created = observed(task("t1", container("t1", "app", state="created")))
    assert exp.pending(WEB, created).starting == {"t1-app"}
    running = observed(task("t1", container("t1", "app", state="running")))
    assert exp.pending(WEB, running).starting == set()


def test_a_start_is_cleared_once_the_container_has_moved_on_or_gone(exp: Expectations) -> None:
    exp.expect_started(WEB, ["t1-app", "t2-app"])
    t1_exited = observed(task("t1", container("t1", "app", state="exited")))
    assert exp.pending(WEB, t1_exited).starting == set()


def test_a_start_expires_after_the_ttl(clock: FakeClock, exp: Expectations) -> None:
    exp.expect_started(WEB, ["t1-app"])
    created = observed(task("t1", container("t1", "app", state="created")))
    clock.advance(TTL + 0.001)
    assert exp.pending(WEB, created).starting == set()


# --- across keys ---------------------------------------------------------------------------------


def test_all_in_flight_lists_launches_of_every_key(exp: Expectations) -> None:
    w1, w2, a1 = flight("w1", "h1"), flight("w2", "h2"), flight("a1", "h1")
    exp.expect_launch(WEB, w1, containers=1)
    exp.expect_launch(WEB, w2, containers=1)
    exp.expect_launch(API, a1, containers=1)
    assert sorted(exp.all_in_flight(), key=lambda f: f.task_id) == [a1, w1, w2]

    exp.pending(WEB, observed(task("w1", container("w1", "app"))))
    assert sorted(exp.all_in_flight(), key=lambda f: f.task_id) == [a1, w2]


def test_one_keys_expectations_do_not_leak_into_another(exp: Expectations) -> None:
    exp.expect_launch(WEB, flight("w1"), containers=1)
    exp.expect_removal(WEB, ["w0-app"])
    exp.expect_started(WEB, ["w9-app"])
    pending = exp.pending(API, NOTHING)
    assert (pending.launches, pending.removing, pending.starting) == ([], set(), set())


def test_expecting_the_same_launch_again_replaces_it(clock: FakeClock, exp: Expectations) -> None:
    f = flight("t1")
    exp.expect_launch(WEB, f, containers=1)
    clock.advance(TTL - 1)
    exp.expect_launch(WEB, f, containers=2)  # re-expected: a fresh ttl and container count
    clock.advance(2)
    one = observed(task("t1", container("t1", "app")))
    assert exp.pending(WEB, one).launches == [f]
    assert exp.all_in_flight() == [f]


def test_all_in_flight_leaves_out_launches_that_timed_out(
    clock: FakeClock, exp: Expectations
) -> None:
    exp.expect_launch(WEB, flight("w1"), containers=1)
    clock.advance(TTL + 1)
    assert exp.all_in_flight() == []
