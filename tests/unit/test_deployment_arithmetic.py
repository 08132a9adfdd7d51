"""Rolling deployments, step by step through the pure planner, for ECS's edge cases.

A tiny world applies each plan (launched tasks are RUNNING on the next step, stopped ones go
away; with no health check, a task counts as healthy 40 s after RUNNING, and the world's clock
moves to when a plan that has nothing to do asks to be looked at again) and checks, at every
step, the two bounds ECS promises: running + pending tasks never exceed
floor(desired x maximumPercent / 100), and healthy tasks never drop below
ceil(desired x minimumHealthyPercent / 100).
"""

from __future__ import annotations

import math

import pytest

from controller.core.observed import ObservedTask
from controller.ecs.models.service import ServiceSpec, check_service
from controller.ecs.planners.service import ServiceDesired, plan_service
from controller.ecs.planners.task_state import HEALTHY_AFTER_SECONDS
from tests.support.builders import T0, hosts, revision, running, td

V1 = revision("web:1")
V2 = revision(
    "web:2",
    td(containerDefinitions=[{"name": "app", "image": "i", "memory": 64, "command": ["v2"]}]),
)
SPECS = {"web:1": V1.spec, "web:2": V2.spec}


def roll(count: int, min_pct: int, max_pct: int, steps: int = 50) -> list[tuple[int, int]]:
    """Rolls `count` tasks from web:1 to web:2; returns (old, new) after each step."""
    desired = ServiceDesired(
        "web", count, V2, minimum_healthy_percent=min_pct, maximum_percent=max_pct
    )
    tasks: list[ObservedTask] = [
        running(f"old{i}", rev="web:1", created=T0 + i) for i in range(count)
    ]
    history = []
    now = T0 + 100
    for step in range(steps):
        plan = plan_service(desired, tasks, {}, [], SPECS, hosts(memory=1 << 20), now=now)
        stopped = {s.task_id for s in plan.stop} | {m.task_id for m in plan.mark_stopped}
        tasks = [t for t in tasks if t.id not in stopped]
        # Bound checks on what exists after this step's stops and launches.
        total = len(tasks) + len(plan.launch)
        assert total <= max(count * max_pct // 100, count), f"step {step}: {total} tasks"
        healthy = sum(
            t.started_at is not None and t.started_at + HEALTHY_AFTER_SECONDS <= now for t in tasks
        )
        assert healthy >= math.ceil(count * min_pct / 100), f"step {step}: {healthy} healthy"
        tasks += [
            running(f"new{step}-{i}", rev="web:2", created=now) for i in range(len(plan.launch))
        ]
        history.append(
            (sum(t.revision == "web:1" for t in tasks), sum(t.revision == "web:2" for t in tasks))
        )
        if plan.is_noop() and plan.requeue_after is None:
            return history
        now += 1.0 if not plan.is_noop() else max(plan.requeue_after or 0.0, 0.001)
    raise AssertionError(f"no steady state after {steps} steps: {history}")


@pytest.mark.parametrize(
    ("count", "min_pct", "max_pct", "first_step"),
    [
        (4, 100, 200, (4, 4)),  # ECS's default: start all new ones, then stop the old
        (4, 50, 100, (2, 0)),  # no room above desired: stop half first
        (4, 0, 100, (0, 0)),  # may stop everything first
        (6, 100, 150, (6, 3)),  # batches of three
        (1, 100, 200, (1, 1)),  # a single task: new one first
        (1, 0, 100, (0, 0)),  # a single task: stop, then start
    ],
    ids=["100-200", "50-100", "0-100", "100-150", "desired-1-100-200", "desired-1-0-100"],
)
def test_a_rollout_stays_within_the_bounds_and_completes(
    count: int, min_pct: int, max_pct: int, first_step: tuple[int, int]
) -> None:
    history = roll(count, min_pct, max_pct)
    assert history[0] == first_step
    assert history[-1] == (0, count)


@pytest.mark.parametrize(
    ("count", "min_pct", "max_pct", "allows", "keeps"),
    [(4, 100, 100, 4, 4), (1, 50, 100, 1, 1), (3, 100, 133, 3, 3)],
    ids=["100-100", "desired-1-50-100", "no-room-either-way"],
)
def test_a_configuration_that_cannot_progress_is_accepted_and_the_plan_says_why(
    count: int, min_pct: int, max_pct: int, allows: int, keeps: int
) -> None:
    """As ECS: the bounds are accepted; the old tasks keep running and the plan tells why
    nothing moves."""
    spec = ServiceSpec.model_validate(
        {
            "taskDefinition": "web",
            "desiredCount": count,
            "deploymentConfiguration": {
                "minimumHealthyPercent": min_pct,
                "maximumPercent": max_pct,
            },
        }
    )
    assert check_service(spec) == []
    desired = ServiceDesired(
        "web", count, V2, minimum_healthy_percent=min_pct, maximum_percent=max_pct
    )
    tasks = [running(f"old{i}", rev="web:1", created=T0 + i) for i in range(count)]
    plan = plan_service(desired, tasks, {}, [], SPECS, hosts(memory=1 << 20), now=T0 + 100)
    assert plan.is_noop()
    assert plan.blocked_reason == (
        "(service web) was unable to stop or start tasks during a deployment because of the "
        f"service deployment configuration: with desiredCount {count}, maximumPercent "
        f"{max_pct} allows {allows} task(s) and minimumHealthyPercent {min_pct} keeps {keeps} "
        "healthy. Update the minimumHealthyPercent or maximumPercent value and try again."
    )


def test_a_rollout_that_moves_is_never_called_blocked() -> None:
    for count, min_pct, max_pct in ((4, 100, 200), (4, 50, 100), (1, 0, 100)):
        desired = ServiceDesired(
            "web", count, V2, minimum_healthy_percent=min_pct, maximum_percent=max_pct
        )
        tasks = [running(f"old{i}", rev="web:1", created=T0 + i) for i in range(count)]
        plan = plan_service(desired, tasks, {}, [], SPECS, hosts(memory=1 << 20), now=T0 + 100)
        assert not plan.is_noop() and plan.blocked_reason == ""
