"""Helpers the AWS Batch job tests share: a queue, the ffmpeg job definition of "Parameter
substitution", submits, jobs, dependencies, and settling a store of jobs without Docker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from controller.batch.models.batch import JobDefinitionSpec, JobQueueSpec
from controller.batch.planners.jobs import (
    SUBMITTED,
    Dependency,
    Job,
    JobStatus,
    advance,
    after_attempt,
    mark_running,
    place,
)
from controller.batch.planners.submit import SubmitRequest, submit
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


def replace_status(j: Job, status: JobStatus) -> Job:
    return replace(j, status=status)
