"""AWS Batch jobs: the record a submitted job is kept as, and the rules that move it.

Jobs are submitted, not declared (queues, environments and definitions are manifests: see
controller.batch.models.batch; SubmitJob is batch_submit). This module decides what AWS Batch
decides about a job without a container: the transitions that need no Docker (dependencies,
array parents), how an attempt ends (success, retry per evaluateOnExit, failure), cancel and
terminate, the command and environment of an attempt, and timeouts.

Pure: no I/O, no clock (`now` is passed in). It must not
store, start or stop anything: it returns new records, and says which containers to stop;
the store, the scheduler and the executor act on that.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from controller.batch.models.batch import (
    PARAMETER,
    ContainerProperties,
    JobDefinitionSpec,
    RetryStrategy,
)

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
            "startedAt": _ms(self.started_at),
            "stoppedAt": _ms(self.stopped_at),
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
        """Everything about the job, as JSON, for the store (from_record reads it back)."""
        data = dataclasses.asdict(self)
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
            "createdAt": _ms(self.created_at),
            "startedAt": _ms(self.started_at),
            "stoppedAt": _ms(self.stopped_at),
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


# -- transitions without Docker ----------------------------------------------------------------


def advance(jobs: Mapping[str, Job], now: float) -> list[Job]:
    """The jobs whose status changes without a container, to a fixed point: SUBMITTED to
    PENDING (a dependency unfinished) or RUNNABLE; PENDING to RUNNABLE once every dependency
    SUCCEEDED; FAILED "Dependent Job failed" as soon as one FAILED (so down a whole chain);
    array parents summarised from their children. Returned in the order of `jobs`.

    `jobs` must hold every unfinished job and what they depend on: a dependency it does not
    hold is taken as unfinished (the job waits; it is never failed on missing data)."""
    current = dict(jobs)
    dependents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for job in current.values():
        if job.parent_id is not None:
            children.setdefault(job.parent_id, []).append(job.job_id)
        if not job.is_array_parent:  # a parent waits through its children
            for dep in job.depends_on:
                if dep.job_id is not None:
                    dependents.setdefault(dep.job_id, []).append(job.job_id)
    work = deque(j.job_id for j in current.values() if not j.final and not j.is_array_parent)
    queued = set(work)
    parents = {j.job_id: None for j in current.values() if not j.final and j.is_array_parent}
    changed: set[str] = set()

    def wake(job_id: str) -> None:
        for other in dependents.get(job_id, ()):
            if other not in queued and not current[other].final:
                work.append(other)
                queued.add(other)

    while work or parents:
        while work:
            job = current[work.popleft()]
            queued.discard(job.job_id)
            new = _step(job, current, now)
            if new != job:
                current[job.job_id] = new
                changed.add(job.job_id)
                wake(job.job_id)
                pid = job.parent_id
                if pid is not None and pid in current and not current[pid].final:
                    parents[pid] = None
        pending, parents = list(parents), {}
        for pid in pending:  # once per round: a parent's summary reads all its children
            parent = current[pid]
            new = _summarise(parent, [current[c] for c in children.get(pid, ())], current, now)
            if new != parent:
                current[pid] = new
                changed.add(pid)
                wake(pid)
    return [current[j] for j in jobs if j in changed]


def _step(job: Job, current: Mapping[str, Job], now: float) -> Job:
    if job.status not in (SUBMITTED, PENDING):
        return job
    deps = [current.get(d.job_id) for d in job.depends_on if d.job_id is not None]
    if any(d is not None and d.status == FAILED for d in deps):
        return _fail(job, DEPENDENCY_FAILED, now)
    if all(d is not None and d.status == SUCCEEDED for d in deps):
        return replace(job, status=RUNNABLE)
    return replace(job, status=PENDING)


def _summarise(parent: Job, kids: Sequence[Job], current: Mapping[str, Job], now: float) -> Job:
    """AWS: a parent is SUBMITTED, PENDING, then SUCCEEDED when every child succeeded or
    FAILED when any child failed (after its retries), once all of them have finished."""
    summary = status_counts(kids)
    starts = [k.started_at for k in kids if k.started_at is not None]
    new = replace(parent, status_summary=summary, started_at=min(starts, default=None))
    if len(kids) != parent.array_size or not all(k.final for k in kids):
        return replace(new, status=PENDING)
    if summary[SUCCEEDED] == len(kids):
        return replace(new, status=SUCCEEDED, stopped_at=now)
    own = [current.get(d.job_id) for d in parent.depends_on if d.job_id and d.type is None]
    reason = parent.stop_reason or (
        DEPENDENCY_FAILED if any(d and d.status == FAILED for d in own) else ARRAY_CHILD_FAILED
    )
    return _fail(new, reason, now)


def status_counts(kids: Iterable[Job]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for kid in kids:
        counts[kid.status] += 1
    return counts


def _fail(job: Job, reason: str, now: float) -> Job:
    return replace(job, status=FAILED, status_reason=reason, stopped_at=now)


# -- attempts ----------------------------------------------------------------------------------


def place(
    job: Job, host: str, container_ids: Sequence[str] = (), *, now: float | None = None
) -> Job:
    """The scheduler gave a RUNNABLE job a host: STARTING."""
    if job.status != RUNNABLE or job.is_array_parent:
        raise JobStateError(f"job {job.job_id} is {job.status}: only a RUNNABLE job is placed")
    return replace(
        job,
        status=STARTING,
        status_reason=None,  # what it waited for is over
        host=host,
        container_ids=tuple(container_ids),
        placed_at=now,
    )


def mark_running(job: Job, now: float, container_ids: Sequence[str] | None = None) -> Job:
    """Its containers run: RUNNING from `now`, which the timeout counts from. Seeing a RUNNING
    job again (say, adopted after a restart) changes nothing."""
    if job.status == RUNNING:
        return job
    if job.status != STARTING:
        raise JobStateError(f"job {job.job_id} is {job.status}: only a STARTING job runs")
    ids = job.container_ids if container_ids is None else tuple(container_ids)
    return replace(job, status=RUNNING, started_at=now, container_ids=ids)


def retry_decision(
    strategy: RetryStrategy,
    attempts_made: int,
    exit_code: int | None,
    reason: str | None,
    status_reason: str | None,
) -> Literal["RETRY", "EXIT"]:
    """After a failed attempt: EXIT once `attempts` are used up; else the action of the first
    evaluateOnExit rule that matches; no rule matching means RETRY."""
    if attempts_made >= strategy.attempts:
        return "EXIT"
    for rule in strategy.evaluate_on_exit:
        if rule.matches(exit_code, reason or "", status_reason or ""):
            return rule.action
    return "RETRY"


def after_attempt(
    job: Job,
    exit_code: int | None,
    reason: str | None,
    status_reason: str | None,
    now: float,
) -> Job:
    """The attempt under way ended: FAILED without retry when it was terminated or timed out
    (AWS retries neither); SUCCEEDED on exit 0; else back to RUNNABLE or FAILED with the
    attempt's reason, per retry_decision(). A report on a job with no attempt under way (a
    late or repeated one) changes nothing."""
    if job.is_array_parent:
        raise JobStateError(f"array job {job.job_id} runs no attempt: its children do")
    if job.status not in (STARTING, RUNNING):
        return job
    attempt = Attempt(
        started_at=job.started_at if job.status == RUNNING else None,
        stopped_at=now,
        exit_code=exit_code,
        reason=reason,
        status_reason=status_reason,
        host=job.host,
        container_ids=job.container_ids,
    )
    ended = replace(
        job,
        attempts=(*job.attempts, attempt),
        host=None,
        container_ids=(),
        stop_reason=None,
        stop_requested_at=None,
        placed_at=None,
    )
    stopped = job.stop_reason or (TIMEOUT_REASON if status_reason == TIMEOUT_REASON else None)
    if stopped is not None:  # a terminated or timed-out job fails, whatever its exit code
        return _fail(ended, stopped, now)
    if exit_code == 0:
        return replace(ended, status=SUCCEEDED, status_reason=status_reason, stopped_at=now)
    last = status_reason or reason
    action = retry_decision(
        job.retry_strategy, len(ended.attempts), exit_code, reason, status_reason
    )
    if action == "RETRY":
        return replace(ended, status=RUNNABLE, status_reason=last)
    return replace(ended, status=FAILED, status_reason=last, stopped_at=now)


def timed_out(job: Job, now: float) -> bool:
    """The RUNNING attempt has run attemptDurationSeconds: the caller terminates it with
    terminate(job, TIMEOUT_REASON, now). An array parent has no timeout (its children do); a
    job already being stopped is not timed out twice."""
    return (
        job.status == RUNNING
        and not job.is_array_parent
        and job.stop_reason is None
        and job.timeout_seconds is not None
        and job.started_at is not None
        and now >= job.started_at + job.timeout_seconds
    )


# -- cancel and terminate ----------------------------------------------------------------------


def cancel(job: Job, reason: str, now: float, children: Sequence[Job] = ()) -> list[Job]:
    """CancelJob: a job not yet STARTING fails with `reason`; a STARTING or RUNNING one is left
    to run (nothing changes, as in AWS). For an array parent, pass all its children: those not
    yet STARTING are cancelled, the others run on, and the parent ends with `reason` once they
    have all finished."""
    if job.is_array_parent:
        if job.final:
            raise JobStateError(f"cannot cancel a job in {job.status}: it has finished")
        _all_children(job, children)
        cancelled = [_fail(c, reason, now) for c in children if c.status in CANCELLABLE]
        return [replace(job, stop_reason=job.stop_reason or reason), *cancelled]
    if job.status in (STARTING, RUNNING):
        return []  # AWS: the call succeeds and the job runs on (TerminateJob stops it)
    if job.final:
        raise JobStateError(f"cannot cancel a job in {job.status}: it has finished")
    return [_fail(job, reason, now)]


def terminate(job: Job, reason: str, now: float, children: Sequence[Job] = ()) -> Termination:
    """TerminateJob: a job not yet STARTING fails at once with `reason`; a STARTING or RUNNING
    one keeps its status until the caller has stopped its containers (in `stops`) and reported
    the end through after_attempt(), which fails it with `reason` and no retry. For an array
    parent, pass all its children: each unfinished one is terminated."""
    if job.final:
        raise JobStateError(f"cannot terminate a job in {job.status}: it has finished")
    if not job.is_array_parent:
        return _terminate_one(job, reason, now)
    _all_children(job, children)
    done = [_terminate_one(c, reason, now) for c in children if not c.final]
    return Termination(
        (replace(job, stop_reason=job.stop_reason or reason), *(j for t in done for j in t.jobs)),
        tuple(s for t in done for s in t.stops),
    )


def _terminate_one(job: Job, reason: str, now: float) -> Termination:
    if job.status in CANCELLABLE:
        return Termination((_fail(job, reason, now),), ())
    stopping = replace(
        job,
        stop_reason=job.stop_reason or reason,
        stop_requested_at=job.stop_requested_at if job.stop_reason else now,
    )
    stop = Stop(job.job_id, job.host, job.container_ids, stopping.stop_reason or reason)
    return Termination((stopping,), (stop,))


def _all_children(parent: Job, children: Sequence[Job]) -> None:
    ids = {c.job_id for c in children if c.parent_id == parent.job_id}
    if len(ids) != parent.array_size or len(children) != len(ids):
        raise ValueError(
            f"array job {parent.job_id} has {parent.array_size} children: pass all of them "
            f"(got {len(children)}, {len(ids)} of them its own)"
        )


# -- what an attempt runs ----------------------------------------------------------------------


def references(spec: JobDefinitionSpec) -> set[str]:
    """The parameters the definition's commands substitute: arguments that are `Ref::name`."""
    return {
        m.group(1)
        for c in spec.containers()
        for arg in c.command
        if (m := PARAMETER.fullmatch(arg))
    }


