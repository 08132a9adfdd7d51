"""The AWS Batch job state machine without Docker: dependencies move a job, a failed job fails the
chain waiting on it, SEQUENTIAL and N_TO_N children, and array parents summarising their
children.

The tables read like the AWS Batch user guide's examples. Times are fixed (T0), ids are given.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.batch.planners.jobs import (
    ARRAY_CHILD_FAILED,
    DEPENDENCY_FAILED,
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    STARTING,
    STATUSES,
    SUBMITTED,
    SUCCEEDED,
    Dependency,
    JobStateError,
    JobStatus,
    advance,
    after_attempt,
    place,
)
from tests.support.builders import T0
from tests.unit.batch_jobs_support import (
    ESSENTIAL,
    finish,
    job,
    on,
    replace_status,
    running,
    settle,
    statuses,
    sub,
)

# -- the state machine without Docker ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "dependencies", "expected", "reason"),
    [
        (SUBMITTED, [], RUNNABLE, None),
        (SUBMITTED, [SUCCEEDED, SUCCEEDED], RUNNABLE, None),
        (SUBMITTED, [SUCCEEDED, RUNNING], PENDING, None),
        (SUBMITTED, [RUNNABLE], PENDING, None),
        (SUBMITTED, [SUCCEEDED, FAILED], FAILED, DEPENDENCY_FAILED),
        (PENDING, [SUCCEEDED], RUNNABLE, None),
        (PENDING, [RUNNING, FAILED], FAILED, DEPENDENCY_FAILED),
        (PENDING, [STARTING], PENDING, None),
        (PENDING, [None], PENDING, None),  # a dependency the store did not pass: wait
        (RUNNABLE, [], RUNNABLE, None),
        (RUNNING, [], RUNNING, None),
        (SUCCEEDED, [], SUCCEEDED, None),
    ],
)
def test_dependencies_move_a_job(
    status: JobStatus, dependencies: list[JobStatus | None], expected: str, reason: str | None
) -> None:
    deps = [job(f"d{i}", s) for i, s in enumerate(dependencies) if s is not None]
    j = job("J", status, depends_on=on(*(f"d{i}" for i in range(len(dependencies)))))
    store = {x.job_id: x for x in [*deps, j]}
    changed = advance(store, T0 + 5)
    after = {x.job_id: x for x in changed}.get("J", j)
    assert (after.status, after.status_reason) == (expected, reason)
    assert ("J" in {x.job_id for x in changed}) == (expected != status)
    assert {x.job_id for x in changed} <= {"J"}
    if expected == FAILED:
        assert after.stopped_at == T0 + 5


def test_a_failed_job_fails_the_whole_chain_that_waits_on_it() -> None:
    store = settle(
        [
            job("A", FAILED),
            job("B", PENDING, depends_on=on("A")),
            job("C", PENDING, depends_on=on("B")),
            job("D", SUBMITTED, depends_on=on("C", "E")),
            job("E", RUNNING),
            job("F", PENDING, depends_on=on("E")),
        ]
    )
    assert statuses(store) == {
        "A": FAILED,
        "B": FAILED,
        "C": FAILED,
        "D": FAILED,
        "E": RUNNING,
        "F": PENDING,
    }
    assert {store[k].status_reason for k in "BCD"} == {DEPENDENCY_FAILED}


def test_the_chain_fails_whatever_order_the_store_lists_it_in() -> None:
    chain = [job(k, PENDING, depends_on=on(dep)) for k, dep in ("DC", "CB", "BA")]
    store = settle([*chain, job("A", FAILED)])
    assert statuses(store) == {"D": FAILED, "C": FAILED, "B": FAILED, "A": FAILED}


def test_one_advance_reaches_the_end_an_array_on_an_array() -> None:
    """Q's last child succeeds: Q succeeds, Z's children (waiting on all of Q) become
    RUNNABLE, and Z's summary says so, all in one call; a second call has nothing to do."""
    q = sub(size=2, job_id="Q")
    z = sub(size=2, deps=on("Q"), known=q, job_id="Z")
    store = settle([*q, *z])
    finish(store, "Q:0", 0)
    store["Q:1"] = after_attempt(running(store["Q:1"]), 0, None, ESSENTIAL, T0 + 20)
    for j in advance(store, T0 + 20):
        store[j.job_id] = j
    assert statuses(store) == {
        "Q": SUCCEEDED,
        "Q:0": SUCCEEDED,
        "Q:1": SUCCEEDED,
        "Z": PENDING,
        "Z:0": RUNNABLE,
        "Z:1": RUNNABLE,
    }
    assert store["Z"].status_summary == {**dict.fromkeys(STATUSES, 0), RUNNABLE: 2}
    assert advance(store, T0 + 21) == []


def test_a_chain_moves_one_link_at_a_time_as_each_succeeds() -> None:
    store = settle([job("A"), job("B", depends_on=on("A")), job("C", depends_on=on("B"))])
    assert statuses(store) == {"A": RUNNABLE, "B": PENDING, "C": PENDING}
    finish(store, "A", 0)
    assert statuses(store) == {"A": SUCCEEDED, "B": RUNNABLE, "C": PENDING}


def test_advance_changes_nothing_twice_and_lists_changes_in_the_stores_order() -> None:
    store = {j.job_id: j for j in [job("Z"), job("A", depends_on=on("Z")), job("M")]}
    assert [j.job_id for j in advance(store, T0)] == ["Z", "A", "M"]
    settled = settle(store.values())
    assert advance(settled, T0 + 1) == []


