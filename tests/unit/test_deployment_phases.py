"""The phases of the deployment planner, one table each, on a fixed clock (NOW): taking the
request (a new PRIMARY), recording failures, the circuit breaker, counts and steady state, and
the service throttle. test_deployments.py drives them together through plan_deployments."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from controller.ecs.planners.deployments import (
    ACTIVE,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    INACTIVE,
    PRIMARY,
    SETTLE_SECONDS,
    CircuitBreaker,
    Event,
    Start,
    circuit_breaker,
    count_tasks,
    promote,
    record_failures,
    settle,
    settle_primary,
    take_request,
    throttle,
)
from controller.ecs.planners.task_state import (
    ESSENTIAL_EXITED,
    HEALTHY,
    RUNNING,
    STOPPED,
    UNKNOWN,
    TaskView,
)
from controller.store import Deployment
from tests.support.builders import T0, container

NOW = T0 + 1000
STARTED = NOW - 100  # when the PRIMARY under test began


def dep(
    id_: str,
    revision: str = "web:2",
    status: str = PRIMARY,
    rollout: str = IN_PROGRESS,
    *,
    created: float = STARTED,
    **changes: object,
) -> Deployment:
    d = Deployment(id_, revision, revision, status, rollout, "", created, created)
    return replace(d, **changes)  # type: ignore[arg-type]


def up(
    id_: str, revision: str = "web:2", *, started: float = NOW - 60, health: str = HEALTHY
) -> TaskView:
    """A RUNNING task; healthy by its checks unless told otherwise."""
    return TaskView(
        id_, revision, "h1", started - 1, started, RUNNING, RUNNING, health, has_health_check=True
    )


def died(
    id_: str, revision: str = "web:2", *, started: float | None, stopped: float, created: float
) -> TaskView:
    """A task whose essential container exited on its own at `stopped`."""
    c = replace(container(id_, state="exited", exit_code=1, rev=revision), finished_at=stopped)
    return TaskView(
        id_,
        revision,
        "h1",
        created,
        started,
        STOPPED,
        STOPPED,
        UNKNOWN,
        ESSENTIAL_EXITED,
        {"app": c},
    )


def starter() -> tuple[list[tuple[str, str]], Start]:
    """A `start` that numbers the new deployments n1, n2, ... and remembers its calls."""
    calls: list[tuple[str, str]] = []
    ids = (f"n{i}" for i in itertools.count(1))

    def start(revision: str, reason: str) -> tuple[Deployment, Event]:
        calls.append((revision, reason))
        d = dep(next(ids), revision, created=NOW)
        return d, ("deployment.start", f"deployment {d.id}: {reason}")

    return calls, start


# -- take the request: start or replace the PRIMARY ------------------------------------------


@pytest.mark.parametrize(
    ("primary", "requested", "config", "started"),
    [
        (None, "web:1", "", ("web:1", "runs web:1")),  # a new service
        (dep("d1", "web:1"), "web:2", "", ("web:2", "runs web:2")),  # a new revision
        (
            dep("d1", "web:1", config="a"),
            "web:1",
            "b",
            ("web:1", "runs web:1 with the service's new settings"),
        ),  # the same revision, the service's launch settings changed
        (dep("d1", "web:1"), "web:1", "", None),  # nothing new: the PRIMARY stays
    ],
)
def test_a_new_request_or_new_settings_start_a_deployment(
    primary: Deployment | None,
    requested: str,
    config: str,
    started: tuple[str, str] | None,
) -> None:
    calls, start = starter()
    deps = [primary] if primary else []
    after, new_primary, events = take_request(deps, primary, requested, config, NOW, start)
    if started is None:
        assert (after, new_primary, events, calls) == (deps, primary, [], [])
        return
    assert calls == [started]
    assert (new_primary.id, new_primary.status) == ("n1", PRIMARY)
    assert [(d.id, d.status) for d in after] == [(d.id, ACTIVE) for d in deps] + [("n1", PRIMARY)]
    assert events == [("deployment.start", f"deployment n1: {started[1]}")]


def test_a_new_primary_demotes_the_previous_one_to_active_and_leaves_the_others() -> None:
    deps = [dep("d1", "web:1", INACTIVE, COMPLETED), dep("d2", "web:2", PRIMARY, COMPLETED)]
    after, primary = promote(deps, dep("d3", "web:3", created=NOW), NOW)
    assert [(d.id, d.status) for d in after] == [("d1", INACTIVE), ("d2", ACTIVE), ("d3", PRIMARY)]
    assert after[1].updated_at == NOW
    assert primary is after[2]


# -- record the PRIMARY's failures -----------------------------------------------------------

B = NOW - 50  # when the failures begin


def ran(id_: str, at: float, seconds: float = 1.0, revision: str = "web:2") -> TaskView:
    """A task created and started at `at` that died `seconds` later."""
    return died(id_, revision, started=at, stopped=at + seconds, created=at)


@pytest.mark.parametrize(
    ("tasks", "failed", "streak"),
    [
        # Two tasks died 1 s after starting, 5 s apart: two quick failures in a row.
        ([ran("a", B), ran("b", B + 5)], ("a", "b"), 2),
        # Three died within WAVE_SECONDS of each other (an engine restart): one step.
        ([ran(i, B, 1 + k / 10) for k, i in enumerate("abc")], ("a", "b", "c"), 1),
        # A task that ran 30 s before it died failed, but did not fail to start.
        ([ran("a", B), ran("b", B, 30)], ("a", "b"), 0),
        # Another revision's failure, or one from before the deployment began, is not its own.
        ([ran("a", B, revision="web:1"), ran("b", STARTED - 10)], (), 0),
    ],
)
def test_the_primarys_failures_are_counted_once_and_quick_ones_make_a_streak(
    tasks: list[TaskView], failed: tuple[str, ...], streak: int
) -> None:
    primary = dep("d1")
    after = record_failures(primary, tasks, NOW)
    assert (after.failed_tasks, after.quick_failures) == (failed, streak)
    assert record_failures(after, tasks, NOW) == after  # seen once, counted once


def test_a_task_started_after_the_last_failure_that_stayed_up_resets_the_streak() -> None:
    primary = dep("d1", quick_failures=3, last_failure_at=NOW - 30, failed_tasks=("x",))
    young = up("a", started=NOW - 5)  # up less than QUICK_FAILURE_SECONDS: proves nothing yet
    before = up("b", started=NOW - 40)  # up from before the failures: proves nothing about starts
    assert record_failures(primary, [young, before], NOW) == primary
    reset = record_failures(primary, [up("c", started=NOW - 15)], NOW)
    assert (reset.quick_failures, reset.failed_tasks, reset.updated_at) == (0, ("x",), NOW)


# -- the circuit breaker ---------------------------------------------------------------------


def failing(n: int, **changes: object) -> Deployment:
    return dep("d2", "web:2", failed_tasks=tuple(f"t{i}" for i in range(n)), **changes)


GOOD = dep("d1", "web:1", ACTIVE, COMPLETED, created=STARTED - 500)


@pytest.mark.parametrize(
    ("breaker", "failed", "state", "rolled_back"),
    [
        (CircuitBreaker(enable=False), 3, IN_PROGRESS, False),  # off: failures only counted
        (CircuitBreaker(enable=True), 2, IN_PROGRESS, False),  # desired 2: the threshold is 3
        (CircuitBreaker(enable=True), 3, FAILED, False),  # tripped, no rollback
        (CircuitBreaker(enable=True, rollback=True), 3, FAILED, True),  # back to web:1
    ],
)
def test_the_circuit_breaker_fails_the_rollout_at_the_threshold_and_may_roll_back(
    breaker: CircuitBreaker, failed: int, state: str, rolled_back: bool
) -> None:
    calls, start = starter()
    primary = failing(failed)
    deps, after, events = circuit_breaker([GOOD, primary], primary, breaker, 2, NOW, start)
    d2 = next(d for d in deps if d.id == "d2")
    assert d2.rollout_state == state
    if state == FAILED:
        assert events[0] == (
            "deployment.failed",
            "circuit breaker: 3 task(s) failed to reach a steady state (threshold 3)",
        )
    if rolled_back:
        assert calls == [("web:1", "rollback to web:1 after deployment d2 failed")]
        assert (after.id, after.revision, d2.status) == ("n1", "web:1", ACTIVE)
        assert events[1] == ("deployment.start", f"deployment n1: {calls[0][1]}")
    else:
        assert (calls, after.id, d2.status) == ([], "d2", PRIMARY)


def test_no_rollback_without_a_completed_deployment_of_another_revision() -> None:
    calls, start = starter()
    primary = failing(3)
    breaker = CircuitBreaker(enable=True, rollback=True)
    _, after, _ = circuit_breaker([primary], primary, breaker, 2, NOW, start)
    assert (calls, after.rollout_state, after.status) == ([], FAILED, PRIMARY)


def test_a_rollout_that_already_failed_does_not_trip_again() -> None:
    calls, start = starter()
    primary = failing(5, rollout_state=FAILED)
    breaker = CircuitBreaker(enable=True, rollback=True)
    deps, after, events = circuit_breaker([GOOD, primary], primary, breaker, 2, NOW, start)
    assert (deps, after, events, calls) == ([GOOD, primary], primary, [], [])


# -- counts and steady state -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "others_left", "state", "settle_at"),
    [
        ([up("a"), up("b")], False, COMPLETED, None),  # 2 of 2 running and healthy
        ([up("a")], False, IN_PROGRESS, None),  # 1 of 2
        ([up("a"), up("b", health=UNKNOWN)], False, IN_PROGRESS, None),  # b awaits its check
        ([up("a"), up("b")], True, IN_PROGRESS, None),  # an old task still runs
        # b started 0.2 s ago: it may yet exit at once; steady once it has run SETTLE_SECONDS.
        ([up("a"), up("b", started=NOW - 0.2)], False, IN_PROGRESS, NOW - 0.2 + SETTLE_SECONDS),
        # b has no health check: it counts as healthy 40 s after RUNNING, at healthy_at.
        (
            [up("a"), replace(up("b", health=UNKNOWN), has_health_check=False, healthy_at=NOW + 7)],
            False,
            IN_PROGRESS,
            NOW + 7,
        ),
    ],
)
def test_the_primary_completes_in_a_steady_state(
    tasks: list[TaskView], others_left: bool, state: str, settle_at: float | None
) -> None:
    after, wait = settle_primary(dep("d1"), tasks, others_left, 2, NOW)
    assert (after.rollout_state, wait) == (state, settle_at)
    assert after.running == len(tasks)


def test_counts_split_running_from_pending() -> None:
    pending = replace(up("c"), last_status="PENDING", started_at=None)
    counted = count_tasks(dep("d1"), [up("a"), up("b"), pending])
    assert (counted.running, counted.pending) == (2, 1)


def test_tasks_belong_to_the_newest_deployment_of_their_revision_and_empty_ones_go_inactive() -> (
    None
):
    old = dep("d1", "web:1", ACTIVE, COMPLETED, created=STARTED - 500)
    older_same = dep("d0", "web:2", ACTIVE, COMPLETED, created=STARTED - 900)
    primary = dep("d2", "web:2")
    deps, after, events, settle_at = settle(
        [older_same, old, primary], primary, [up("a"), up("b")], 2, NOW
    )
    assert [(d.id, d.status, d.running) for d in deps] == [
        ("d0", INACTIVE, 0),  # web:2's tasks are the newer d2's
        ("d1", INACTIVE, 0),  # web:1's tasks are gone
        ("d2", PRIMARY, 2),
    ]
    assert (after.rollout_state, settle_at) == (COMPLETED, None)
    assert events == [("deployment.completed", "deployment d2 reached a steady state")]


def test_an_active_deployment_with_tasks_left_stays_active_and_counted() -> None:
    old = dep("d1", "web:1", ACTIVE, COMPLETED, created=STARTED - 500)
    primary = dep("d2", "web:2")
    deps, after, events, _ = settle([old, primary], primary, [up("o", "web:1"), up("a")], 2, NOW)
    assert [(d.id, d.status, d.running) for d in deps] == [("d1", ACTIVE, 1), ("d2", PRIMARY, 1)]
    assert (after.rollout_state, events) == (IN_PROGRESS, [])


# -- the service throttle --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quick_failures", "relaunch_in"),
    [(0, None), (1, None), (2, 1.0), (3, 2.0), (4, 4.0), (10, 256.0), (11, 300.0), (60, 300.0)],
)
def test_launches_wait_longer_after_each_quick_failure_up_to_five_minutes(
    quick_failures: int, relaunch_in: float | None
) -> None:
    primary = dep("d1", quick_failures=quick_failures, last_failure_at=NOW)
    at = throttle(primary)
    assert (None if at is None else at - NOW) == relaunch_in
