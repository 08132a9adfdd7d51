"""The environment an AWS Batch attempt sees: its id, attempt and queue, an array child's index,
and a multi-node job's node index and main address.

The tables read like the AWS Batch user guide's examples. Times are fixed (T0), ids are given.
"""

from __future__ import annotations

import pytest

from controller.batch.models.batch import JobDefinitionSpec
from controller.batch.planners.jobs import (
    attempt_environment,
)
from controller.batch.planners.submit import SubmitRequest, submit
from tests.support.builders import T0
from tests.unit.batch_jobs_support import QUEUE, definition, ids, sub

# -- the attempt's environment -----------------------------------------------------------------


def test_a_job_sees_its_id_attempt_and_queue_beside_its_own_environment() -> None:
    """AWS_BATCH_ variables are AWS's (a definition may not set one)."""
    own = [{"name": "A", "value": "1"}]
    _, spec = definition(containerProperties={"image": "i", "environment": own})
    (j,) = sub()
    assert attempt_environment(j, spec, compute_environment="ce") == {
        "A": "1",
        "AWS_BATCH_JOB_ID": "A",
        "AWS_BATCH_JOB_ATTEMPT": "1",
        "AWS_BATCH_JQ_NAME": "q",
        "AWS_BATCH_CE_NAME": "ce",
    }


def test_a_child_sees_its_index_and_the_array_size() -> None:
    _, _, _, third = sub(size=3, job_id="P")
    env = attempt_environment(third, definition()[1])
    assert (env["AWS_BATCH_JOB_ID"], env["AWS_BATCH_JOB_ARRAY_INDEX"]) == ("P:2", "2")
    assert env["AWS_BATCH_JOB_ARRAY_SIZE"] == "3"


MNP = JobDefinitionSpec.model_validate(
    {
        "type": "multinode",
        "nodeProperties": {
            "numNodes": 3,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0",
                    "container": {"image": "i", "environment": [{"name": "ROLE", "value": "main"}]},
                },
                {
                    "targetNodes": "1:",
                    "container": {
                        "image": "i",
                        "environment": [{"name": "ROLE", "value": "worker"}],
                    },
                },
            ],
        },
    }
)


def test_multinode_nodes_see_their_index_and_the_workers_the_main_address() -> None:
    (j,) = submit(SubmitRequest("mnp"), QUEUE, "q", ("mnp:1", MNP), {}, T0, ids("M"))
    main = attempt_environment(j, MNP, node_index=0)
    worker = attempt_environment(j, MNP, node_index=2, main_ip="10.0.0.5")
    assert {k: v for k, v in main.items() if "NODE" in k or k == "ROLE"} == {
        "ROLE": "main",
        "AWS_BATCH_JOB_NODE_INDEX": "0",
        "AWS_BATCH_JOB_NUM_NODES": "3",
        "AWS_BATCH_JOB_MAIN_NODE_INDEX": "0",
    }
    assert {k: v for k, v in worker.items() if "NODE" in k or k == "ROLE"} == {
        "ROLE": "worker",
        "AWS_BATCH_JOB_NODE_INDEX": "2",
        "AWS_BATCH_JOB_NUM_NODES": "3",
        "AWS_BATCH_JOB_MAIN_NODE_INDEX": "0",
        "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS": "10.0.0.5",
    }
    with pytest.raises(ValueError, match="needs main_ip"):
        attempt_environment(j, MNP, node_index=1)
    with pytest.raises(ValueError, match="needs the node_index"):
        attempt_environment(j, MNP)


def test_a_single_container_job_has_no_array_or_node_variables() -> None:
    (j,) = sub()
    env = attempt_environment(j, definition()[1])
    assert not [k for k in env if "ARRAY" in k or "NODE" in k]
