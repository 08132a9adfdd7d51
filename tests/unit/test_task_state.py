"""ECS task lifecycle and health, derived from the containers of a task."""

from __future__ import annotations

from controller.core.labels import PAUSE_CONTAINER
from controller.ecs.planners.task_state import (
    HEALTHY,
    PENDING,
    RUNNING,
    STOPPED,
    STOPPING,
    UNHEALTHY,
    UNKNOWN,
    expected_containers,
    view_task,
)
from tests.support.builders import T0, container, stop_record, task, td

HC = td(
    containerDefinitions=[
        {"name": "app", "image": "i", "memory": 64, "healthCheck": {"command": ["CMD", "true"]}}
    ]
)


def test_created_containers_make_a_pending_task() -> None:
    v = view_task(task("t", container("t", state="created")), td(), None, T0)
    assert (v.last_status, v.desired_status) == (PENDING, RUNNING)
    assert v.to_start == ("t-app",)


def test_running_essential_containers_make_a_running_task() -> None:
    v = view_task(task("t", container("t")), td(), None, T0)
    assert (v.last_status, v.health) == (RUNNING, UNKNOWN)


def test_health_follows_the_essential_containers_checks() -> None:
    starting = view_task(task("t", container("t", health="starting")), HC, None, T0)
    healthy = view_task(task("t", container("t", health="healthy")), HC, None, T0)
    sick = view_task(task("t", container("t", health="unhealthy")), HC, None, T0)
    assert (starting.health, starting.healthy) == (UNKNOWN, False)
    assert (healthy.health, healthy.healthy) == (HEALTHY, True)
    assert (sick.health, sick.healthy) == (UNHEALTHY, False)


def test_a_stop_in_progress_is_stopping_until_containers_exit() -> None:
    rec = stop_record("t", "Scaling activity", requested=T0)
    stopping = view_task(task("t", container("t")), td(), rec, T0 + 1)
    stopped = view_task(task("t", container("t", state="exited", exit_code=143)), td(), rec, T0 + 2)
    assert (stopping.last_status, stopping.stop_deadline) == (STOPPING, T0 + 30)
    assert (stopped.last_status, stopped.stopped_reason) == (STOPPED, "Scaling activity")


def test_awsvpc_tasks_have_a_sandbox_started_before_their_containers() -> None:
    spec = td(networkMode="awsvpc")
    assert expected_containers(spec) == [PAUSE_CONTAINER, "app"]
    t = task("t", container("t", PAUSE_CONTAINER, state="created"), container("t", state="created"))
    assert view_task(t, spec, None, T0).to_start == ("t-~pause",)
