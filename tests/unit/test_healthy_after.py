"""When a new task counts as healthy during a deployment, as ECS's minimumHealthyPercent says:
with no essential container health check and no load balancer, 40 seconds after it reached
RUNNING; with a container health check, once it is healthy; behind a load balancer, once its
targets are healthy (and its containers' checks pass, if it has any).

The planners run on a fixed clock: S is when the new task's container started.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from controller import daemon, logging
from controller.cli import main as cli
from controller.core.observed import ObservedTask
from controller.ecs.planners.deployments import (
    COMPLETED,
    IN_PROGRESS,
    PRIMARY,
    CircuitBreaker,
    DeploymentPlan,
    plan_deployments,
)
from controller.ecs.planners.service import ServiceDesired, counts, plan_service
from controller.ecs.planners.service_plan import ServicePlan
from controller.ecs.planners.task_state import HEALTHY_AFTER_SECONDS, view_task
from controller.store import Deployment
from tests.support.builders import T0, container, hosts, revision, running, task, td

PLAIN = revision("web:2", td(containerDefinitions=[{"name": "app", "image": "i", "memory": 64}]))
CHECKED = revision(
    "web:2",
    td(
        containerDefinitions=[
            {
                "name": "app",
                "image": "i",
                "memory": 64,
                "healthCheck": {"command": ["CMD", "true"]},
            }
        ]
    ),
)
OLD = revision("web:1")
CREATED = T0 + 1000
S = CREATED + 1  # the builders start a container one second after creating it


def old_task() -> ObservedTask:
    return running("old", rev="web:1", created=T0)  # RUNNING for long: healthy


def new_task(health: str = "none") -> ObservedTask:
    return running("new", rev="web:2", created=CREATED, health=health)


def roll(
    new: ObservedTask,
    now: float,
    *,
    rev: Any = PLAIN,
    targets: Mapping[str, Mapping[str, str]] | None = None,
    **kw: Any,
) -> ServicePlan:
    """One task rolling from web:1 to web:2 under ECS's default 100 / 200."""
    desired = ServiceDesired(
        "web",
        1,
        rev,
        minimum_healthy_percent=100,
        maximum_percent=200,
        target_groups=("tg",) if targets is not None else (),
    )
    specs = {"web:1": OLD.spec, "web:2": rev.spec}
    return plan_service(
        desired, [old_task(), new], {}, [], specs, hosts(), now=now, targets=targets, **kw
    )


def stopped(plan: ServicePlan) -> set[str]:
    """Tasks the plan stops, or deregisters first to stop them."""
    return {s.task_id for s in plan.stop} | {d.task_id for d in plan.deactivate}


def test_an_old_task_keeps_running_until_the_new_one_has_run_40_seconds() -> None:
    early = roll(new_task(), S + 39.5)
    assert stopped(early) == set()
    assert early.requeue_after == pytest.approx(0.5)  # exactly when the new one turns healthy
    assert counts(early.tasks) == {"running": 2, "pending": 0, "healthy": 1}
    assert stopped(roll(new_task(), S + HEALTHY_AFTER_SECONDS)) == {"old"}


def test_the_daemon_setting_shortens_the_wait_and_the_requeue_follows_it() -> None:
    early = roll(new_task(), S + 4, healthy_after=5.0)
    assert stopped(early) == set()
    assert early.requeue_after == pytest.approx(1.0)
    assert stopped(roll(new_task(), S + 5, healthy_after=5.0)) == {"old"}


def test_the_wait_counts_from_the_start_of_the_last_essential_container() -> None:
    with_sidecar = revision(
        "web:2",
        td(
            containerDefinitions=[
                {"name": "app", "image": "i", "memory": 64},
                {"name": "log", "image": "i", "memory": 64, "essential": False},
            ]
        ),
    )
    # The sidecar started 30 s before the essential container: the task was PENDING then.
    new = task(
        "new",
        container("new", "log", rev="web:2", created=CREATED - 30),
        container("new", "app", rev="web:2", created=CREATED),
    )
    early = roll(new, S + 39, rev=with_sidecar)
    assert (stopped(early), early.requeue_after) == (set(), pytest.approx(1.0))
    assert stopped(roll(new, S + 40, rev=with_sidecar)) == {"old"}


def test_a_container_health_check_not_the_clock_decides() -> None:
    # Healthy 2 s after it started: it counts at once, where a task without a check waits.
    assert stopped(roll(new_task("healthy"), S + 2, rev=CHECKED)) == {"old"}
    assert stopped(roll(new_task(), S + 2)) == set()
    # Still starting its checks after 60 s: it does not count, and no timer will change that.
    slow = roll(new_task("starting"), S + 60, rev=CHECKED)
    assert (stopped(slow), slow.requeue_after) == (set(), None)


