"""The Batch job scheduler's queues and compute environments, table by table, as AWS Batch's
documentation describes scheduling: queue priority on shared compute environments,
computeEnvironmentOrder, maxvCpus, ENABLED and DISABLED, FIFO within a queue, and a reason for
every job that stays RUNNABLE.
"""

from __future__ import annotations

import pytest

from controller.batch.models.batch import ComputeEnvironmentSpec, JobQueueSpec
from controller.batch.planners.scheduler import (
    Candidate,
)
from tests.unit.batch_scheduler_support import ce, host, job, jq, placed, run, where

# --- job queue priority -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queues", "environments", "held", "jobs", "expected"),
    [
        pytest.param(
            {"high": jq("ce1", priority=10), "low": jq("ce1", priority=1)},
            {"ce1": ce(2)},
            {},
            [job("l1", "low", 0), job("l2", "low", 1), job("h1", "high", 5), job("h2", "high", 6)],
            ["h1", "h2"],
            id="a higher priority queue is evaluated first on a shared environment",
        ),
        pytest.param(
            {"a": jq("ce1", priority=5), "b": jq("ce1", priority=5)},
            {"ce1": ce(2)},
            {},
            [job("a1", "a", 1), job("b1", "b", 0), job("a2", "a", 2), job("b2", "b", 3)],
            ["b1", "a1"],
            id="queues of equal priority: the older job first",
        ),
        pytest.param(
            {"high": jq("ce2", priority=10), "low": jq("ce1", priority=1)},
            {"ce1": ce(1), "ce2": ce(1)},
            {},
            [job("l1", "low", 0), job("h1", "high", 1), job("h2", "high", 2)],
            ["h1", "l1"],
            id="priority orders only queues that share an environment",
        ),
        pytest.param(
            {"high": jq("ce1", priority=10), "low": jq("ce1", priority=1)},
            {"ce1": ce(4)},
            {"ce1": 2},
            [job("h1", "high", 0, vcpus=3), job("l1", "low", 1, vcpus=1)],
            ["l1"],
            id="a lower queue's job runs when the higher queue's does not fit",
        ),
    ],
)
def test_job_queue_priority(
    queues: dict[str, JobQueueSpec],
    environments: dict[str, ComputeEnvironmentSpec],
    held: dict[str, float],
    jobs: list[Candidate],
    expected: list[str],
) -> None:
    assert placed(run(jobs, queues, environments, held)) == expected


def test_the_higher_queue_waits_with_the_reason_its_job_did_not_fit() -> None:
    plan = run(
        [job("h1", "high", vcpus=3), job("l1", "low", 1)],
        {"high": jq("ce1", priority=10), "low": jq("ce1", priority=1)},
        {"ce1": ce(4)},
        {"ce1": 2},
    )
    assert plan.waiting == {
        "h1": "compute environment ce1 has 2 of its maxvCpus 4 free (2 held), the job needs 3 vCPUs"
    }


# --- computeEnvironmentOrder --------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "environments", "held", "jobs", "expected"),
    [
        pytest.param(
            jq("ce1", "ce2"),
            {"ce1": ce(1), "ce2": ce(4)},
            {"ce1": 1},
            [job("j1")],
            {"j1": "ce2"},
            id="ce1 at its maxvCpus: the job goes to ce2",
        ),
        pytest.param(
            jq("ce1", "ce2"),
            {"ce1": ce(2), "ce2": ce(2)},
            {},
            [job("j1", at=1), job("j2", at=2), job("j3", at=3)],
            {"j1": "ce1", "j2": "ce1", "j3": "ce2"},
            id="ce1 is filled before ce2",
        ),
        pytest.param(
            JobQueueSpec.model_validate(
                {
                    "priority": 1,
                    "computeEnvironmentOrder": [
                        {"order": 2, "computeEnvironment": "ce1"},
                        {"order": 1, "computeEnvironment": "ce2"},
                    ],
                }
            ),
            {"ce1": ce(4), "ce2": ce(4)},
            {},
            [job("j1")],
            {"j1": "ce2"},
            id="ascending order, not the order listed",
        ),
        pytest.param(
            jq("ce1", "ce2"),
            {"ce1": ce(4, state="DISABLED"), "ce2": ce(4)},
            {},
            [job("j1")],
            {"j1": "ce2"},
            id="a DISABLED environment is passed over",
        ),
        pytest.param(
            jq("gone", "ce2"),
            {"ce2": ce(4)},
            {},
            [job("j1")],
            {"j1": "ce2"},
            id="a missing environment is passed over",
        ),
    ],
)
def test_compute_environment_order(
    queue: JobQueueSpec,
    environments: dict[str, ComputeEnvironmentSpec],
    held: dict[str, float],
    jobs: list[Candidate],
    expected: dict[str, str],
) -> None:
    assert where(run(jobs, {"q": queue}, environments, held)) == expected


