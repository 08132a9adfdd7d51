"""Properties of Batch jobs' dependency resolution over arbitrary job graphs (hypothesis).

Whatever the graph and whatever order the store lists it in, one advance() reaches the fixed
point: no job waits on a failed dependency, none is RUNNABLE before all its dependencies
succeeded, a second call changes nothing, and the order of the store changes no outcome.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.batch.planners.jobs import (
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    Dependency,
    Job,
    JobStatus,
    advance,
)
from tests.support.builders import T0

START: list[JobStatus] = [SUBMITTED, PENDING, RUNNING, SUCCEEDED, FAILED]
WAITING: list[JobStatus] = [SUBMITTED, PENDING]


@st.composite
def graphs(draw: st.DrawFn) -> list[Job]:
    """Jobs j0..jN, each depending on some earlier ones (a DAG, as submit makes them)."""
    n = draw(st.integers(1, 12))
    jobs = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        status = draw(st.sampled_from(START if not deps else WAITING))
        jobs.append(
            Job(
                f"j{i}",
                f"j{i}",
                "q",
                "work:1",
                status,
                T0,
                depends_on=tuple(Dependency(f"j{d}") for d in sorted(deps)),
            )
        )
    return jobs


def settle(jobs: list[Job]) -> dict[str, Job]:
    store = {j.job_id: j for j in jobs}
    for j in advance(store, T0):
        store[j.job_id] = j
    return store


@settings(max_examples=300, deadline=None)
@given(graphs(), st.randoms(use_true_random=False))
def test_one_advance_resolves_every_dependency(jobs: list[Job], rng: random.Random) -> None:
    store = settle(jobs)
    for j in store.values():
        deps = [store[d.job_id].status for d in j.depends_on if d.job_id]
        if j.status in (SUBMITTED, PENDING, RUNNABLE):
            assert FAILED not in deps, j
        if j.status == RUNNABLE and j.job_id not in {
            x.job_id for x in jobs if x.status == RUNNABLE
        }:
            assert all(s == SUCCEEDED for s in deps), j
        if j.status == PENDING:
            assert not all(s == SUCCEEDED for s in deps), j
    assert SUBMITTED not in {j.status for j in store.values()}
    assert advance(store, T0 + 1) == []
    shuffled = list(jobs)
    rng.shuffle(shuffled)
    assert settle(shuffled) == store


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_a_failed_job_fails_exactly_what_waits_on_it(jobs: list[Job]) -> None:
    """Failing j0 fails every unfinished job that reaches it through dependencies, and no
    other job changes status because of it."""
    before = settle(jobs)
    failed = settle([replace(j, status=FAILED) if j.job_id == "j0" else j for j in jobs])
    reaches = {"j0"}
    for j in jobs:  # in index order: dependencies come first
        if any(d.job_id in reaches for d in j.depends_on):
            reaches.add(j.job_id)
    for j in jobs:
        if j.job_id in reaches and before[j.job_id].status in (SUBMITTED, PENDING):
            assert failed[j.job_id].status == FAILED, j
        elif j.job_id not in reaches:
            assert failed[j.job_id].status == before[j.job_id].status, j
