"""AWS Batch jobs without Docker: submit, dependencies, arrays, retries, cancel and terminate.

The tables read like the AWS Batch user guide's examples: the ffmpeg job definition of
"Parameter substitution", the evaluateOnExit rules of "Automated job retries", the JobA/JobB/
JobC workflow of "Array jobs" (a standard dependency, then N_TO_N), SEQUENTIAL children, and
CancelJob/TerminateJob's rules. Times are fixed (T0), ids are given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from controller.batch.models.batch import JobDefinitionSpec, JobQueueSpec, RetryStrategy
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
    TIMEOUT_REASON,
    Dependency,
    Job,
    JobStateError,
    JobStatus,
    Stop,
    advance,
    after_attempt,
    attempt_environment,
    cancel,
    command_for,
    mark_running,
    place,
    retry_decision,
    terminate,
    timed_out,
)
from controller.batch.planners.submit import SubmitError, SubmitRequest, submit
from tests.support.builders import T0

QUEUE = JobQueueSpec.model_validate(
    {"priority": 10, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}]}
)
FFMPEG = JobDefinitionSpec.model_validate(
    {
        "parameters": {"codec": "mp4"},
        "containerProperties": {
            "image": "my_repo/ffmpeg",
            "command": [
                "ffmpeg",
                "-i",
                "Ref::inputfile",
                "-c",
                "Ref::codec",
                "-o",
                "Ref::outputfile",
            ],
            "environment": [{"name": "LOG_LEVEL", "value": "info"}],
        },
    }
)
ESSENTIAL = "Essential container in task exited"


def definition(**spec: Any) -> tuple[str, JobDefinitionSpec]:
    spec.setdefault("containerProperties", {"image": "busybox", "command": ["true"]})
    return "work:1", JobDefinitionSpec.model_validate(spec)


def ids(*values: str) -> Callable[[], str]:
    it = iter(values)
    return lambda: next(it)


def never() -> str:
    raise AssertionError("a refused submit made a job id")


def sub(
    *,
    size: int | None = None,
    deps: Sequence[Dependency] = (),
    known: Iterable[Job] = (),
    job_id: str = "A",
    now: float = T0,
    **spec: Any,
) -> list[Job]:
    request = SubmitRequest("work", array_size=size, depends_on=tuple(deps))
    return submit(
        request, QUEUE, "q", definition(**spec), {j.job_id: j for j in known}, now, ids(job_id)
    )


def job(job_id: str = "A", status: JobStatus = SUBMITTED, **fields: Any) -> Job:
    return Job(job_id, job_id, "q", "work:1", status, T0, **fields)


def on(*job_ids: str | None, type: Any = None) -> tuple[Dependency, ...]:
    return tuple(Dependency(j, type) for j in job_ids)


def settle(jobs: Iterable[Job], now: float = T0) -> dict[str, Job]:
    store = {j.job_id: j for j in jobs}
    for j in advance(store, now):
        store[j.job_id] = j
    return store


def statuses(store: dict[str, Job]) -> dict[str, str]:
    return {k: j.status for k, j in store.items()}


def finish(store: dict[str, Job], job_id: str, exit_code: int, now: float = T0 + 10) -> None:
    """Run one attempt of a RUNNABLE job to its end, then let the others follow."""
    attempt = mark_running(place(store[job_id], "h1", [f"c-{job_id}"]), now - 5)
    store[job_id] = after_attempt(attempt, exit_code, None, ESSENTIAL, now)
    for j in advance(store, now):
        store[j.job_id] = j


def running(j: Job, started: float = T0, host: str = "h1") -> Job:
    return mark_running(place(j, host, [f"{j.job_id}-c"]), started)


# -- submit ------------------------------------------------------------------------------------


def test_a_job_takes_the_definitions_defaults_and_the_submits_parameters_win() -> None:
    request = SubmitRequest(
        "ffmpeg_parameters",
        job_name="encode",
        parameters={"inputfile": "in.mov", "outputfile": "out.mkv", "codec": "h264"},
        share_identifier="blue",
    )
    (j,) = submit(request, QUEUE, "q", ("ffmpeg_parameters:2", FFMPEG), {}, T0, ids("J"))
    assert (j.job_id, j.job_name, j.job_queue, j.job_definition) == (
        "J",
        "encode",
        "q",
        "ffmpeg_parameters:2",
    )
    assert (j.status, j.created_at, j.share_identifier) == (SUBMITTED, T0, "blue")
    assert j.parameters == {"inputfile": "in.mov", "outputfile": "out.mkv", "codec": "h264"}
    assert FFMPEG.container_properties is not None
    command = command_for(FFMPEG.container_properties, j.parameters)
    assert command == ["ffmpeg", "-i", "in.mov", "-c", "h264", "-o", "out.mkv"]


def test_a_job_keeps_the_revisions_timeout_and_retry_strategy_and_its_name() -> None:
    (j,) = sub(retryStrategy={"attempts": 3}, timeout={"attemptDurationSeconds": 90})
    assert (j.job_name, j.timeout_seconds, j.retry_strategy.attempts) == ("work", 90, 3)
    assert (j.array_size, j.num_nodes, j.depends_on) == (None, None, ())


def test_an_array_of_three_is_a_parent_and_children_parent_colon_index() -> None:
    parent, *children = sub(size=3, job_id="P")
    assert (parent.job_id, parent.status, parent.array_size, parent.array_index) == (
        "P",
        SUBMITTED,
        3,
        None,
    )
    assert [(c.job_id, c.status, c.array_index, c.parent_id) for c in children] == [
        ("P:0", PENDING, 0, "P"),
        ("P:1", PENDING, 1, "P"),
        ("P:2", PENDING, 2, "P"),
    ]
    assert parent.status_summary == {
        "SUBMITTED": 0,
        "PENDING": 3,
        "RUNNABLE": 0,
        "STARTING": 0,
        "RUNNING": 0,
        "SUCCEEDED": 0,
        "FAILED": 0,
    }


def test_a_sequential_array_makes_each_child_wait_for_the_one_before() -> None:
    _, *children = sub(size=4, deps=[Dependency(None, "SEQUENTIAL")], job_id="A")
    assert [c.depends_on for c in children] == [
        (),
        on("A:0", type="SEQUENTIAL"),
        on("A:1", type="SEQUENTIAL"),
        on("A:2", type="SEQUENTIAL"),
    ]


def test_array_workflow_jobb_on_joba_then_jobc_n_to_n_on_jobb() -> None:
    """The guide's workflow: JobB (an array) depends on JobA; JobC depends on JobB N_TO_N."""
    (joba,) = sub(job_id="JobA")
    jobb = sub(size=3, deps=on("JobA"), known=[joba], job_id="JobB")
    jobc = sub(size=3, deps=on("JobB", type="N_TO_N"), known=[joba, *jobb], job_id="JobC")
    assert [c.depends_on for c in jobb[1:]] == [on("JobA")] * 3
    assert [c.depends_on for c in jobc[1:]] == [
        on("JobB:0", type="N_TO_N"),
        on("JobB:1", type="N_TO_N"),
        on("JobB:2", type="N_TO_N"),
    ]
    assert jobc[0].depends_on == on("JobB", type="N_TO_N")  # the parent shows what was asked