# --- maxvCpus -----------------------------------------------------------------------------


def test_thirty_jobs_of_one_vcpu_on_maxvcpus_2_start_two() -> None:
    jobs = [job(f"j{i:02}", at=i) for i in range(1, 31)]
    plan = run(jobs, {"q": jq("ce1")}, {"ce1": ce(2)})
    assert placed(plan) == ["j01", "j02"]
    assert plan.waiting["j03"] == "compute environment ce1 is at its maxvCpus 2 (2 held)"
    assert {plan.waiting[f"j{i:02}"] for i in range(4, 31)} == {
        "waiting behind earlier jobs of queue q"
    }


@pytest.mark.parametrize(
    ("max_vcpus", "held", "vcpus", "count", "started"),
    [
        pytest.param(2, 1, 1, 5, 1, id="running jobs hold vCPUs"),
        pytest.param(2, 3, 1, 5, 0, id="held above maxvCpus (it was lowered): nothing starts"),
        pytest.param(2, 0, 0.5, 5, 4, id="fractional vCPUs add up"),
        pytest.param(8, 0, 3, 5, 2, id="newly placed jobs count"),
        pytest.param(3, 0.5, 0.25, 20, 10, id="held and placed together"),
    ],
)
def test_running_plus_placed_vcpus_never_exceed_maxvcpus(
    max_vcpus: int, held: float, vcpus: float, count: int, started: int
) -> None:
    jobs = [job(f"j{i:02}", at=i, vcpus=vcpus) for i in range(count)]
    plan = run(jobs, {"q": jq("ce1")}, {"ce1": ce(max_vcpus)}, {"ce1": held})
    assert len(plan.placements) == started
    assert held + sum(p.vcpus for p in plan.placements) <= max(max_vcpus, held)


def test_queues_sharing_an_environment_share_its_maxvcpus() -> None:
    jobs = [job(f"{q}{i}", q, at=i) for q in ("a", "b") for i in range(3)]
    queues = {"a": jq("ce1", priority=2), "b": jq("ce1", priority=1)}
    assert placed(run(jobs, queues, {"ce1": ce(4)}, {"ce1": 0})) == ["a0", "a1", "a2", "b0"]


# --- ENABLED and DISABLED -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("queues", "environments", "reason"),
    [
        pytest.param(
            {"q": jq("ce1", state="DISABLED")},
            {"ce1": ce()},
            "job queue q is DISABLED",
            id="disabled queue",
        ),
        pytest.param({}, {"ce1": ce()}, "job queue q does not exist", id="missing queue"),
        pytest.param(
            {"q": jq("ce1")},
            {"ce1": ce(state="DISABLED")},
            "no ENABLED compute environment in job queue q (compute environment ce1 is DISABLED)",
            id="disabled environment",
        ),
        pytest.param(
            {"q": jq("ce1", "ce2")},
            {"ce1": ce(state="DISABLED")},
            "no ENABLED compute environment in job queue q (compute environment ce1 is "
            "DISABLED, compute environment ce2 does not exist)",
            id="disabled and missing environments",
        ),
    ],
)
def test_only_enabled_queues_and_environments_schedule(
    queues: dict[str, JobQueueSpec], environments: dict[str, ComputeEnvironmentSpec], reason: str
) -> None:
    plan = run([job("j1")], queues, environments)
    assert plan.placements == []
    assert plan.waiting == {"j1": reason}


