"""Retention with a fixed clock: finished Batch jobs (with their logs and events) are kept 7
days after they end and scaling activities 6 weeks, then pruned; a fair-share queue's usage
for its shareDecaySeconds; the periods are settings; the pass runs at start and then once an
hour, not on every resync."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from controller.batch.planners.jobs import Dependency, Job
from controller.batch.sync import commands as batch_commands
from controller.catalog import CATALOG
from controller.core.controller import Controller
from controller.core.retention import EVERY, PASS, RetentionState, sync_retention
from controller.core.settings import Settings
from controller.runtime.fake import FakeRuntime
from controller.store import Activity, EventRecord, Store
from controller.telemetry import Metrics
from tests.support.builders import T0, FakeClock
from tests.support.documents import compute_environment_doc, dump, job_definition_doc, job_queue_doc
from tests.support.harness import Harness

DAY = 86400.0
WEEK = 7 * DAY


def daemon(clock: FakeClock, **settings: float) -> Controller:
    fake = FakeRuntime(clock=clock)
    return Controller(
        Store(":memory:"),
        Metrics(),
        lambda name, spec: fake,
        Settings(parallelism=2, **settings),  # type: ignore[arg-type]
        clock=clock,
        monotonic=clock,
        catalog=CATALOG,
    )


def prune(ctl: Controller) -> None:
    """One retention pass now, whenever the last one ran."""
    ctl.part(RetentionState).last = None
    sync_retention(ctl)


def finished(job_id: str, ended: float, status: str = "SUCCEEDED", **fields: object) -> Job:
    return Job(job_id, job_id, "q", "work:1", status, ended - 60, stopped_at=ended, **fields)  # type: ignore[arg-type]


def keep(ctl: Controller, *jobs: Job) -> None:
    """Stores the jobs with an event each, and each job's output."""
    events = [EventRecord(j.stopped_at or T0, "Job", j.job_id, "job.x", "r") for j in jobs]
    ctl.store.put_jobs([j.to_record() for j in jobs], events)
    for j in jobs:
        ctl.store.put_job_log(j.job_id, 1, 0, f"output of {j.job_id}")


def kept(ctl: Controller, job_id: str) -> bool:
    """Whether the job, its output and its events are all still there (or all gone)."""
    there = (
        ctl.store.job(job_id) is not None,
        bool(ctl.store.job_logs(job_id)),
        bool(ctl.store.events("Job", job_id)),
    )
    assert len(set(there)) == 1, f"{job_id}: half pruned {there}"
    return there[0]


@pytest.mark.parametrize(
    ("age", "status", "stays"),
    [
        (WEEK - 1, "SUCCEEDED", True),
        (WEEK + 1, "SUCCEEDED", False),
        (WEEK - 1, "FAILED", True),
        (WEEK + 1, "FAILED", False),
    ],
)
def test_a_finished_job_is_kept_7_days_after_it_ended_with_its_logs_and_events(
    age: float, status: str, stays: bool
) -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    keep(ctl, finished("J", T0, status))
    clock.now = T0 + age
    prune(ctl)
    assert kept(ctl, "J") is stays


def test_an_unfinished_job_is_never_pruned_however_old() -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    runnable = Job("R", "R", "q", "work:1", "RUNNABLE", T0)
    keep(ctl, runnable)
    clock.now = T0 + 10 * WEEK
    prune(ctl)
    assert kept(ctl, "R")


def test_an_array_goes_with_all_its_children() -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    parent = finished("P", T0, array_size=2)
    kids = [finished(f"P:{i}", T0 - 10, array_size=2, array_index=i, parent_id="P") for i in (0, 1)]
    keep(ctl, parent, *kids)
    clock.now = T0 + WEEK + 1
    prune(ctl)
    assert not any(kept(ctl, j) for j in ("P", "P:0", "P:1"))