def command_for(container: ContainerProperties, parameters: Mapping[str, str]) -> list[str]:
    """The command with parameters substituted as AWS does: an argument that is exactly
    `Ref::name` becomes the value of name; any other argument, or one naming no parameter,
    is left as written."""
    out = []
    for arg in container.command:
        match = PARAMETER.fullmatch(arg)
        out.append(parameters.get(match.group(1), arg) if match else arg)
    return out


def attempt_environment(
    job: Job,
    spec: JobDefinitionSpec,
    node_index: int | None = None,
    num_nodes: int | None = None,
    main_ip: str | None = None,
    compute_environment: str | None = None,
) -> dict[str, str]:
    """The container's environment plus the AWS_BATCH_ variables AWS sets (which win over the
    definition's). A multi-node job needs node_index, and every node but the main one needs
    main_ip: the main node's address, which AWS gives only to the others."""
    nodes = spec.node_properties
    if nodes is None:
        if node_index is not None:
            raise ValueError(f"job {job.job_id} is not a multi-node job: it has no node_index")
        assert spec.container_properties is not None
        container = spec.container_properties
    elif node_index is None:
        raise ValueError(f"multi-node job {job.job_id} needs the node_index of the container")
    else:
        container = nodes.container_for(node_index)
    env = {kv.name: kv.value for kv in container.environment}
    env["AWS_BATCH_JOB_ID"] = job.job_id
    env["AWS_BATCH_JOB_ATTEMPT"] = str(job.attempt_number)
    env["AWS_BATCH_JQ_NAME"] = job.job_queue
    if compute_environment is not None:
        env["AWS_BATCH_CE_NAME"] = compute_environment
    if job.array_index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
        if job.array_size is not None:
            env["AWS_BATCH_JOB_ARRAY_SIZE"] = str(job.array_size)
    if nodes is not None and node_index is not None:
        env["AWS_BATCH_JOB_NODE_INDEX"] = str(node_index)
        env["AWS_BATCH_JOB_NUM_NODES"] = str(num_nodes or nodes.num_nodes)
        env["AWS_BATCH_JOB_MAIN_NODE_INDEX"] = str(nodes.main_node)
        if node_index != nodes.main_node:
            if not main_ip:
                raise ValueError(f"node {node_index} of job {job.job_id} needs main_ip")
            env["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"] = main_ip
    return env


def _ms(t: float | None) -> int | None:
    return None if t is None else round(t * 1000)
