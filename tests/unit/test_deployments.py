"""Deployments as ECS keeps them: PRIMARY/ACTIVE/INACTIVE, rollout states, the circuit breaker,
rollback, and the service throttle for tasks that keep failing to start."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import pytest

from controller.core.observed import ObservedTask
from controller.ecs.planners.deployments import (
    ACTIVE,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    INACTIVE,
    PRIMARY,
    SETTLE_SECONDS,
    CircuitBreaker,
    DeploymentPlan,
    failure_threshold,
    plan_deployments,
)
from controller.ecs.planners.task_state import ESSENTIAL_EXITED, TaskView, view_task
from controller.store import Deployment
from tests.support.builders import T0, container, running, stop_record, task, td

SPEC = td()
OFF = CircuitBreaker()


def views(tasks: Sequence[ObservedTask], failed: Sequence[str] = ()) -> list[TaskView]:
    records = {t: stop_record(t, ESSENTIAL_EXITED, None) for t in failed}
    return [view_task(t, SPEC, records.get(t.id), T0 + 1000) for t in tasks]


def crashed(task_id: str, rev: str, created: float, ran: float = 1.0) -> ObservedTask:
    c = container(task_id, state="exited", exit_code=1, rev=rev, created=created)
    return task(task_id, replace(c, finished_at=created + 1 + ran))


def deploy(
    records: Sequence[Deployment],
    requested: str,
    tasks: list[TaskView],
    *,
    desired: int = 2,
    breaker: CircuitBreaker = OFF,
    now: float = T0 + 1000,
) -> DeploymentPlan:
    ids = (f"d{i}" for i in itertools.count(len(records) + 1))
    return plan_deployments(records, requested, desired, breaker, tasks, now, lambda: next(ids))


def test_a_new_service_starts_a_primary_deployment_that_completes_at_steady_state() -> None:
    first = deploy([], "web:1", [])
    (d,) = first.deployments
    assert (d.id, d.status, d.rollout_state, d.revision) == ("d1", PRIMARY, IN_PROGRESS, "web:1")
    assert first.events == (("deployment.start", "deployment d1: runs web:1"),)
    steady = deploy(
        first.deployments, "web:1", views([running("a", created=T0), running("b", created=T0)])
    )
    assert (steady.primary.rollout_state, steady.primary.running) == (COMPLETED, 2)


def test_tasks_that_just_started_have_not_reached_a_steady_state_yet() -> None:
    first = deploy([], "web:1", [])
    tasks = [running("a", created=T0), running("b", created=T0)]
    started = max(t.started_at or 0 for t in tasks)
    early = deploy(first.deployments, "web:1", views(tasks), now=started + 0.2)
    assert early.primary.rollout_state == IN_PROGRESS  # they may yet exit at once
    assert early.settle_at == started + SETTLE_SECONDS  # when to look again
    settled = deploy(first.deployments, "web:1", views(tasks), now=started + SETTLE_SECONDS)
    assert settled.primary.rollout_state == COMPLETED
    assert settled.settle_at is None


def test_a_new_revision_makes_a_new_primary_and_the_old_one_active_until_its_tasks_go() -> None:
    done = replace(deploy([], "web:1", []).deployments[0], rollout_state=COMPLETED)
    rolling = deploy([done], "web:2", views([running("a", rev="web:1")]))
    old, new = rolling.deployments
    assert (old.status, new.status, new.revision, rolling.target) == (
        ACTIVE,
        PRIMARY,
        "web:2",
        "web:2",
    )
    finished = deploy(
        rolling.deployments,
        "web:2",
        views([running("n", rev="web:2", created=T0 + 999)]),
        desired=1,
    )
    assert [d.status for d in finished.deployments] == [INACTIVE, PRIMARY]


@pytest.mark.parametrize(("desired", "threshold"), [(1, 3), (4, 3), (10, 5), (1000, 200)])
def test_the_failure_threshold_is_half_the_desired_count_clamped_to_3_and_200(
    desired: int, threshold: int
) -> None:
    assert failure_threshold(desired) == threshold


def _failing(breaker: CircuitBreaker) -> DeploymentPlan:
    good = replace(deploy([], "web:1", []).deployments[0], rollout_state=COMPLETED, created_at=T0)
    started = deploy([good], "web:2", [], now=T0 + 10)
    crashes = [crashed(f"c{i}", "web:2", created=T0 + 20 + i) for i in range(3)]
    return deploy(
        started.deployments,
        "web:2",
        views(crashes, [t.id for t in crashes]),
        desired=4,
        breaker=breaker,
        now=T0 + 30,
    )


def test_the_circuit_breaker_fails_the_deployment_and_rolls_back_to_the_last_completed() -> None:
    plan = _failing(CircuitBreaker(enable=True, rollback=True))
    _first, failed, rollback = plan.deployments
    assert (failed.rollout_state, len(failed.failed_tasks)) == (FAILED, 3)
    assert "3 task(s) failed to reach a steady state (threshold 3)" in failed.reason
    assert (rollback.status, rollback.revision, rollback.requested) == (PRIMARY, "web:1", "web:2")
    assert (plan.target, plan.halted) == ("web:1", False)
    again = deploy(plan.deployments, "web:2", [], now=T0 + 40)
    assert again.target == "web:1"  # stays rolled back until the manifest changes


def test_without_rollback_a_failed_deployment_stops_launching() -> None:
    plan = _failing(CircuitBreaker(enable=True, rollback=False))
    assert (plan.primary.rollout_state, plan.target, plan.halted) == (FAILED, "web:2", True)


def test_without_the_circuit_breaker_failures_only_slow_relaunches_down() -> None:
    plan = _failing(CircuitBreaker())
    assert (plan.primary.rollout_state, plan.halted) == (IN_PROGRESS, False)
    assert plan.primary.quick_failures == 3
    last = T0 + 22 + 2  # the third crash ended 2 s after its creation
    assert plan.relaunch_at == pytest.approx(last + 2)  # 1 s, doubled once


def test_the_throttle_grows_with_each_quick_failure_and_resets_once_a_task_stays_up() -> None:
    tasks: list[ObservedTask] = []
    plan = deploy([], "web:1", [], now=T0)
    waits = []
    for i in range(6):
        tasks.append(crashed(f"c{i}", "web:1", created=T0 + 100 * i + 1))
        plan = deploy(
            plan.deployments, "web:1", views(tasks, [t.id for t in tasks]), now=T0 + 100 * i + 50
        )
        ended = T0 + 100 * i + 1 + 2
        waits.append(None if plan.relaunch_at is None else round(plan.relaunch_at - ended))
    assert waits == [None, 1, 2, 4, 8, 16]
    stayed_up = running("ok", created=T0 + 700)  # started at T0 + 701
    calm = deploy(
        plan.deployments, "web:1", views([*tasks, stayed_up], [t.id for t in tasks]), now=T0 + 720
    )
    assert (calm.primary.quick_failures, calm.relaunch_at) == (0, None)


def test_a_task_that_ran_a_while_before_dying_does_not_count_as_failing_to_start() -> None:
    plan = deploy([], "web:1", [], now=T0)
    long_runs = [crashed(f"k{i}", "web:1", created=T0 + 100 * i + 1, ran=60) for i in range(3)]
    plan = deploy(
        plan.deployments, "web:1", views(long_runs, [t.id for t in long_runs]), now=T0 + 400
    )
    assert (plan.primary.quick_failures, plan.relaunch_at) == (0, None)


def test_tasks_dying_together_are_one_step_of_the_throttle() -> None:
    """An engine restart stops every young task at once: that is one wave of failures, not six
    failures in a row (which would hold relaunches back 16 s; twelve, 300 s)."""
    plan = deploy([], "web:1", [], now=T0)
    wave = [crashed(f"w{i}", "web:1", created=T0 + 1 + i * 0.01) for i in range(6)]
    plan = deploy(plan.deployments, "web:1", views(wave, [t.id for t in wave]), now=T0 + 10)
    assert (plan.primary.quick_failures, plan.relaunch_at) == (1, None)
    again = [crashed(f"a{i}", "web:1", created=T0 + 20 + i * 0.01) for i in range(6)]
    tasks = wave + again
    plan = deploy(plan.deployments, "web:1", views(tasks, [t.id for t in tasks]), now=T0 + 30)
    assert plan.primary.quick_failures == 2
    assert plan.relaunch_at == pytest.approx(T0 + 20 + 0.05 + 2 + 1)  # the last death + 1 s
