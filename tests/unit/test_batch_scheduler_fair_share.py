"""The Batch job scheduler's fair share, as AWS Batch's documentation describes it: share weights,
usage and its decay, FIFO within a share, compute reservation, and jobs without a share
identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from controller.batch.models.batch import FairSharePolicy
from controller.batch.planners.scheduler import (
    Candidate,
    SchedulePlan,
    share_weight,
)
from tests.unit.batch_scheduler_support import ce, job, jq, placed, run

# --- fair share ---------------------------------------------------------------------------


def fair(*weights: tuple[str, float], reservation: int = 0, decay: int = 0) -> dict[str, Any]:
    return {
        "fairSharePolicy": {
            "computeReservation": reservation,
            "shareDecaySeconds": decay,
            "shareDistribution": [{"shareIdentifier": s, "weightFactor": w} for s, w in weights],
        }
    }


def shares_of(plan: SchedulePlan, jobs: Sequence[Candidate]) -> list[str | None]:
    share = {j.job_id: j.share_identifier for j in jobs}
    return [share[p.job_id] for p in plan.placements]


@pytest.mark.parametrize(
    ("entries", "share", "weight"),
    [
        pytest.param([("blue", 0.5)], "blue", 0.5, id="its own entry"),
        pytest.param([("blue", 0.5)], "green", 1.0, id="no entry: 1"),
        pytest.param([("team*", 0.25)], "teamA", 0.25, id="prefix"),
        pytest.param([("t*", 2), ("team*", 0.25)], "teamA", 0.25, id="the longest prefix"),
        pytest.param([("team*", 0.25), ("teamA", 3)], "teamA", 3, id="its own entry first"),
    ],
)
def test_share_weights(entries: list[tuple[str, float]], share: str, weight: float) -> None:
    policy = FairSharePolicy.model_validate(fair(*entries)["fairSharePolicy"])
    assert share_weight(policy, share) == weight


def test_a_lower_weight_factor_gets_more_of_the_environment() -> None:
    # AWS: a share with weightFactor 0.5 gets twice the resources of one with 1.
    jobs = [job(f"a{i}", at=i, share="A") for i in range(6)]
    jobs += [job(f"b{i}", at=10 + i, share="B") for i in range(6)]
    queue = jq("ce1", **fair(("A", 1), ("B", 0.5)))
    plan = run(jobs, {"q": queue}, {"ce1": ce(6)})
    assert shares_of(plan, jobs) == ["A", "B", "B", "A", "B", "B"]


def test_the_share_with_the_least_recent_usage_goes_first() -> None:
    jobs = [job(f"a{i}", at=i, share="A") for i in range(3)]
    jobs += [job(f"b{i}", at=10 + i, share="B") for i in range(3)]
    queue = jq("ce1", **fair())
    plan = run(jobs, {"q": queue}, {"ce1": ce(2)}, usage={("q", "A"): 5000.0})
    assert placed(plan) == ["b0", "b1"]  # A's jobs are older, but A ran a lot lately


def test_usage_is_weighted() -> None:
    # A used 4x more than B, but A's weightFactor is 1/8: A goes first.
    jobs = [job("a", at=2, share="A"), job("b", at=1, share="B")]
    queue = jq("ce1", **fair(("A", 0.125)))
    usage = {("q", "A"): 4000.0, ("q", "B"): 1000.0}
    assert placed(run(jobs, {"q": queue}, {"ce1": ce(1)}, usage=usage)) == ["a"]


def test_fifo_within_a_share_and_a_share_waits_alone() -> None:
    jobs = [
        job("a-big", at=1, vcpus=4, share="A"),
        job("a-small", at=2, share="A"),
        job("b1", at=3, share="B"),
    ]
    plan = run(jobs, {"q": jq("ce1", **fair())}, {"ce1": ce(4)}, {"ce1": 1})
    assert placed(plan) == ["b1"]
    assert plan.waiting["a-small"] == "waiting behind earlier jobs of queue q (share A)"


@pytest.mark.parametrize(
    ("jobs", "started", "reason"),
    [
        pytest.param(
            [job(f"a{i}", at=i, share="A") for i in range(4)],
            ["a0", "a1"],
            "compute environment ce1 keeps 2 vCPUs of its maxvCpus 4 for fair-share identifiers "
            "that run nothing yet (computeReservation 50, 1 active)",
            id="one active share: (50/100)^1 of maxvCpus is kept",
        ),
        pytest.param(
            [job(f"a{i}", at=i, share="A") for i in range(4)] + [job("b0", at=9, share="B")],
            ["a0", "b0", "a1"],
            "compute environment ce1 keeps 1 vCPU of its maxvCpus 4 for fair-share identifiers "
            "that run nothing yet (computeReservation 50, 2 active)",
            id="a new share may use the reserve; then (50/100)^2 is kept",
        ),
    ],
)
def test_compute_reservation_keeps_vcpus_for_shares_that_run_nothing(
    jobs: list[Candidate], started: list[str], reason: str
) -> None:
    queue = jq("ce1", **fair(reservation=50))
    plan = run(jobs, {"q": queue}, {"ce1": ce(4)}, active_shares={("q", "A")})
    assert placed(plan) == started
    assert plan.waiting["a2"] == reason


def test_jobs_without_a_share_identifier_share_one_fair_share() -> None:
    jobs = [job("x", at=1), job("y", at=2), job("b", at=3, share="B")]
    plan = run(jobs, {"q": jq("ce1", **fair())}, {"ce1": ce(2)})
    assert placed(plan) == ["x", "b"]


def test_without_fair_share_the_share_identifier_changes_nothing() -> None:
    jobs = [job("a", at=1, share="A"), job("b", at=2, share="B"), job("a2", at=3, share="A")]
    plan = run(jobs, {"q": jq("ce1")}, {"ce1": ce(2)}, usage={("q", "A"): 1e9})
    assert placed(plan) == ["a", "b"]
