"""CancelJob and TerminateJob's rules for AWS Batch jobs and arrays, without Docker.

The tables read like the AWS Batch user guide's examples. Times are fixed (T0), ids are given.
"""

from __future__ import annotations

import pytest

from controller.batch.models.batch import RetryStrategy
from controller.batch.planners.jobs import (
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    STARTING,
    SUBMITTED,
    SUCCEEDED,
    Job,
    JobStateError,
    JobStatus,
    Stop,
    advance,
    after_attempt,
    cancel,
    mark_running,
    place,
    terminate,
)
from tests.support.builders import T0
from tests.unit.batch_jobs_support import ESSENTIAL, job, replace_status, running, settle, sub

# -- cancel and terminate ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [SUBMITTED, PENDING, RUNNABLE])
def test_a_job_not_yet_starting_is_cancelled_or_terminated_at_once(status: JobStatus) -> None:
    j = job("J", status, retry_strategy=RetryStrategy(attempts=3))
    (cancelled,) = cancel(j, "not needed", T0 + 1)
    t = terminate(j, "not needed", T0 + 1)
    assert t.stops == ()
    for after in (cancelled, *t.jobs):
        assert (after.status, after.status_reason, after.stopped_at) == (
            FAILED,
            "not needed",
            T0 + 1,
        )


@pytest.mark.parametrize("status", [STARTING, RUNNING])
def test_a_starting_or_running_job_is_terminated_never_cancelled(status: JobStatus) -> None:
    j = place(job("J", RUNNABLE, retry_strategy=RetryStrategy(attempts=5)), "h2", ["c1", "c2"])
    if status == RUNNING:
        j = mark_running(j, T0)
    assert cancel(j, "stop", T0 + 1) == []  # AWS: the call succeeds, the job runs on
    t = terminate(j, "operator said so", T0 + 1)
    assert t.jobs[0].stop_requested_at == T0 + 1  # killed once the stop timeout has passed
    assert t.stops == (Stop("J", "h2", ("c1", "c2"), "operator said so"),)
    assert t.jobs[0].status == status  # until its containers have stopped
    ended = after_attempt(t.jobs[0], 143, None, ESSENTIAL, T0 + 2)
    assert (ended.status, ended.status_reason, len(ended.attempts)) == (
        FAILED,
        "operator said so",
        1,
    )


def test_a_terminated_job_fails_even_when_it_exits_0() -> None:
    stopping = terminate(running(job("J", RUNNABLE)), "abort", T0 + 1).jobs[0]
    ended = after_attempt(stopping, 0, None, ESSENTIAL, T0 + 2)  # it caught SIGTERM: exit 0
    assert (ended.status, ended.status_reason, ended.stop_reason) == (FAILED, "abort", None)


@pytest.mark.parametrize("status", [SUCCEEDED, FAILED])
def test_a_finished_job_is_neither_cancelled_nor_terminated(status: JobStatus) -> None:
    j = job("J", status)
    with pytest.raises(JobStateError, match=rf"^cannot cancel a job in {status}: it has finished"):
        cancel(j, "x", T0)
    with pytest.raises(JobStateError, match=rf"^cannot terminate a job in {status}"):
        terminate(j, "x", T0)


def test_cancelling_an_array_cancels_the_children_not_yet_started() -> None:
    p, c0, c1, c2 = sub(size=3, job_id="P")
    kids = [replace_status(c0, RUNNABLE), running(replace_status(c1, RUNNABLE)), c2]
    changed = cancel(p, "wrong input", T0 + 1, kids)
    assert [(j.job_id, j.status) for j in changed] == [
        ("P", SUBMITTED),
        ("P:0", FAILED),
        ("P:2", FAILED),
    ]
    store = settle([*changed, kids[1]], T0 + 1)
    assert store["P"].status == PENDING  # P:1 runs on
    finish_running(store, "P:1", 0, T0 + 5)
    assert (store["P"].status, store["P"].status_reason) == (FAILED, "wrong input")


def finish_running(store: dict[str, Job], job_id: str, exit_code: int, now: float) -> None:
    store[job_id] = after_attempt(store[job_id], exit_code, None, ESSENTIAL, now)
    for j in advance(store, now):
        store[j.job_id] = j


def test_cancelling_an_array_whose_children_all_run_lets_them_finish() -> None:
    p, c0, c1 = sub(size=2, job_id="P")
    kids = [running(replace_status(c, RUNNABLE)) for c in (c0, c1)]
    (parent,) = cancel(p, "x", T0, kids)
    assert (parent.job_id, parent.status, parent.stop_reason) == ("P", SUBMITTED, "x")


def test_terminating_an_array_terminates_every_unfinished_child() -> None:
    p, c0, c1, c2 = sub(size=3, job_id="P")
    kids = [running(replace_status(c0, RUNNABLE)), c1, replace_status(c2, SUCCEEDED)]
    t = terminate(p, "abort", T0 + 1, kids)
    assert [(j.job_id, j.status) for j in t.jobs] == [
        ("P", SUBMITTED),
        ("P:0", RUNNING),
        ("P:1", FAILED),
    ]
    assert t.stops == (Stop("P:0", "h1", ("P:0-c",), "abort"),)


def test_an_array_operation_needs_all_the_children() -> None:
    p, c0, _ = sub(size=2, job_id="P")
    with pytest.raises(ValueError, match="has 2 children: pass all of them"):
        cancel(p, "x", T0, [c0])
    with pytest.raises(ValueError, match="has 2 children"):
        terminate(p, "x", T0)
