"""The controller when its store cannot be written (a full data directory), on the fake runtime
with a fixed clock: the failure is reported and retried, no Docker write happens without the
record it needs, running tasks are left alone, and the edit made meanwhile is carried out once
the store takes writes again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.ecs.sync.state import ecs
from tests.store_faults import FullDisk
from tests.support.harness import Harness, manifest


def metric(h: Harness, name: str, **labels: str) -> float:
    value = h.ctl.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def saved_count(h: Harness) -> int:
    spec = next(s for kind, _, _, _, s, _ in h.store.resources() if kind == "Service")
    return int(spec["desiredCount"])


def test_a_scale_up_while_the_store_is_full_is_reported_then_carried_out_once_it_has_room(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    running = {c.id for c in h.running()}
    writes = len(h.fake.writes())
    disk = FullDisk.install(h.store)

    disk.full = True
    h.write("web.yaml", manifest(4))
    h.load()  # the watcher's reload: it must not fail, and the edit must not be lost
    for _ in range(3):
        h.ctl.resync()
        h.ctl.run_until_idle()
        h.clock.advance(5)
    assert len(h.fake.writes()) == writes, "nothing launched without its task record"
    assert {c.id for c in h.running()} == running
    status = h.status()
    assert status["status"] == "ERROR"
    assert "database or disk is full" in str(status["message"])
    assert metric(h, "skiff_store_write_failures_total", reason="full") >= 3
    assert metric(h, "skiff_store_writable") == 0
    assert saved_count(h) == 2

    disk.full = False
    h.converge()
    assert len(h.running()) == 4 and running < {c.id for c in h.running()}
    status = h.status()
    assert (status["status"], status["message"], status["runningCount"]) == ("ACTIVE", "", 4)
    assert metric(h, "skiff_store_writable") == 1
    assert saved_count(h) == 4, "the edit made while full was saved once there was room"


def test_history_that_cannot_be_stored_neither_fails_nor_repeats_an_action(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    disk = FullDisk.install(h.store)
    disk.full = True
    disk.when = lambda sql, params: sql.startswith("INSERT INTO events")
    h.apply("web.yaml", manifest(3))
    assert disk.failed >= 3  # every launch's history record failed
    assert len(h.running()) == 3
    assert [op for op, _ in h.fake.writes()].count("create") == 3, "no launch repeated"
    assert h.status()["status"] == "ACTIVE"
    assert metric(h, "skiff_reconcile_total", kind="Service", result="error") == 0
    assert metric(h, "skiff_store_write_failures_total", reason="full") == disk.failed


def stop_records(sql: str, params: Any) -> bool:
    """The executor's records of stop decisions (task rows with desiredStatus STOPPED)."""
    rows = params if isinstance(params, list) else []
    return sql.startswith("INSERT OR REPLACE INTO tasks") and any(
        row[5] == "STOPPED" for row in rows
    )


def test_a_pass_whose_stop_records_fail_launches_nothing_and_leaves_nothing_in_flight(
    tmp_path: Path,
) -> None:
    """A replacement is reserved (its record written) before the dead task's stop is recorded;
    when that second write fails, the reserved launch must not linger as in flight, or the
    service would wait out the expectation's TTL before replacing the task."""
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3))
    victim = h.running()[0]
    disk = FullDisk.install(h.store)
    disk.full, disk.when = True, stop_records
    h.fake.exit(victim.id, 137)
    h.ctl.resync()
    h.ctl.run_until_idle()
    assert disk.failed >= 1
    assert ecs(h.ctl).expectations.all_in_flight() == []
    assert [op for op, _ in h.fake.writes()].count("create") == 3

    disk.full = False
    h.converge(rounds=10)  # well within the 60 s an expectation would hold
    assert len(h.running()) == 3
    assert [op for op, _ in h.fake.writes()].count("create") == 4, "one replacement"