def test_a_load_balanced_task_counts_once_its_targets_are_healthy() -> None:
    healthy = {"old": {"tg": "healthy"}, "new": {"tg": "healthy"}}
    initial = {"old": {"tg": "healthy"}, "new": {"tg": "initial"}}
    assert stopped(roll(new_task(), S + 2, targets=healthy)) == {"old"}
    assert stopped(roll(new_task(), S + 2)) == set()  # the same task with no load balancer
    late = roll(new_task(), S + 60, targets=initial)
    assert (stopped(late), late.requeue_after) == (set(), None)
    # With container checks too, ECS waits for both.
    assert stopped(roll(new_task("starting"), S + 2, rev=CHECKED, targets=healthy)) == set()
    assert stopped(roll(new_task("healthy"), S + 2, rev=CHECKED, targets=healthy)) == {"old"}


def deploy(new: ObservedTask, now: float, spec: Any = PLAIN.spec) -> DeploymentPlan:
    """The deployment of web:2 once the old task is gone."""
    primary = Deployment("d2", "web:2", "web:2", PRIMARY, IN_PROGRESS, "runs web:2", T0, T0)
    view = view_task(new, spec, None, now)
    return plan_deployments([primary], "web:2", 1, CircuitBreaker(), [view], now, lambda: "d3")


def test_the_deployment_completes_only_once_its_new_task_counts_as_healthy() -> None:
    early = deploy(new_task(), S + 39)
    assert early.primary.rollout_state == IN_PROGRESS
    assert early.settle_at == S + HEALTHY_AFTER_SECONDS  # when to look again
    done = deploy(new_task(), S + HEALTHY_AFTER_SECONDS)
    assert (done.primary.rollout_state, done.settle_at) == (COMPLETED, None)
    checked = deploy(new_task("healthy"), S + 2, CHECKED.spec)
    assert checked.primary.rollout_state == COMPLETED


class _Captured:
    """Stands for the daemon `skiff run` would start: keeps its settings."""

    settings: Any = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        _Captured.settings = args[3]

    def run(self) -> int:
        return 0


@pytest.mark.parametrize(
    ("flags", "seconds"), [([], 40.0), (["--healthy-after-seconds", "2.5"], 2.5)]
)
def test_skiff_run_takes_the_wait_from_its_flag_and_defaults_to_ecs(
    flags: list[str], seconds: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon, "Daemon", _Captured)
    monkeypatch.setattr(logging, "configure", lambda *args: None)  # leave the tests' logging be
    argv = ["run", "--manifests", str(tmp_path), "--data-dir", str(tmp_path / "d"), *flags]
    assert cli.main([*argv, "--log-format", "json"]) == 0
    assert _Captured.settings.healthy_after_seconds == seconds


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_skiff_run_refuses_a_wait_that_is_not_a_number_of_seconds(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--manifests", ".", "--healthy-after-seconds", value])
    assert exit_.value.code == 2
    assert "--healthy-after-seconds" in capsys.readouterr().err


def young_old_task() -> ObservedTask:
    """A task of the old revision that itself started a moment ago: not yet counted."""
    return running("old", rev="web:1", created=CREATED)


def bounded(min_pct: int, max_pct: int) -> ServiceDesired:
    return ServiceDesired("web", 1, PLAIN, minimum_healthy_percent=min_pct, maximum_percent=max_pct)


def test_an_old_task_still_waiting_to_count_is_not_stopped_as_if_unhealthy() -> None:
    """100/100 at desiredCount 1, the old task up for 2 s: stopping it would leave the service
    with no task. It is kept; once it counts as healthy, the deployment says it is blocked."""
    specs = {"web:1": OLD.spec, "web:2": PLAIN.spec}
    plan = plan_service(bounded(100, 100), [young_old_task()], {}, [], specs, hosts(), now=S + 2)
    assert plan.is_noop()
    assert plan.blocked_reason == ""  # not yet: it may still count
    assert plan.requeue_after == pytest.approx(HEALTHY_AFTER_SECONDS - 2)
    later = plan_service(
        bounded(100, 100),
        [young_old_task()],
        {},
        [],
        specs,
        hosts(),
        now=S + HEALTHY_AFTER_SECONDS,
    )
    assert later.is_noop()
    assert "was unable to stop or start tasks during a deployment" in later.blocked_reason


def test_with_minimum_healthy_0_a_young_old_task_is_stopped_at_once() -> None:
    specs = {"web:1": OLD.spec, "web:2": PLAIN.spec}
    plan = plan_service(bounded(0, 100), [young_old_task()], {}, [], specs, hosts(), now=S + 2)
    assert [s.task_id for s in plan.stop] == ["old"]
