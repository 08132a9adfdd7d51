"""An AWS Batch job's attempts: given a host (STARTING), RUNNING, how an attempt ends (success,
retry per evaluateOnExit, failure), timeouts, and what an attempt runs (its command with the
job's parameters, and the AWS_BATCH_* environment).

Pure: no I/O, no clock (`now` is passed in). It must not store, start or stop anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

from controller.batch.models.batch import (
    PARAMETER,
    ContainerProperties,
    JobDefinitionSpec,
    RetryStrategy,
)
from controller.batch.planners.job_record import (
    FAILED,
    RUNNABLE,
    RUNNING,
    STARTING,
    SUCCEEDED,
    TIMEOUT_REASON,
    Attempt,
    Job,
    JobStateError,
    fail,
)


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
        return fail(ended, stopped, now)
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
