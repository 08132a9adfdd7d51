"""A condition that holds pass after pass is told once, again only when its news changes, and
not again after a restart: what was told is kept in the store (ECS tells a service's
SERVICE_TASK_PLACEMENT_FAILURE the same way)."""

from __future__ import annotations

from pathlib import Path

from controller.core.actions import ActionLog
from controller.store import Store
from controller.telemetry import Metrics

BLOCKED = "SERVICE_DEPLOYMENT_BLOCKED"


def told(store: Store) -> list[str]:
    return [e.reason for e in store.events("Service", "web") if e.action == BLOCKED]


def test_a_condition_is_kept_once_and_again_when_its_reason_changes(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "skiff.db"))
    log = ActionLog(store, Metrics())
    for _ in range(3):
        log.record_change("Service", "web", BLOCKED, "maximumPercent 100 allows 1 task")
    log.record_change("Service", "web", BLOCKED, "maximumPercent 100 allows 2 tasks")

    assert told(store) == ["maximumPercent 100 allows 1 task", "maximumPercent 100 allows 2 tasks"]


def test_a_restart_does_not_tell_it_again_but_tells_it_after_it_settled(tmp_path: Path) -> None:
    path = str(tmp_path / "skiff.db")
    ActionLog(Store(path), Metrics()).record_change("Service", "web", BLOCKED, "stuck")

    store = Store(path)  # the daemon restarted
    log = ActionLog(store, Metrics())
    log.record_change("Service", "web", BLOCKED, "stuck")
    assert told(store) == ["stuck"]

    log.settled("Service", "web", BLOCKED)
    log.record_change("Service", "web", BLOCKED, "stuck")
    assert told(store) == ["stuck", "stuck"]


def test_news_other_than_the_reason_decides_and_log_each_logs_every_pass(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "skiff.db"))
    metrics = Metrics()
    log = ActionLog(store, metrics)
    for value in (61.0, 62.5, 63.0):  # the reason moves; what is news does not
        log.record_change(
            "Service", "web", "scaling.no_change", f"CPU {value}", news="at-max", log_each=True
        )

    assert [e.reason for e in store.events("Service", "web")] == ["CPU 61.0"]
    assert metrics.actions.labels("Service", "scaling.no_change")._value.get() == 3
