"""An AWS Batch job as Skiff keeps it: its statuses and the record a submitted job is kept as
(with its dependencies and attempts), and what the rules that move it return (Stop,
Termination). The rules are beside it: job_transitions (no Docker needed: dependencies, array
parents, cancel, terminate) and job_attempts (an attempt's start, end, retry, timeout, command
and environment).

Jobs are submitted, not declared (queues, environments and definitions are manifests: see
controller.batch.models.batch; SubmitJob is batch_submit).

Pure: no I/O, no clock (`now` is passed in). It must not store, start or stop anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from controller.batch.models.batch import RetryStrategy

JobStatus = Literal[
    "SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"
]
DependencyType = Literal["N_TO_N", "SEQUENTIAL"]

SUBMITTED: Final = "SUBMITTED"
PENDING: Final = "PENDING"
RUNNABLE: Final = "RUNNABLE"
STARTING: Final = "STARTING"
RUNNING: Final = "RUNNING"
SUCCEEDED: Final = "SUCCEEDED"
FAILED: Final = "FAILED"
STATUSES: Final[tuple[JobStatus, ...]] = (
    SUBMITTED,
    PENDING,
    RUNNABLE,
    STARTING,
    RUNNING,
    SUCCEEDED,
    FAILED,
)
FINAL: Final = frozenset({SUCCEEDED, FAILED})
CANCELLABLE: Final = frozenset({SUBMITTED, PENDING, RUNNABLE})  # not yet given a host
N_TO_N: Final = "N_TO_N"
SEQUENTIAL: Final = "SEQUENTIAL"

MIN_ARRAY_SIZE, MAX_ARRAY_SIZE = 2, 10_000
MAX_DEPENDENCIES = 20  # jobs one job may depend on
# statusReason wordings AWS Batch uses.
DEPENDENCY_FAILED: Final = "Dependent Job failed"
ARRAY_CHILD_FAILED: Final = "Array Child Job failed"
TIMEOUT_REASON: Final = "Job attempt duration exceeded timeout"


@dataclass(frozen=True)
class Dependency:
    """One entry of dependsOn: a job id with no type or N_TO_N, or SEQUENTIAL with no job id."""

    job_id: str | None = None
    type: DependencyType | None = None

    def to_json(self) -> dict[str, str]:
        out = {"jobId": self.job_id, "type": self.type}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Attempt:
    """An attempt that ended. startedAt is when it began RUNNING (None: it never did)."""

    started_at: float | None
    stopped_at: float
    exit_code: int | None
    reason: str | None  # the container's, matched by onReason
    status_reason: str | None  # the attempt's, matched by onStatusReason
    host: str | None = None
    container_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        container = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "host": self.host,
            "containerIds": list(self.container_ids) or None,
        }
        out = {
            "container": {k: v for k, v in container.items() if v is not None},
            "startedAt": millis(self.started_at),
            "stoppedAt": millis(self.stopped_at),
            "statusReason": self.status_reason,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Job:
    """A submitted job as the store keeps it. An array parent has array_size and no index;
    its children carry the size too, their index and the parent's id. host, container_ids and
    started_at describe the attempt under way; attempts holds the ones that ended."""

    job_id: str
    job_name: str
    job_queue: str
    job_definition: str  # name:revision
    status: JobStatus
    created_at: float
    status_reason: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    share_identifier: str | None = None
    array_size: int | None = None
    array_index: int | None = None
    parent_id: str | None = None
    depends_on: tuple[Dependency, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    started_at: float | None = None  # the latest attempt's start of RUNNING
    stopped_at: float | None = None
    timeout_seconds: int | None = None  # per attempt; per child for arrays
    retry_strategy: RetryStrategy = field(default_factory=RetryStrategy)
    num_nodes: int | None = None  # multi-node parallel jobs
    main_node: int | None = None
    host: str | None = None
    container_ids: tuple[str, ...] = ()
    stop_reason: str | None = None  # terminate (or a timeout) asked for: the attempt won't retry
    stop_requested_at: float | None = None  # when: past the stop timeout, it is killed
    placed_at: float | None = None  # when the attempt under way was given its host
    status_summary: Mapping[str, int] | None = None  # array parents: children per status
    compute_environment: str | None = None  # where the attempt under way runs

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None and self.array_index is None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def attempt_number(self) -> int:
        """AWS_BATCH_JOB_ATTEMPT of the attempt under way or next: from 1."""
        return len(self.attempts) + 1

    def to_record(self) -> dict[str, Any]:
        """Everything about the job, as JSON, for the store (from_record reads it back). Field
        by field: dataclasses.asdict would deep-copy every value, the retry strategy too, only
        for it to be replaced, and a Batch pass saves jobs by the hundred."""
        data = {name: getattr(self, name) for name in _JOB_FIELDS}
        data["parameters"] = dict(self.parameters)
        data["depends_on"] = [dataclasses.asdict(d) for d in self.depends_on]
        data["attempts"] = [dataclasses.asdict(a) for a in self.attempts]
        if self.status_summary is not None:
            data["status_summary"] = dict(self.status_summary)
        data["retry_strategy"] = self.retry_strategy.to_wire()
        return data

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Job:
        d = dict(data)
        d["depends_on"] = tuple(Dependency(**x) for x in d.get("depends_on", ()))
        d["attempts"] = tuple(
            Attempt(**{**x, "container_ids": tuple(x.get("container_ids", ()))})
            for x in d.get("attempts", ())
        )
        d["container_ids"] = tuple(d.get("container_ids", ()))
        d["retry_strategy"] = RetryStrategy.model_validate(d.get("retry_strategy") or {})
        return cls(**d)

    def to_json(self) -> dict[str, Any]:
        """The job as DescribeJobs shows it (timestamps in milliseconds, absent fields left
        out)."""
        array: dict[str, Any] | None = None
        if self.is_array_parent:
            summary = self.status_summary or dict.fromkeys(STATUSES, 0)
            array = {"size": self.array_size, "statusSummary": dict(summary)}
        elif self.array_index is not None:
            array = {"index": self.array_index}
        container = None
        if not self.is_array_parent:
            code = self.attempts[-1].exit_code if self.attempts else None
            container = {} if code is None else {"exitCode": code}
        nodes = None
        if self.num_nodes is not None:
            nodes = {"numNodes": self.num_nodes, "mainNode": self.main_node}
        timeout = None
        if self.timeout_seconds is not None:
            timeout = {"attemptDurationSeconds": self.timeout_seconds}
        out: dict[str, Any] = {
            "jobId": self.job_id,
            "jobName": self.job_name,
            "jobQueue": self.job_queue,
            "jobDefinition": self.job_definition,
            "status": self.status,
            "statusReason": self.status_reason,
            "createdAt": millis(self.created_at),
            "startedAt": millis(self.started_at),
            "stoppedAt": millis(self.stopped_at),
            "attempts": [a.to_json() for a in self.attempts],
            "container": container,
            "nodeProperties": nodes,
            "arrayProperties": array,
            "dependsOn": [d.to_json() for d in self.depends_on],
            "parameters": dict(self.parameters),
            "shareIdentifier": self.share_identifier,
            "timeout": timeout,
            "retryStrategy": self.retry_strategy.model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Stop:
    """Containers the caller must stop; it then reports the end through after_attempt()."""

    job_id: str
    host: str | None
    container_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Termination:
    jobs: tuple[Job, ...]  # the records that changed
    stops: tuple[Stop, ...]  # the attempts under way to stop


class JobStateError(ValueError):
    """An operation the job's status does not allow (cancel a RUNNING job, ...)."""


def fail(job: Job, reason: str, now: float) -> Job:
    """The job FAILED now, for `reason`."""
    return replace(job, status=FAILED, status_reason=reason, stopped_at=now)


def millis(t: float | None) -> int | None:
    """Epoch seconds as AWS Batch's epoch milliseconds."""
    return None if t is None else round(t * 1000)


_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
