"""The store keeps Batch jobs and their logs: what a daemon restart must not lose."""

from __future__ import annotations

from pathlib import Path

from controller.batch.models.batch import JobDefinitionSpec, JobQueueSpec
from controller.batch.planners.jobs import (
    Job,
)
from controller.batch.planners.submit import SubmitRequest, submit
from controller.store import Store

QUEUE = JobQueueSpec.model_validate(
    {"priority": 1, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}]}
)
DEFINITION = JobDefinitionSpec.model_validate(
    {
        "containerProperties": {"image": "skiff/busybox:latest", "command": ["true"]},
        "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"onExitCode": "3", "action": "EXIT"}]},
    }
)


def an_array(size: int) -> list[Job]:
    ids = iter(["P"])
    return submit(
        SubmitRequest(job_definition="d", array_size=size),
        QUEUE,
        "q",
        ("d:1", DEFINITION),
        {},
        1000.0,
        lambda: next(ids),
    )


def test_jobs_survive_a_reopen_exactly_as_they_were(tmp_path: Path) -> None:
    jobs = an_array(3)
    store = Store(str(tmp_path / "s.db"))
    store.put_jobs([j.to_record() for j in jobs])
    store.close()
    again = Store(str(tmp_path / "s.db"))
    assert [Job.from_record(r) for r in again.jobs()] == sorted(
        jobs, key=lambda j: (j.created_at, j.job_id)
    )
    assert Job.from_record(again.job("P:1") or {}) == jobs[2]
    assert [r["job_id"] for r in again.jobs(parent_id="P")] == ["P:0", "P:1", "P:2"]


def test_jobs_are_listed_by_queue_and_status(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"))
    store.put_jobs([j.to_record() for j in an_array(2)])
    statuses = {r["job_id"]: r["status"] for r in store.jobs(queue="q")}
    assert set(statuses) == {"P", "P:0", "P:1"}
    pending = store.jobs(queue="q", statuses=("PENDING",))
    assert {r["job_id"] for r in pending} == {k for k, v in statuses.items() if v == "PENDING"}
    assert store.jobs(queue="other") == []


def test_a_jobs_log_is_kept_per_attempt_and_node(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"))
    store.put_job_log("J", 2, 0, "second\n")
    store.put_job_log("J", 1, 0, "first\n")
    assert store.job_logs("J") == [(1, 0, "first\n"), (2, 0, "second\n")]
    assert store.job_logs("other") == []
