"""The phases of the service planner (rollout.py), one table each, on a fixed clock (NOW):
replacing unhealthy tasks, old and new tasks, scale-in, the deployment bounds, stopping old
tasks within minimumHealthyPercent, and a blocked deployment. test_service_planner.py drives
them together through plan_service."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.ecs.planners.rollout import (
    Bounds,
    blocked_reason,
    bounds,
    failing_health,
    is_current,
    next_warm,
    old_to_stop,
    scale_in,
    split_current,
    still_stopping,
)
from controller.ecs.planners.task_state import (
    HEALTH_CHECK_FAILED,
    HEALTHY,
    PROVISIONING,
    RUNNING,
    STOPPED,
    STOPPING,
    UNHEALTHY,
    UNKNOWN,
    TaskView,
)
from tests.support.builders import T0, container, revision

NOW = T0 + 1000
WEB2 = revision("web:2")


def tv(
    id_: str,
    revision: str = "web:2",
    *,
    health: str = HEALTHY,
    status: str = RUNNING,
    started: float | None = NOW - 60,
    created: float | None = None,
    host: str = "h1",
    **changes: object,
) -> TaskView:
    """A task with a health check; RUNNING and healthy unless told otherwise."""
    c = container(id_, rev=revision, state="exited" if status == STOPPED else "running")
    t = TaskView(
        id_,
        revision,
        host,
        created if created is not None else (started or NOW) - 1,
        started,
        status,
        RUNNING,
        health,
        containers={"app": c},
        has_health_check=True,
    )
    return replace(t, **changes)  # type: ignore[arg-type]


def warming(id_: str, at: float, revision: str = "web:2") -> TaskView:
    """RUNNING with no health check, counting as healthy at `at` (ECS: 40 s after RUNNING)."""
    return tv(id_, revision, health=UNKNOWN, has_health_check=False, healthy_at=at)


def launching(id_: str, revision: str = "web:2") -> TaskView:
    """A launch in flight: the executor made it, observation has not caught up."""
    return tv(id_, revision, status=PROVISIONING, started=None, health=UNKNOWN, in_flight=True)


def ids(tasks: list[TaskView]) -> list[str]:
    return [t.id for t in tasks]


# -- replace unhealthy tasks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "grace", "targets", "stopped", "wake"),
    [
        (tv("a", health=UNHEALTHY), 0.0, {}, HEALTH_CHECK_FAILED, []),
        (
            tv("a", health=UNHEALTHY),
            0.0,
            {"a": {"tg-web": "unhealthy"}},
            "Task failed ELB health checks in (target-group tg-web)",
            [],
        ),
        # Started 60 s ago, grace period 90 s: spared until it ends.
        (tv("a", health=UNHEALTHY), 90.0, {}, None, [NOW + 30]),
        (tv("a", health=UNHEALTHY), 30.0, {}, HEALTH_CHECK_FAILED, []),  # grace over
        (tv("a"), 0.0, {}, None, []),  # healthy
        (tv("a", health=UNHEALTHY, desired_status=STOPPED), 0.0, {}, None, []),  # going anyway
    ],
)
def test_an_unhealthy_task_is_replaced_once_its_grace_period_ends(
    task: TaskView,
    grace: float,
    targets: dict[str, dict[str, str]],
    stopped: str | None,
    wake: list[float],
) -> None:
    stops, wakes = failing_health([task], grace, ["tg-web"], targets, NOW)
    assert stops == ([(task, stopped)] if stopped else [])
    assert wakes == wake


# -- old and new tasks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "config", "current"),
    [
        (tv("a"), "", True),
        (tv("a", "web:1"), "", False),  # another revision
        (tv("a", spec_hash=WEB2.spec_hash), "", True),
        (tv("a", spec_hash="other"), "", False),  # web:2 made from another spec
        (tv("a", config="c1"), "c2", False),  # the service's settings changed
        (tv("a", config="c1"), "c1", True),
        (tv("a"), "c2", True),  # made before settings were recorded
    ],
)
def test_a_task_is_current_with_the_target_revision_spec_and_settings(
    task: TaskView, config: str, current: bool
) -> None:
    assert is_current(task, WEB2, config) is current


def test_tasks_on_a_draining_host_are_old_whatever_they_run() -> None:
    tasks = [tv("a", host="h1"), tv("b", host="h2"), tv("c", "web:1", host="h1")]
    new, old = split_current(tasks, WEB2, "", {"h2"})
    assert (ids(new), ids(old)) == (["a"], ["b", "c"])


# -- scale in --------------------------------------------------------------------------------

ZONES = {"h1": "a", "h2": "a", "h3": "b"}


@pytest.mark.parametrize(
    ("tasks", "n", "order", "victims"),
    [
        # Oldest or newest first, as the service's scale-in order says.
        ([tv("t1", created=T0), tv("t2", created=T0 + 1)], 1, "NEWEST_FIRST", ["t2"]),
        ([tv("t1", created=T0), tv("t2", created=T0 + 1)], 1, "OLDEST_FIRST", ["t1"]),
        # Not yet running, then unhealthy, before healthy ones, whatever their age.
        (
            [tv("t1"), tv("t2", status=PROVISIONING, started=None), tv("t3", health=UNHEALTHY)],
            2,
            "NEWEST_FIRST",
            ["t2", "t3"],
        ),
        # Zone a runs three (h1: 2, h2: 1), zone b one: a's busiest host goes first, then a again.
        (
            [
                tv("t1", host="h1", created=T0 + 3),
                tv("t2", host="h1", created=T0 + 1),
                tv("t3", host="h2", created=T0 + 2),
                tv("t4", host="h3", created=T0 + 4),
            ],
            2,
            "NEWEST_FIRST",
            ["t1", "t3"],
        ),
        ([tv("t1"), tv("t2", in_flight=True)], 1, "NEWEST_FIRST", ["t1"]),  # launches never
        ([tv("t1")], 0, "NEWEST_FIRST", []),
    ],
)
def test_scale_in_stops_the_weak_first_then_keeps_the_zones_balanced(
    tasks: list[TaskView], n: int, order: str, victims: list[str]
) -> None:
    assert ids(scale_in(tasks, n, order, ZONES)) == victims


# -- the deployment bounds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "minimum", "maximum", "rolling", "floor", "ceiling"),
    [
        (4, 100, 200, True, 4, 8),  # the defaults: up to 8 at once, 4 always healthy
        (4, 50, 100, True, 2, 4),  # stop two, then launch two
        (3, 50, 150, True, 2, 4),  # ceil(1.5) healthy, floor(4.5) at once
        (4, 100, 50, True, 4, 2),  # a deployment that can never move
        (4, 100, 50, False, 4, 4),  # no old task: desiredCount may still run
        (0, 100, 200, True, 0, 0),
    ],
)
def test_minimum_healthy_and_maximum_percent_give_a_floor_and_a_ceiling(
    count: int, minimum: int, maximum: int, rolling: bool, floor: int, ceiling: int
) -> None:
    assert bounds(count, minimum, maximum, rolling) == Bounds(floor, ceiling)


def test_tasks_still_stopping_count_until_their_containers_exit() -> None:
    tasks = [
        tv("a", status=STOPPING),  # containers still run
        tv("b"),  # being stopped this pass
        tv("c", status=STOPPED, desired_status=STOPPED),  # exited: counts no more
        tv("d", status=STOPPING, host="lost"),  # on a lost host: replaced, not waited for
        tv("e"),  # running on
    ]
    assert still_stopping(tasks, {"b", "c"}, {"lost"}) == 2


# -- stop old tasks within minimumHealthyPercent ---------------------------------------------


OLD = [tv("o1", "web:1"), tv("o2", "web:1")]


@pytest.mark.parametrize(
    ("old", "new", "floor", "stopped", "spare"),
    [
        # 100/200, desired 2: both new are healthy, so both old may go.
        (OLD, [tv("n1"), tv("n2")], 2, ["o1", "o2"], 0),
        # Only one new is healthy (the other awaits its check): one old goes, one stays.
        (OLD, [tv("n1"), tv("n2", health=UNKNOWN)], 2, ["o1"], 0),
        # An unhealthy old task goes first and whatever the floor.
        ([tv("o1", "web:1"), tv("o2", "web:1", health=UNHEALTHY)], [], 2, ["o2"], -1),
        # 100/100, desired 1: the new task is not healthy yet; the old one stays.
        ([tv("o1", "web:1")], [], 1, [], 0),
        # A young old task (healthy in 5 s) is kept while it holds the floor...
        ([warming("o1", NOW + 5, "web:1")], [], 1, [], -1),
        # ...and goes once a new task is about to be healthy as well.
        ([warming("o1", NOW + 5, "web:1")], [warming("n1", NOW + 30)], 1, ["o1"], -1),
        ([launching("o1", "web:1")], [tv("n1"), tv("n2")], 0, [], 2),  # never a launch
    ],
)  # fmt: skip
def test_old_tasks_stop_as_long_as_minimum_healthy_percent_stays_healthy(
    old: list[TaskView], new: list[TaskView], floor: int, stopped: list[str], spare: int
) -> None:
    victims, left = old_to_stop(old, old + new, floor)
    assert (ids(victims), left) == (stopped, spare)


def test_the_planner_looks_again_when_a_kept_task_turns_healthy_while_old_ones_wait() -> None:
    old = [tv("o1", "web:1")]
    active = [*old, warming("n1", NOW + 30), warming("n2", NOW + 20)]
    assert next_warm(active, old, set()) == NOW + 20
    assert next_warm(active, old, {"o1"}) is None  # no old task waits
    assert next_warm(active, old, {"n2"}) == NOW + 30  # a task being stopped is not kept
    assert next_warm([*old, tv("n1")], old, set()) is None  # nothing warming


def test_a_blocked_deployment_says_which_bounds_block_it() -> None:
    assert blocked_reason("web", 4, 100, 100, Bounds(4, 4)) == (
        "(service web) was unable to stop or start tasks during a deployment because of the "
        "service deployment configuration: with desiredCount 4, maximumPercent 100 allows 4 "
        "task(s) and minimumHealthyPercent 100 keeps 4 healthy. Update the "
        "minimumHealthyPercent or maximumPercent value and try again."
    )
