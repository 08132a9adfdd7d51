"""Submitting AWS Batch jobs without Docker: the definition's defaults, arrays (the JobA/JobB/JobC
workflow of "Array jobs", SEQUENTIAL), refused submits, and parameter substitution as the ffmpeg
job definition of "Parameter substitution" shows it.

The tables read like the AWS Batch user guide's examples. Times are fixed (T0), ids are given.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.batch.models.batch import JobDefinitionSpec
from controller.batch.planners.jobs import (
    PENDING,
    SUBMITTED,
    SUCCEEDED,
    Dependency,
    command_for,
)
from controller.batch.planners.submit import SubmitError, SubmitRequest, submit
from tests.support.builders import T0
from tests.unit.batch_jobs_support import FFMPEG, QUEUE, definition, ids, job, never, on, sub

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