def test_sequential_children_run_one_after_another() -> None:
    store = settle(sub(size=3, deps=[Dependency(None, "SEQUENTIAL")], job_id="A"))
    assert statuses(store) == {"A": PENDING, "A:0": RUNNABLE, "A:1": PENDING, "A:2": PENDING}
    finish(store, "A:0", 0)
    assert statuses(store) == {"A": PENDING, "A:0": SUCCEEDED, "A:1": RUNNABLE, "A:2": PENDING}
    finish(store, "A:1", 0)
    finish(store, "A:2", 0)
    assert statuses(store)["A"] == SUCCEEDED
    assert store["A"].stopped_at == T0 + 10


def test_a_failed_sequential_child_fails_the_rest_and_the_array() -> None:
    store = settle(sub(size=4, deps=[Dependency(None, "SEQUENTIAL")], job_id="A"))
    finish(store, "A:0", 0)
    finish(store, "A:1", 1)
    assert statuses(store) == {
        "A": FAILED,
        "A:0": SUCCEEDED,
        "A:1": FAILED,
        "A:2": FAILED,
        "A:3": FAILED,
    }
    assert [store[k].status_reason for k in ("A:1", "A:2", "A:3", "A")] == [
        ESSENTIAL,
        DEPENDENCY_FAILED,
        DEPENDENCY_FAILED,
        ARRAY_CHILD_FAILED,
    ]


def test_a_ten_thousand_child_sequential_array_fails_down_its_length() -> None:
    store = settle(sub(size=10_000, deps=[Dependency(None, "SEQUENTIAL")], job_id="A"))
    finish(store, "A:0", 1)
    assert sum(j.status == FAILED for j in store.values()) == 10_001


def test_n_to_n_child_i_waits_for_child_i_of_the_other_array() -> None:
    joba = sub(size=3, job_id="JobB")
    jobc = sub(size=3, deps=on("JobB", type="N_TO_N"), known=joba, job_id="JobC")
    store = settle([*joba, *jobc])
    finish(store, "JobB:1", 0)
    finish(store, "JobB:2", 1)
    assert {k: s for k, s in statuses(store).items() if k.startswith("JobC")} == {
        "JobC": PENDING,
        "JobC:0": PENDING,
        "JobC:1": RUNNABLE,
        "JobC:2": FAILED,
    }
    assert store["JobC:2"].status_reason == DEPENDENCY_FAILED


def test_a_job_on_a_whole_array_waits_for_every_child_to_succeed() -> None:
    array = sub(size=2, job_id="B")
    (after,) = sub(deps=on("B"), known=array, job_id="D")
    store = settle([*array, after])
    finish(store, "B:0", 0)
    assert (store["B"].status, store["D"].status) == (PENDING, PENDING)
    finish(store, "B:1", 0)
    assert (store["B"].status, store["D"].status) == (SUCCEEDED, RUNNABLE)


def test_an_array_whose_own_dependency_failed_fails_every_child() -> None:
    (a,) = sub(job_id="JobA")
    array = sub(size=3, deps=on("JobA"), known=[a], job_id="JobB")
    store = settle([replace_status(a, FAILED), *array])
    assert set(statuses(store).values()) == {FAILED}
    assert store["JobB"].status_reason == DEPENDENCY_FAILED


@pytest.mark.parametrize(
    ("children", "parent", "reason"),
    [
        ([PENDING, PENDING, PENDING], PENDING, None),
        ([RUNNABLE, PENDING, PENDING], PENDING, None),
        ([RUNNING, STARTING, SUCCEEDED], PENDING, None),
        ([RUNNING, FAILED, SUCCEEDED], PENDING, None),  # FAILED only once all have finished
        ([SUCCEEDED, SUCCEEDED, SUCCEEDED], SUCCEEDED, None),
        ([SUCCEEDED, FAILED, SUCCEEDED], FAILED, ARRAY_CHILD_FAILED),
    ],
)
def test_an_array_parent_summarises_its_children(
    children: list[JobStatus], parent: str, reason: str | None
) -> None:
    p, *kids = sub(size=3, job_id="P")
    waits = on("X")  # an unfinished job keeps a PENDING child PENDING
    kids = [replace(k, status=s, depends_on=waits) for k, s in zip(kids, children, strict=True)]
    store = settle([p, *kids, job("X", RUNNING)], T0 + 7)
    assert (store["P"].status, store["P"].status_reason) == (parent, reason)
    assert store["P"].stopped_at == (T0 + 7 if parent in (SUCCEEDED, FAILED) else None)
    summary = store["P"].status_summary
    assert summary is not None
    assert {s: n for s, n in summary.items() if n} == {s: children.count(s) for s in set(children)}
    assert sum(summary.values()) == 3


def test_a_parent_is_never_runnable_so_the_scheduler_never_places_it() -> None:
    store = settle(sub(size=2, job_id="P"))
    assert [k for k, j in store.items() if j.status == RUNNABLE] == ["P:0", "P:1"]
    with pytest.raises(JobStateError):
        place(store["P"], "h1")


def test_a_parent_starts_when_its_first_child_runs() -> None:
    p, c0, c1 = sub(size=2, job_id="P")
    assert settle([p, c0, c1])["P"].started_at is None
    kids = [running(replace_status(c, RUNNABLE), t) for c, t in ((c0, T0 + 8), (c1, T0 + 3))]
    assert settle([p, *kids])["P"].started_at == T0 + 3