def test_a_job_an_unfinished_job_depends_on_is_kept_until_that_job_has_moved_on() -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    dependency = finished("D", T0)
    array = finished("A", T0, array_size=2)
    child = finished("A:0", T0, array_size=2, array_index=0, parent_id="A")
    # W waits on D and on a job still running; X:0 waits N_TO_N on A's child A:0.
    waiting = Job("W", "W", "q", "work:1", "PENDING", T0, depends_on=(Dependency("D"),))
    paired = Job(
        "X:0", "X:0", "q", "work:1", "PENDING", T0, depends_on=(Dependency("A:0", "N_TO_N"),)
    )
    keep(ctl, dependency, array, child, waiting, paired)
    clock.now = T0 + 2 * WEEK
    prune(ctl)
    assert all(kept(ctl, j) for j in ("D", "A", "A:0", "W", "X:0"))
    ctl.store.put_jobs([replace(waiting, status="FAILED", stopped_at=clock.now).to_record()])
    prune(ctl)
    assert not kept(ctl, "D")
    assert kept(ctl, "A") and kept(ctl, "A:0")  # X:0 still waits on A:0


def test_the_batch_job_retention_setting_changes_the_period() -> None:
    clock = FakeClock()
    ctl = daemon(clock, batch_job_retention=3600.0)
    keep(ctl, finished("old", T0 - 3601), finished("new", T0 - 3599))
    prune(ctl)
    assert not kept(ctl, "old")
    assert kept(ctl, "new")


def test_a_retention_shorter_than_ten_hours_is_applied_every_tenth_of_it() -> None:
    # Kept 10 minutes: the pass comes every minute, so no job outlives its period by more.
    clock = FakeClock(T0)
    ctl = daemon(clock, batch_job_retention=600.0)
    assert ctl.sync(PASS) == 60.0
    keep(ctl, finished("J", T0))
    clock.advance(590)
    assert ctl.sync(PASS) == 60.0  # a pass: J has 10 s to go
    assert kept(ctl, "J")
    clock.advance(30)
    assert ctl.sync(PASS) == pytest.approx(30)  # past its period, the next pass 30 s away
    assert kept(ctl, "J")
    clock.advance(30)
    ctl.queue.add(PASS)
    ctl.run_until_idle()
    assert not kept(ctl, "J")


def test_many_finished_jobs_go_in_one_pass_batch_after_batch() -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    ctl.store.put_jobs([finished(f"J{i}", T0 + i).to_record() for i in range(1234)])
    clock.now = T0 + 2 * WEEK
    prune(ctl)
    assert ctl.store.jobs() == []


def activity(activity_id: str, start: float, end: float | None) -> Activity:
    status = "InProgress" if end is None else "Successful"
    return Activity(activity_id, "AutoScalingGroup/g", "Launching", "cause", status, start, end)


@pytest.mark.parametrize(("age", "stays"), [(6 * WEEK - 1, True), (6 * WEEK + 1, False)])
def test_a_scaling_activity_is_kept_6_weeks_after_it_ended(age: float, stays: bool) -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    ctl.store.put_activity(activity("a1", T0 - 30, T0))
    clock.now = T0 + age
    prune(ctl)
    assert [a.activity_id for a in ctl.store.activities("AutoScalingGroup/g")] == (
        ["a1"] if stays else []
    )


def test_an_activity_under_way_is_kept_and_the_setting_changes_the_period() -> None:
    clock = FakeClock()
    ctl = daemon(clock, activity_retention=DAY)
    ctl.store.put_activity(activity("ended", T0 - 2 * DAY, T0 - DAY - 1))
    ctl.store.put_activity(activity("recent", T0 - DAY, T0 - DAY + 1))
    ctl.store.put_activity(activity("under-way", T0 - 10 * WEEK, None))
    prune(ctl)
    left = {a.activity_id for a in ctl.store.activities("AutoScalingGroup/g")}
    assert left == {"recent", "under-way"}


def queued(ctl: Controller) -> set[tuple[str, str]]:
    """The keys a resync queues."""
    return ctl.keys()


def test_the_pass_runs_at_start_then_once_an_hour_not_at_every_resync() -> None:
    clock = FakeClock(T0 + 2 * WEEK)
    ctl = daemon(clock)
    assert PASS in queued(ctl)  # due at start: the first resync queues it
    assert ctl.sync(PASS) == EVERY
    assert PASS not in queued(ctl)  # a resync within the hour does not
    keep(ctl, finished("J", T0))
    clock.advance(EVERY - 10)
    assert ctl.sync(PASS) == pytest.approx(10)  # queued early anyway: it waits, prunes nothing
    assert kept(ctl, "J")
    clock.advance(10)
    assert PASS in queued(ctl)
    ctl.queue.add(PASS)
    ctl.run_until_idle()
    assert not kept(ctl, "J")


