"""The Batch job scheduler, table by table, as AWS Batch's documentation describes scheduling:
queue priority on shared compute environments, computeEnvironmentOrder, maxvCpus, FIFO within a
queue, fair share, and a reason for every job that stays RUNNABLE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from controller.batch.models.batch import ComputeEnvironmentSpec, FairSharePolicy, JobQueueSpec
from controller.batch.planners.scheduler import (
    Candidate,
    SchedulePlan,
    schedule,
    share_weight,
)
from controller.core.placement import HostSlot, Rules


def ce(max_vcpus: int = 4, **spec: Any) -> ComputeEnvironmentSpec:
    return ComputeEnvironmentSpec.model_validate({"maxvCpus": max_vcpus, **spec})


def jq(*environments: str, priority: int = 1, **spec: Any) -> JobQueueSpec:
    order = [{"order": i, "computeEnvironment": e} for i, e in enumerate(environments, 1)]
    return JobQueueSpec.model_validate(
        {"priority": priority, "computeEnvironmentOrder": order, **spec}
    )


def job(
    job_id: str,
    queue: str = "q",
    at: float = 0.0,
    vcpus: float = 1,
    memory: int = 512,
    share: str | None = None,
    nodes: tuple[tuple[float, int], ...] = (),
) -> Candidate:
    return Candidate(job_id, queue, at, vcpus, memory, share, nodes)


def host(
    name: str, zone: str = "a", vcpus: float = 16, memory: int = 65536, **used: Any
) -> HostSlot:
    return HostSlot(name, zone, "127.0.0.1", int(vcpus * 1024), memory, **used)


POOL = [host("h1")]


def run(
    jobs: Sequence[Candidate],
    queues: Mapping[str, JobQueueSpec],
    environments: Mapping[str, ComputeEnvironmentSpec],
    held: Mapping[str, float] | None = None,
    hosts: Sequence[HostSlot] = POOL,
    **options: Any,
) -> SchedulePlan:
    return schedule(jobs, queues, environments, held or {}, hosts, **options)


def placed(plan: SchedulePlan) -> list[str]:
    return [p.job_id for p in plan.placements]


def where(plan: SchedulePlan) -> dict[str, str]:
    return {p.job_id: p.environment for p in plan.placements}


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


# --- hosts and zones ----------------------------------------------------------------------

ZONED = [host("h1", "a"), host("h2", "b"), host("h3", "b", vcpus=1)]


@pytest.mark.parametrize(
    ("spec", "hosts"),
    [
        pytest.param({}, {"h3"}, id="no restriction: any host (binpack takes the fullest)"),
        pytest.param({"hosts": ["h1"]}, {"h1"}, id="hosts"),
        pytest.param({"zones": ["b"]}, {"h3"}, id="zones"),
        pytest.param({"hosts": ["h1", "h2"], "zones": ["b"]}, {"h2"}, id="hosts and zones"),
    ],
)
def test_jobs_run_only_on_the_environments_hosts_and_zones(
    spec: dict[str, Any], hosts: set[str]
) -> None:
    plan = run([job("j1")], {"q": jq("ce1")}, {"ce1": ce(4, **spec)}, hosts=ZONED)
    assert {h for p in plan.placements for h in p.hosts} == hosts


def test_an_environment_whose_hosts_match_nothing_says_so() -> None:
    plan = run([job("j1")], {"q": jq("ce1")}, {"ce1": ce(zones=["z9"])}, hosts=ZONED)
    assert plan.waiting == {
        "j1": "compute environment ce1 has no host: none in the pool matches its hosts (any) "
        "and zones (z9)"
    }


def test_placement_strategy_can_be_chosen() -> None:
    spread = Rules(strategies=(("spread", "instanceId"),))
    jobs = [job("j1", at=1), job("j2", at=2)]
    plan = run(jobs, {"q": jq("ce1")}, {"ce1": ce()}, hosts=ZONED[:2], rules=spread)
    assert [p.hosts for p in plan.placements] == [("h1",), ("h2",)]


# --- memory and CPU fit on the pool -------------------------------------------------------


def test_a_job_waits_for_a_host_with_its_memory_free() -> None:
    plan = run(
        [job("j1", memory=2048)],
        {"q": jq("ce1")},
        {"ce1": ce()},
        hosts=[host("h1", memory=4096, memory_used=3072)],
    )
    assert plan.waiting == {
        "j1": "no host in ce1 has 1 vCPU and 2048 MiB free: "
        "h1: insufficient memory (1024 of 2048 MiB free)"
    }


def test_the_plan_books_what_it_places() -> None:
    hosts = [host("h1", vcpus=4, memory=4096)]
    jobs = [job("j1", at=1, memory=3000), job("j2", "other", at=2, memory=3000)]
    queues = {"q": jq("ce1"), "other": jq("ce1")}
    plan = run(jobs, queues, {"ce1": ce(4)}, hosts=hosts)
    assert placed(plan) == ["j1"]
    assert plan.waiting == {
        "j2": "no host in ce1 has 1 vCPU and 3000 MiB free: "
        "h1: insufficient memory (1096 of 3000 MiB free)"
    }


def test_cpu_is_counted_in_units_of_1024_per_vcpu() -> None:
    hosts = [host("h1", vcpus=2, cpu_used=512)]
    jobs = [job("j1", at=1, vcpus=1.5), job("j2", "other", at=2, vcpus=1.5)]
    plan = run(jobs, {"q": jq("ce1"), "other": jq("ce1")}, {"ce1": ce()}, hosts=hosts)
    assert placed(plan) == ["j1"]
    assert plan.waiting == {
        "j2": "no host in ce1 has 1.5 vCPUs and 512 MiB free: "
        "h1: insufficient CPU (0 of 1536 units free)"
    }


def test_down_and_draining_hosts_take_no_job() -> None:
    hosts = [host("h1", up=False), host("h2", draining=True), host("h3")]
    plan = run([job("j1")], {"q": jq("ce1")}, {"ce1": ce()}, hosts=hosts)
    assert plan.placements[0].hosts == ("h3",)


# --- multi-node parallel jobs -------------------------------------------------------------

THREE_NODES = ((2, 1024), (2, 1024), (2, 1024))


def test_a_multi_node_job_starts_with_all_its_nodes() -> None:
    hosts = [host(f"h{i}", vcpus=2) for i in (1, 2, 3)]
    plan = run([job("mnp", nodes=THREE_NODES)], {"q": jq("ce1")}, {"ce1": ce(8)}, hosts=hosts)
    [p] = plan.placements
    assert sorted(p.hosts) == ["h1", "h2", "h3"]
    assert p.vcpus == 6


def test_a_multi_node_job_that_does_not_fit_whole_takes_nothing() -> None:
    hosts = [host("h1", vcpus=2), host("h2", vcpus=2), host("h3", vcpus=2, cpu_used=1024)]
    jobs = [job("mnp", "mpi", at=1, nodes=THREE_NODES), job("small", "other", at=2, vcpus=2)]
    queues = {"mpi": jq("ce1", priority=2), "other": jq("ce1", priority=1)}
    plan = run(jobs, queues, {"ce1": ce(8)}, hosts=hosts)
    assert plan.waiting == {
        "mnp": "no host in ce1 has 2 vCPUs and 1024 MiB free for node 2 of 3, which start "
        "together: h1: insufficient CPU (0 of 2048 units free); h2: insufficient CPU "
        "(0 of 2048 units free); h3: insufficient CPU (1024 of 2048 units free)"
    }
    assert placed(plan) == ["small"]  # the nodes that fitted were not kept


def test_a_multi_node_job_counts_all_its_nodes_against_maxvcpus() -> None:
    plan = run([job("mnp", nodes=THREE_NODES)], {"q": jq("ce1")}, {"ce1": ce(4)})
    assert plan.waiting == {
        "mnp": "the job needs 6 vCPUs, more than compute environment ce1's maxvCpus 4"
    }


def test_nodes_keep_their_order_in_the_placement() -> None:
    hosts = [host("big", vcpus=4), host("small", vcpus=1)]
    nodes = ((1, 512), (4, 512))  # node 1 is the large one: it is placed first
    plan = run([job("mnp", nodes=nodes)], {"q": jq("ce1")}, {"ce1": ce(8)}, hosts=hosts)
    assert plan.placements[0].hosts == ("small", "big")


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
