"""A service's task views kept from pass to pass: the same views `view_task` gives, built again
only for the tasks that changed."""

from __future__ import annotations

from dataclasses import replace

from controller.core.observed import ObservedTask
from controller.ecs.planners.service import ServiceDesired, plan_service
from controller.ecs.planners.task_state import view_task
from controller.ecs.planners.task_views import TaskViews
from controller.store.records import TaskRecord
from tests.support.builders import T0, container, hosts, revision, running, stop_record, task

SPECS = {"web:1": revision("web:1").spec}


def regrouped(tasks: list[ObservedTask]) -> list[ObservedTask]:
    """The same containers as the observer groups them on the next pass: new objects."""
    return [replace(t, containers=dict(t.containers)) for t in tasks]


def fresh(tasks: list[ObservedTask], records: dict[str, TaskRecord], now: float) -> list[object]:
    return [view_task(t, SPECS.get(t.revision), records.get(t.id), now) for t in tasks]


def test_a_pass_with_nothing_changed_builds_no_view() -> None:
    memo = TaskViews()
    tasks = [running(f"t{i}", created=T0 + i) for i in range(50)]
    memo.views(tasks, {}, SPECS, T0 + 100)
    assert memo.built == 50
    views = memo.views(regrouped(tasks), {}, SPECS, T0 + 101)
    assert memo.built == 0
    assert views == fresh(tasks, {}, T0 + 101)


def test_only_the_task_whose_container_changed_is_viewed_again() -> None:
    memo = TaskViews()
    tasks = [running(f"t{i}", created=T0 + i) for i in range(10)]
    memo.views(tasks, {}, SPECS, T0 + 100)
    died = regrouped(tasks)
    died[3] = task("t3", container("t3", state="exited", exit_code=1, created=T0 + 3))
    views = memo.views(died, {}, SPECS, T0 + 100)
    assert memo.built == 1
    assert views[3].last_status == "STOPPED"
    assert views[3].stopped_reason == "Essential container in task exited"
    assert views == fresh(died, {}, T0 + 100)


def test_a_new_record_is_seen_at_once() -> None:
    memo = TaskViews()
    tasks = [running("t1"), running("t2")]
    memo.views(tasks, {}, SPECS, T0 + 100)
    records = {"t1": stop_record("t1", "Scaling activity initiated by (service web)", T0 + 99)}
    views = memo.views(regrouped(tasks), records, SPECS, T0 + 100)
    assert memo.built == 1
    assert (views[0].desired_status, views[0].last_status) == ("STOPPED", "STOPPING")
    assert views == fresh(tasks, records, T0 + 100)


def test_a_task_counts_as_healthy_40_seconds_after_it_ran_though_its_view_is_kept() -> None:
    # ECS: with no health check, a task counts toward minimumHealthyPercent once it has been
    # RUNNING 40 seconds. Its container started at T0 + 1.
    memo = TaskViews()
    tasks = [running("t1")]
    (young,) = memo.views(tasks, {}, SPECS, T0 + 10)
    assert not young.healthy and young.healthy_at == T0 + 41
    (still,) = memo.views(regrouped(tasks), {}, SPECS, T0 + 40)
    assert not still.healthy
    (warm,) = memo.views(regrouped(tasks), {}, SPECS, T0 + 41)
    assert warm.healthy and warm.healthy_at is None
    assert memo.built == 0  # the clock alone rebuilt nothing
    assert [young, still, warm] == [
        view_task(tasks[0], SPECS["web:1"], None, now) for now in (T0 + 10, T0 + 40, T0 + 41)
    ]


def test_tasks_gone_from_the_service_leave_the_memo() -> None:
    memo = TaskViews()
    memo.views([running("t1"), running("t2")], {}, SPECS, T0)
    memo.views([running("t2")], {}, SPECS, T0)
    memo.views([running("t1"), running("t2")], {}, SPECS, T0)
    assert memo.built == 1  # t1 was forgotten when the service no longer had it


def test_the_plan_is_the_same_with_the_memo_and_without() -> None:
    desired = ServiceDesired("web", 4, revision("web:1"))
    tasks = [running(f"t{i}", created=T0 + i) for i in range(6)]
    memo = TaskViews()
    for now in (T0 + 10, T0 + 60):
        with_memo = plan_service(
            desired, regrouped(tasks), {}, [], SPECS, hosts(), now=now, memo=memo
        )
        without = plan_service(desired, tasks, {}, [], SPECS, hosts(), now=now)
        assert with_memo == without
        assert len(with_memo.stop) == 2  # scaled in from 6 to 4