# --- FIFO ---------------------------------------------------------------------------------


def test_jobs_start_in_submission_order() -> None:
    jobs = [job("c", at=3), job("a", at=1), job("b", at=2)]
    assert placed(run(jobs, {"q": jq("ce1")}, {"ce1": ce(2)})) == ["a", "b"]


def test_a_head_job_that_waits_for_room_blocks_its_queue_not_others() -> None:
    jobs = [
        job("big", at=1, vcpus=4),
        job("small", at=2, vcpus=1),
        job("elsewhere", "other", at=3, vcpus=1),
    ]
    queues = {"q": jq("ce1", priority=5), "other": jq("ce1", priority=1)}
    plan = run(jobs, queues, {"ce1": ce(4)}, {"ce1": 2})
    assert placed(plan) == ["elsewhere"]
    assert plan.waiting == {
        "big": "compute environment ce1 has 2 of its maxvCpus 4 free (2 held), "
        "the job needs 4 vCPUs",
        "small": "waiting behind earlier jobs of queue q",
    }


def test_a_job_that_can_never_fit_does_not_block_its_queue() -> None:
    jobs = [job("huge", at=1, vcpus=1, memory=100_000), job("next", at=2)]
    plan = run(jobs, {"q": jq("ce1")}, {"ce1": ce()}, hosts=[host("h1", memory=4096)])
    assert placed(plan) == ["next"]
    assert plan.waiting == {
        "huge": "no host in ce1 has 1 vCPU and 100000 MiB even when idle: "
        "h1: insufficient memory (4096 of 100000 MiB free)"
    }


def test_head_of_line_is_per_environment() -> None:
    # `big` may start in ce1 once room frees up, but never in ce2 (maxvCpus 2): it holds ce1
    # for its queue, while the next job starts in ce2.
    jobs = [job("big", at=1, vcpus=4), job("next", at=2)]
    plan = run(jobs, {"q": jq("ce1", "ce2")}, {"ce1": ce(4), "ce2": ce(2)}, {"ce1": 1})
    assert where(plan) == {"next": "ce2"}
    assert plan.waiting == {
        "big": "compute environment ce1 has 3 of its maxvCpus 4 free (1 held), the job needs "
        "4 vCPUs; the job needs 4 vCPUs, more than compute environment ce2's maxvCpus 2"
    }


def test_a_job_placed_in_a_later_environment_blocks_nothing() -> None:
    jobs = [job("big", at=1, vcpus=3), job("next", at=2)]
    plan = run(jobs, {"q": jq("ce1", "ce2")}, {"ce1": ce(4), "ce2": ce(4)}, {"ce1": 2})
    assert where(plan) == {"big": "ce2", "next": "ce1"}


# --- every waiting job has a reason -------------------------------------------------------


def test_every_candidate_is_placed_or_waiting_with_a_reason() -> None:
    jobs = [job(f"j{i}", q, at=i) for i, q in enumerate(["q", "q", "q", "off", "nowhere"])]
    queues = {"q": jq("ce1"), "off": jq("ce1", state="DISABLED")}
    plan = run(jobs, queues, {"ce1": ce(1)})
    assert placed(plan) == ["j0"]
    assert plan.waiting == {
        "j1": "compute environment ce1 is at its maxvCpus 1 (1 held)",
        "j2": "waiting behind earlier jobs of queue q",
        "j3": "job queue off is DISABLED",
        "j4": "job queue nowhere does not exist",
    }
    assert not plan.is_noop()
