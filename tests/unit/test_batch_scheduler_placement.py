"""Where the Batch job scheduler places jobs: the compute environment's hosts and zones, memory
and CPU that fit on the pool, and multi-node parallel jobs that start with all their nodes.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.core.placement import Rules
from tests.unit.batch_scheduler_support import ce, host, job, jq, placed, run

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
