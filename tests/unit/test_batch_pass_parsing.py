"""A Batch pass reads every unfinished job, and with thousands RUNNABLE most of its time went
into parsing the same records again. The pass keeps the jobs it parsed and parses again only a
record whose stored text changed: a job changed by anyone else (a submit, a cancel, another
daemon's command) is read as it now is."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controller.batch.planners.jobs import FINAL, STATUSES, Attempt, Dependency, Job
from controller.batch.sync.state import unfinished_jobs
from tests.unit.batch_jobs_support import ESSENTIAL
from tests.unit.test_batch_engine import harness, send

UNFINISHED = tuple(s for s in STATUSES if s not in FINAL)


def test_unchanged_jobs_are_not_parsed_again_and_a_changed_one_is(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a, b, c = send(h, 3)
    first = unfinished_jobs(h.ctl, UNFINISHED)
    again = unfinished_jobs(h.ctl, UNFINISHED)
    assert list(again) == [a, b, c]
    assert all(again[j] is first[j] for j in (a, b, c))  # kept, not parsed again

    record = h.store.job(b)
    assert record is not None
    changed = replace(Job.from_record(record), status_reason="asked by a test")
    h.store.put_jobs([changed.to_record()])
    now = unfinished_jobs(h.ctl, UNFINISHED)
    assert now[b].status_reason == "asked by a test"
    assert now[a] is first[a] and now[c] is first[c]


def test_a_job_that_finished_leaves_the_kept_jobs(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a, b = send(h, 2)
    unfinished_jobs(h.ctl, UNFINISHED)
    record = h.store.job(a)
    assert record is not None
    h.store.put_jobs([replace(Job.from_record(record), status="SUCCEEDED").to_record()])
    assert list(unfinished_jobs(h.ctl, UNFINISHED)) == [b]


def test_a_job_with_every_kind_of_field_round_trips_through_the_store(tmp_path: Path) -> None:
    h = harness(tmp_path)
    (a,) = send(h, 1)
    record = h.store.job(a)
    assert record is not None
    job = replace(
        Job.from_record(record),
        parameters={"codec": "mp4"},
        depends_on=(Dependency("B"), Dependency("C", "N_TO_N")),
        attempts=(Attempt(1.0, 2.0, 1, "boom", ESSENTIAL, "h1", ("c1", "c2")),),
        status_summary={"RUNNING": 1},
        container_ids=("c3",),
    )
    h.store.put_jobs([job.to_record()])
    assert Job.from_record(h.store.job(a) or {}) == job
    assert unfinished_jobs(h.ctl, UNFINISHED)[a] == job