def test_news_told_of_a_deleted_resource_is_forgotten_and_told_again_if_it_comes_back() -> None:
    clock = FakeClock()
    ctl = daemon(clock)
    ctl.actions.record_change("Service", "gone", "deployment.blocked", "held by its bounds")
    ctl.actions.record_change("Batch", "*", "some.condition", "not a manifest's resource")
    prune(ctl)
    assert ctl.store.told("Service", "gone", "deployment.blocked") is None
    assert ctl.store.told("Batch", "*", "some.condition") is not None
    ctl.actions.record_change("Service", "gone", "deployment.blocked", "held by its bounds")
    told = [e.reason for e in ctl.store.events("Service", "gone")]
    assert told == ["held by its bounds", "held by its bounds"]


def test_a_batch_holds_about_its_limit_of_jobs_and_an_array_crossing_it_goes_whole() -> None:
    store = Store(":memory:")
    for n, head in enumerate(("A", "B", "C")):
        kids = [
            finished(f"{head}:{i}", T0 + n, array_size=300, array_index=i, parent_id=head)
            for i in range(300)
        ]
        store.put_jobs([j.to_record() for j in (finished(head, T0 + n, array_size=300), *kids)])
    assert store.prune_jobs(T0 + WEEK, 500) == 602  # A, then B, which crosses 500
    assert {r["job_id"] for r in store.jobs() if r["parent_id"] is None} == {"C"}
    assert store.prune_jobs(T0 + WEEK, 500) == 301
    assert store.prune_jobs(T0 + WEEK, 500) == 0


def test_a_dependency_pruned_while_a_job_naming_it_is_submitted_waits_for_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SubmitJob reads the jobs it depends on, then saves the new job. A retention pass that
    # falls between the two must not prune a dependency it cannot yet see waited on.
    h = Harness(tmp_path / "m")
    definition = {"image": "skiff/busybox:latest", "vcpus": 1, "memory": 64}
    h.apply(
        "batch.yaml",
        dump(
            compute_environment_doc("ce"),
            job_queue_doc("q", "ce"),
            job_definition_doc("work", containerProperties=definition),
        ),
    )
    keep(h.ctl, finished("D", h.clock.now - 2 * WEEK))
    read = h.store.job
    passes: list[threading.Thread] = []

    def read_then_prune(job_id: str) -> dict[str, object] | None:
        record = read(job_id)
        passes.append(threading.Thread(target=prune, args=(h.ctl,)))
        passes[-1].start()
        passes[-1].join(0.3)  # a pass free to go would be over by now
        return record

    monkeypatch.setattr(h.store, "job", read_then_prune)
    body = {"jobQueue": "q", "jobDefinition": "work", "dependsOn": [{"jobId": "D"}]}
    waiting = str(batch_commands.submit_job(h.ctl, body)["jobId"])
    monkeypatch.undo()
    (retention,) = passes
    retention.join(10)
    assert not retention.is_alive()
    assert kept(h.ctl, "D")  # the pass saw the new job waiting on it
    assert Job.from_record(h.store.job(waiting) or {}).depends_on == (Dependency("D"),)


def test_fair_share_usage_is_kept_for_its_queues_decay_window_and_no_longer(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply(
        "batch.yaml",
        dump(
            compute_environment_doc("ce"),
            job_queue_doc("fair", "ce", fairSharePolicy={"shareDecaySeconds": 3600}),
            job_queue_doc("default", "ce", fairSharePolicy={}),  # 0: AWS's 600 s
            job_queue_doc("fifo", "ce"),
        ),
    )
    now = h.clock.now
    used = [
        ("fair", "A", now - 3599, 1.0),
        ("fair", "A", now - 3601, 2.0),
        ("default", "", now - 599, 3.0),
        ("default", "", now - 601, 4.0),
        ("fifo", "", now, 5.0),  # kept by an older Skiff: a FIFO queue counts none
        ("deleted", "", now, 6.0),
    ]
    h.store.put_jobs([], usage=used)
    prune(h.ctl)
    assert sorted(v for *_, v in h.store.share_usage(0)) == [1.0, 3.0]