def test_the_array_size_and_dependency_limits_themselves_are_accepted() -> None:
    known = [job(f"d{i}", SUCCEEDED) for i in range(20)]
    assert len(sub(size=2)) == 3
    assert len(sub(size=10_000)) == 10_001
    assert len(sub(deps=on(*(j.job_id for j in known)), known=known)) == 1


ARRAY_B = [*sub(size=3, job_id="B")]
PLAIN_C = job("C", SUCCEEDED)
REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("no such queue", {"queue": None}, r"^jobQueue: there is no job queue named 'q'$"),
    (
        "a DISABLED queue",
        {"queue": QUEUE.model_copy(update={"state": "DISABLED"})},
        r"^jobQueue: job queue 'q' is DISABLED and takes no new jobs$",
    ),
    ("no such definition", {"definition": None}, r"^jobDefinition: there is no job definition"),
    (
        "a parameter nobody gives",
        {"definition": ("ffmpeg:1", FFMPEG), "parameters": {"inputfile": "a"}},
        r"^parameters: the command of ffmpeg:1 uses Ref::outputfile, which neither",
    ),
    ("an array of 1", {"size": 1}, r"^arrayProperties\.size: 1 is outside 2-10,000$"),
    ("an array of 10,001", {"size": 10_001}, r"^arrayProperties\.size: 10001 is outside 2-10,000"),
    (
        "21 dependencies",
        {"deps": on(*(f"d{i}" for i in range(21)))},
        r"^dependsOn: 21 jobs; a job can depend on at most 20$",
    ),
    ("an unknown job", {"deps": on("ghost")}, r"^dependsOn\[0\]\.jobId: there is no job 'ghost'$"),
    (
        "N_TO_N from a job that is no array",
        {"deps": on("B", type="N_TO_N")},
        r"^dependsOn\[0\]: N_TO_N pairs .* this job's arrayProperties\.size is absent and job "
        r"'B''s is 3$",
    ),
    (
        "N_TO_N on a job that is no array",
        {"size": 3, "deps": on("C", type="N_TO_N")},
        r"size is 3 and job 'C''s is absent$",
    ),
    (
        "N_TO_N on one child of an array",
        {"size": 3, "deps": on("B:1", type="N_TO_N")},
        r"size is 3 and job 'B:1''s is absent$",
    ),
    (
        "N_TO_N between arrays of 4 and 3",
        {"size": 4, "deps": on("B", type="N_TO_N")},
        r"size is 4 and job 'B''s is 3$",
    ),
    ("N_TO_N with no job", {"size": 3, "deps": on(None, type="N_TO_N")}, r"^dependsOn\[0\]\.jobId"),
    (
        "SEQUENTIAL on a job that is no array",
        {"deps": on(None, type="SEQUENTIAL")},
        r"^dependsOn\[0\]: SEQUENTIAL orders an array's own children",
    ),
    (
        "SEQUENTIAL naming another job",
        {"size": 3, "deps": on("B", type="SEQUENTIAL")},
        r"^dependsOn\[0\]: SEQUENTIAL takes no jobId",
    ),
    ("an unknown type", {"deps": on("C", type="ALL")}, r"^dependsOn\[0\]\.type: 'ALL' is not"),
]


