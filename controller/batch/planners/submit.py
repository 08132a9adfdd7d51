"""AWS Batch's SubmitJob, without Docker: whether a submit is accepted (every problem named
with its field and limit) and which jobs it makes: the job, and for an array its children
`PARENT:INDEX` with their SEQUENTIAL and N_TO_N dependencies.

Pure: `now` and `new_id` are passed in; nothing is made when a submit is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.batch.models.batch import JobDefinitionSpec, JobQueueSpec
from controller.batch.planners.jobs import (
    MAX_ARRAY_SIZE,
    MAX_DEPENDENCIES,
    MIN_ARRAY_SIZE,
    N_TO_N,
    PENDING,
    SEQUENTIAL,
    SUBMITTED,
    Dependency,
    Job,
    references,
    status_counts,
)


@dataclass(frozen=True)
class SubmitRequest:
    """What SubmitJob was asked. job_definition is as the user named it; the caller resolves
    it (name: the latest revision) and passes the result to submit()."""

    job_definition: str
    job_name: str | None = None  # None: the definition's name
    parameters: Mapping[str, str] = field(default_factory=dict)
    array_size: int | None = None
    depends_on: tuple[Dependency, ...] = ()
    share_identifier: str | None = None


class SubmitError(ValueError):
    """SubmitJob refused: every problem found, each naming its field and the limit."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def submit(
    request: SubmitRequest,
    queue: JobQueueSpec | None,
    queue_name: str,
    definition: tuple[str, JobDefinitionSpec] | None,
    known_jobs: Mapping[str, Job],
    now: float,
    new_id: Callable[[], str],
) -> list[Job]:
    """The jobs SubmitJob makes: the job, and for an array its children in index order, or
    SubmitError naming every problem. Nothing is made (new_id is not called) when refused."""
    problems = _refusals(request, queue, queue_name, definition, known_jobs)
    if problems:
        raise SubmitError(problems)
    assert definition is not None
    key, spec = definition
    nodes = spec.node_properties
    job = Job(
        job_id=new_id(),
        job_name=request.job_name or key.partition(":")[0],
        job_queue=queue_name,
        job_definition=key,
        status=SUBMITTED,
        created_at=now,
        parameters={**spec.parameters, **request.parameters},
        share_identifier=request.share_identifier,
        array_size=request.array_size,
        depends_on=tuple(request.depends_on),
        timeout_seconds=spec.timeout.attempt_duration_seconds if spec.timeout else None,
        retry_strategy=spec.retry_strategy,
        num_nodes=nodes.num_nodes if nodes else None,
        main_node=nodes.main_node if nodes else None,
    )
    if request.array_size is None:
        return [job]
    children = [
        replace(
            job,
            job_id=f"{job.job_id}:{i}",
            status=PENDING,  # AWS: a child is born PENDING
            array_index=i,
            parent_id=job.job_id,
            depends_on=_child_dependencies(job, i),
        )
        for i in range(request.array_size)
    ]
    return [replace(job, status_summary=status_counts(children)), *children]


def _refusals(
    request: SubmitRequest,
    queue: JobQueueSpec | None,
    queue_name: str,
    definition: tuple[str, JobDefinitionSpec] | None,
    known: Mapping[str, Job],
) -> list[str]:
    problems: list[str] = []
    if queue is None:
        problems.append(f"jobQueue: there is no job queue named {queue_name!r}")
    elif queue.state == "DISABLED":
        problems.append(f"jobQueue: job queue {queue_name!r} is DISABLED and takes no new jobs")
    if definition is None:
        problems.append(f"jobDefinition: there is no job definition {request.job_definition!r}")
    else:
        key, spec = definition
        given = {**spec.parameters, **request.parameters}
        missing = sorted(references(spec) - given.keys())
        if missing:
            refs = ", ".join(f"Ref::{m}" for m in missing)
            problems.append(
                f"parameters: the command of {key} uses {refs}, which neither the submit "
                "nor the job definition's parameters give"
            )
    size = request.array_size
    if size is not None and not MIN_ARRAY_SIZE <= size <= MAX_ARRAY_SIZE:
        problems.append(
            f"arrayProperties.size: {size} is outside {MIN_ARRAY_SIZE}-{MAX_ARRAY_SIZE:,}"
        )
    named = [d for d in request.depends_on if d.job_id is not None]
    if len(named) > MAX_DEPENDENCIES:
        problems.append(
            f"dependsOn: {len(named)} jobs; a job can depend on at most {MAX_DEPENDENCIES}"
        )
    for i, dep in enumerate(request.depends_on):
        problems.extend(_dependency_refusals(f"dependsOn[{i}]", dep, size, known))
    return problems


def _dependency_refusals(
    where: str, dep: Dependency, size: int | None, known: Mapping[str, Job]
) -> list[str]:
    if dep.type not in (None, N_TO_N, SEQUENTIAL):
        return [f"{where}.type: {dep.type!r} is not N_TO_N or SEQUENTIAL"]
    if dep.type == SEQUENTIAL:
        problems = []
        if dep.job_id is not None:
            problems.append(
                f"{where}: SEQUENTIAL takes no jobId: it makes each child of this array wait "
                "for the child before it"
            )
        if size is None:
            problems.append(
                f"{where}: SEQUENTIAL orders an array's own children, and this job has no "
                "arrayProperties.size"
            )
        return problems
    if dep.job_id is None:
        return [f"{where}.jobId: missing (only a SEQUENTIAL dependency has none)"]
    other = known.get(dep.job_id)
    if other is None:
        return [f"{where}.jobId: there is no job {dep.job_id!r}"]
    if dep.type == N_TO_N:
        theirs = other.array_size if other.is_array_parent else None
        if size is None or theirs is None or size != theirs:
            return [
                f"{where}: N_TO_N pairs the children of two arrays of the same size, but "
                f"this job's arrayProperties.size is {size or 'absent'} and job "
                f"{dep.job_id!r}'s is {theirs or 'absent'}"
            ]
    return []


def _child_dependencies(parent: Job, index: int) -> tuple[Dependency, ...]:
    """A child waits for what its parent was told to wait for: the same jobs, child i-1 for
    SEQUENTIAL, child `index` of the other array for N_TO_N."""
    out: list[Dependency] = []
    for dep in parent.depends_on:
        if dep.type == SEQUENTIAL:
            if index > 0:
                out.append(Dependency(f"{parent.job_id}:{index - 1}", SEQUENTIAL))
        elif dep.type == N_TO_N:
            out.append(Dependency(f"{dep.job_id}:{index}", N_TO_N))
        else:
            out.append(dep)
    return tuple(out)
