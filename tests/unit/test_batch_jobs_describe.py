"""DescribeJobs' shape of a retried job and of an array, and the AWS Batch variables a job
definition may not set.

The tables read like the AWS Batch user guide's examples. Times are fixed (T0), ids are given.
"""

from __future__ import annotations

import pytest

from controller.batch.planners.jobs import (
    RUNNABLE,
    Dependency,
    after_attempt,
)
from controller.batch.planners.submit import SubmitRequest, submit
from tests.support.builders import T0
from tests.unit.batch_jobs_support import (
    ESSENTIAL,
    QUEUE,
    definition,
    ids,
    on,
    replace_status,
    running,
    sub,
)

# -- DescribeJobs ------------------------------------------------------------------------------


def test_describe_jobs_shape_of_a_retried_job() -> None:
    (a,) = sub(job_id="A")
    (j,) = submit(
        SubmitRequest("work", parameters={"x": "1"}, depends_on=on("A")),
        QUEUE,
        "q",
        definition(retryStrategy={"attempts": 2}),
        {"A": a},
        T0,
        ids("J"),
    )
    j = after_attempt(running(replace_status(j, RUNNABLE), T0 + 1), 2, "OOM", ESSENTIAL, T0 + 3)
    assert j.to_json() == {
        "jobId": "J",
        "jobName": "work",
        "jobQueue": "q",
        "jobDefinition": "work:1",
        "status": "RUNNABLE",
        "statusReason": ESSENTIAL,
        "createdAt": 1_700_000_000_000,
        "startedAt": 1_700_000_001_000,
        "attempts": [
            {
                "container": {
                    "exitCode": 2,
                    "reason": "OOM",
                    "host": "h1",
                    "containerIds": ["J-c"],
                },
                "startedAt": 1_700_000_001_000,
                "stoppedAt": 1_700_000_003_000,
                "statusReason": ESSENTIAL,
            }
        ],
        "container": {"exitCode": 2},
        "dependsOn": [{"jobId": "A"}],
        "parameters": {"x": "1"},
        "retryStrategy": {"attempts": 2, "evaluateOnExit": []},
    }


def test_describe_jobs_shape_of_an_array() -> None:
    p, c0, _ = sub(size=2, deps=[Dependency(None, "SEQUENTIAL")], job_id="P")
    parent = p.to_json()
    assert parent["arrayProperties"] == {
        "size": 2,
        "statusSummary": {
            "SUBMITTED": 0,
            "PENDING": 2,
            "RUNNABLE": 0,
            "STARTING": 0,
            "RUNNING": 0,
            "SUCCEEDED": 0,
            "FAILED": 0,
        },
    }
    assert (parent["dependsOn"], "container" in parent) == ([{"type": "SEQUENTIAL"}], False)
    assert c0.to_json()["arrayProperties"] == {"index": 0}


def test_a_definition_may_not_set_aws_batch_variables() -> None:
    own = [{"name": "AWS_BATCH_JQ_NAME", "value": "x"}]
    with pytest.raises(ValueError, match="AWS_BATCH_ prefix is reserved"):
        definition(containerProperties={"image": "i", "environment": own})