@pytest.mark.parametrize(("case", "change", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_submit_names_the_field_and_makes_nothing(
    case: str, change: dict[str, Any], message: str
) -> None:
    request = SubmitRequest(
        "work",
        parameters=change.get("parameters", {}),
        array_size=change.get("size"),
        depends_on=tuple(change.get("deps", ())),
    )
    known = {
        j.job_id: j for j in [*ARRAY_B, PLAIN_C, *(job(f"d{i}", SUCCEEDED) for i in range(21))]
    }
    with pytest.raises(SubmitError, match=message) as refused:
        submit(
            request,
            change.get("queue", QUEUE),
            "q",
            change.get("definition", definition()),
            known,
            T0,
            never,
        )
    assert len(refused.value.problems) == 1, refused.value.problems


def test_a_refusal_lists_every_problem_at_once() -> None:
    request = SubmitRequest("nope", array_size=1, depends_on=on("ghost"))
    with pytest.raises(SubmitError) as refused:
        submit(request, None, "q", None, {}, T0, never)
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "jobQueue",
        "jobDefinition",
        "arrayProperties.size",
        "dependsOn[0].jobId",
    ]


def test_every_ref_of_every_node_of_a_multinode_definition_must_be_given() -> None:
    spec = JobDefinitionSpec.model_validate(
        {
            "type": "multinode",
            "nodeProperties": {
                "numNodes": 2,
                "nodeRangeProperties": [
                    {"targetNodes": "0", "container": {"image": "i", "command": ["Ref::a"]}},
                    {"targetNodes": "1", "container": {"image": "i", "command": ["Ref::b"]}},
                ],
            },
        }
    )
    request = SubmitRequest("mnp", parameters={"a": "1"})
    with pytest.raises(SubmitError, match=r"uses Ref::b,"):
        submit(request, QUEUE, "q", ("mnp:1", spec), {}, T0, never)
    (j,) = submit(
        SubmitRequest("mnp", parameters={"a": "1", "b": "2"}),
        QUEUE,
        "q",
        ("mnp:1", spec),
        {},
        T0,
        ids("M"),
    )
    assert (j.num_nodes, j.main_node) == (2, 0)


# -- parameter substitution --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "parameters", "expected"),
    [
        (["ffmpeg", "-i", "Ref::inputfile"], {"inputfile": "a.mov"}, ["ffmpeg", "-i", "a.mov"]),
        (["echo", "--in=Ref::inputfile"], {"inputfile": "a"}, ["echo", "--in=Ref::inputfile"]),
        (["echo", "Ref::codec_x"], {"codec": "mp4"}, ["echo", "Ref::codec_x"]),
        (["echo", "Ref::codec"], {"codec": "Ref::codec2", "codec2": "no"}, ["echo", "Ref::codec2"]),
        (["echo", "Ref::unset"], {}, ["echo", "Ref::unset"]),
        (["echo", "ref::codec"], {"codec": "mp4"}, ["echo", "ref::codec"]),
    ],
    ids=["whole", "embedded", "longer-name", "once", "unset", "case"],
)
def test_only_an_argument_that_is_exactly_ref_name_is_substituted(
    command: list[str], parameters: dict[str, str], expected: list[str]
) -> None:
    container = definition(containerProperties={"image": "i", "command": command})[1]
    assert container.container_properties is not None
    assert command_for(container.container_properties, parameters) == expected


def test_an_embedded_ref_is_no_parameter_the_submit_must_give() -> None:
    (j,) = sub(containerProperties={"image": "i", "command": ["echo", "--in=Ref::x"]})
    assert j.parameters == {}


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


def replace_status(j: Job, status: JobStatus) -> Job:
    return replace(j, status=status)


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
