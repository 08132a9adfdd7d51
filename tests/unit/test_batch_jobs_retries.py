"""AWS Batch job retries and timeouts without Docker: the evaluateOnExit rules of "Automated job
retries", attempts, late reports, and the attempt timeout.

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
    SUCCEEDED,
    TIMEOUT_REASON,
    Job,
    Stop,
    after_attempt,
    attempt_environment,
    place,
    retry_decision,
    terminate,
    timed_out,
)
from tests.support.builders import T0
from tests.unit.batch_jobs_support import ESSENTIAL, definition, job, replace_status, running, sub

# -- retries -----------------------------------------------------------------------------------

GUIDE_RULES = RetryStrategy.model_validate(
    {
        "attempts": 5,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onExitCode": "3", "action": "EXIT"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
)
NO_CATCH_ALL = RetryStrategy.model_validate(
    {
        "attempts": 5,
        "evaluateOnExit": [
            {"onExitCode": "3", "action": "EXIT"},
            {"onExitCode": "13*", "action": "EXIT"},
            {"onExitCode": "1", "onReason": "OutOfMemory*", "action": "exit"},
        ],
    }
)
HOST_GONE = "Host EC2 (instance i-0abc) terminated."


@pytest.mark.parametrize(
    ("strategy", "made", "exit_code", "reason", "status_reason", "action"),
    [
        (GUIDE_RULES, 1, 3, None, ESSENTIAL, "EXIT"),  # exit code 3: EXIT
        (GUIDE_RULES, 1, 3, None, HOST_GONE, "RETRY"),  # the first matching rule decides
        (GUIDE_RULES, 1, None, None, HOST_GONE, "RETRY"),
        (GUIDE_RULES, 1, 1, "OutOfMemoryError: killed", ESSENTIAL, "EXIT"),  # the catch-all
        (GUIDE_RULES, 1, 1, None, ESSENTIAL, "EXIT"),
        (GUIDE_RULES, 5, 1, None, HOST_GONE, "EXIT"),  # attempts used up
        (NO_CATCH_ALL, 1, 2, None, ESSENTIAL, "RETRY"),  # no rule matches: retry
        (NO_CATCH_ALL, 1, 30, None, ESSENTIAL, "RETRY"),  # "3" is exact
        (NO_CATCH_ALL, 1, 137, None, ESSENTIAL, "EXIT"),  # "13*" is a prefix
        (NO_CATCH_ALL, 1, 1, "OutOfMemoryError: killed", ESSENTIAL, "EXIT"),
        (NO_CATCH_ALL, 1, 1, "CannotPullContainerError", ESSENTIAL, "RETRY"),  # all must match
        (NO_CATCH_ALL, 4, 2, None, ESSENTIAL, "RETRY"),
        (NO_CATCH_ALL, 5, 2, None, ESSENTIAL, "EXIT"),
        (RetryStrategy(), 1, 2, None, ESSENTIAL, "EXIT"),  # one attempt by default
    ],
)
def test_evaluate_on_exit(
    strategy: RetryStrategy,
    made: int,
    exit_code: int | None,
    reason: str | None,
    status_reason: str,
    action: str,
) -> None:
    assert retry_decision(strategy, made, exit_code, reason, status_reason) == action


def test_a_zero_exit_succeeds_and_records_the_attempt() -> None:
    j = running(job("J", RUNNABLE), T0 + 2, host="h7")
    done = after_attempt(j, 0, None, ESSENTIAL, T0 + 9)
    assert (done.status, done.stopped_at, done.host, done.container_ids) == (
        SUCCEEDED,
        T0 + 9,
        None,
        (),
    )
    (a,) = done.attempts
    assert (a.started_at, a.stopped_at, a.exit_code, a.status_reason, a.host, a.container_ids) == (
        T0 + 2,
        T0 + 9,
        0,
        ESSENTIAL,
        "h7",
        ("J-c",),
    )


def test_failed_attempts_go_back_to_runnable_until_attempts_run_out() -> None:
    j = job("J", RUNNABLE, retry_strategy=RetryStrategy(attempts=3))
    seen = []
    for n in range(3):
        assert attempt_environment(j, definition()[1])["AWS_BATCH_JOB_ATTEMPT"] == str(n + 1)
        j = after_attempt(running(j, T0 + n), 1, None, f"{ESSENTIAL} #{n}", T0 + n + 0.5)
        seen.append(j.status)
    assert seen == [RUNNABLE, RUNNABLE, FAILED]
    assert (j.status_reason, len(j.attempts), j.stopped_at) == (
        f"{ESSENTIAL} #2",
        3,
        T0 + 2.5,
    )


def test_an_exit_rule_on_exit_code_3_fails_at_once() -> None:
    rules = RetryStrategy.model_validate(
        {"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "EXIT"}]}
    )
    j = running(job("J", RUNNABLE, retry_strategy=rules))
    assert after_attempt(j, 3, None, ESSENTIAL, T0 + 1).status == FAILED
    assert after_attempt(j, 4, None, ESSENTIAL, T0 + 1).status == RUNNABLE


def test_an_attempt_that_never_ran_has_no_start() -> None:
    j = running(job("J", RUNNABLE, retry_strategy=RetryStrategy(attempts=3)), T0)
    j = place(after_attempt(j, 1, None, ESSENTIAL, T0 + 1), "h1")  # the second attempt
    after = after_attempt(j, None, "CannotPullContainerError: nope", "Task failed to start", T0 + 2)
    assert (after.status, [a.started_at for a in after.attempts]) == (RUNNABLE, [T0, None])


def test_a_late_or_repeated_report_changes_nothing() -> None:
    retried = running(job("J", RUNNABLE, retry_strategy=RetryStrategy(attempts=3)))
    retried = after_attempt(retried, 1, None, ESSENTIAL, T0 + 1)
    succeeded = after_attempt(running(job("K", RUNNABLE)), 0, None, ESSENTIAL, T0 + 1)
    for j in (retried, succeeded):
        assert after_attempt(j, 1, None, "again", T0 + 2) is j


@pytest.mark.parametrize(
    ("j", "now", "expected"),
    [
        (job("J", RUNNING, started_at=T0, timeout_seconds=60), T0 + 59.9, False),
        (job("J", RUNNING, started_at=T0, timeout_seconds=60), T0 + 60, True),
        (job("J", RUNNING, started_at=T0), T0 + 10**6, False),  # no timeout: never
        (job("J", STARTING, started_at=T0 - 100, timeout_seconds=60), T0, False),
        (job("J", RUNNING, started_at=T0, timeout_seconds=60, stop_reason="x"), T0 + 61, False),
        (job("P", PENDING, array_size=2, timeout_seconds=60, started_at=T0), T0 + 61, False),
    ],
    ids=["before", "at", "none", "starting", "stopping", "array-parent"],
)
def test_the_timeout_counts_from_the_attempts_start(j: Job, now: float, expected: bool) -> None:
    assert timed_out(j, now) is expected


def test_a_timed_out_attempt_is_stopped_and_not_retried() -> None:
    j = running(job("J", RUNNABLE, timeout_seconds=60, retry_strategy=RetryStrategy(attempts=3)))
    assert timed_out(j, T0 + 60)
    stopping = terminate(j, TIMEOUT_REASON, T0 + 60)
    assert stopping.stops == (Stop("J", "h1", ("J-c",), TIMEOUT_REASON),)
    (still,) = stopping.jobs
    assert (still.status, timed_out(still, T0 + 61)) == (RUNNING, False)
    ended = after_attempt(still, 143, None, ESSENTIAL, T0 + 61)
    assert (ended.status, ended.status_reason) == (FAILED, TIMEOUT_REASON)


def test_a_timeout_reported_directly_is_not_retried_either() -> None:
    j = running(job("J", RUNNABLE, retry_strategy=RetryStrategy(attempts=3)))
    assert after_attempt(j, 137, None, TIMEOUT_REASON, T0 + 90).status == FAILED


def test_each_child_has_its_own_timeout() -> None:
    _, c0, c1 = sub(size=2, timeout={"attemptDurationSeconds": 60})
    assert timed_out(running(replace_status(c0, RUNNABLE), T0), T0 + 60)
    assert not timed_out(running(replace_status(c1, RUNNABLE), T0 + 30), T0 + 60)
