"""What `skiff batch` asks of the running daemon: SubmitJob, ListJobs, DescribeJobs, CancelJob,
TerminateJob and a job's logs, as AWS Batch answers them.

Jobs live in the store. A cancel or a terminate holds the Batch lock, which the scheduler's
pass holds too, so neither races a placement. A submit only adds jobs the pass has not read, so
it does not wait for a pass.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from controller.batch.planners.jobs import (
    Dependency,
    Job,
    JobStateError,
    cancel,
    terminate,
)
from controller.batch.planners.submit import SubmitError, SubmitRequest, submit
from controller.batch.sync import containers as bc
from controller.batch.sync.job_definition import resolve_definition
from controller.batch.sync.jobs import BATCH
from controller.batch.sync.ledger import save_jobs
from controller.batch.sync.state import batch_lock, history_lock
from controller.core.outcomes import CommandError, Retry
from controller.runtime import RuntimeFailure

if TYPE_CHECKING:
    from controller.core.context import Context

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def submit_job(ctl: Context, body: dict[str, Any]) -> dict[str, Any]:
    queue = _text(body, "jobQueue")
    definition_ref = _text(body, "jobDefinition")
    name = body.get("jobName")
    if name is not None and not isinstance(name, str):
        raise CommandError("jobName must be text")
    array = body.get("arrayProperties") or {}
    if not isinstance(array, dict):
        raise CommandError("arrayProperties must be an object: {size: N}")
    size = array.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise CommandError("arrayProperties.size must be a whole number")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
    ):
        raise CommandError("parameters must map names to text")
    depends = body.get("dependsOn") or []
    if not isinstance(depends, list) or not all(
        isinstance(d, dict)
        and isinstance(d.get("jobId"), str | None)
        and isinstance(d.get("type"), str | None)
        for d in depends
    ):
        raise CommandError("dependsOn must be a list of {jobId, type}, each a string")
    share = body.get("shareIdentifier")
    request = SubmitRequest(
        job_definition=definition_ref,
        job_name=name,
        parameters=parameters,
        array_size=size,
        depends_on=tuple(Dependency(d.get("jobId"), d.get("type")) for d in depends),
        share_identifier=share if isinstance(share, str) else None,
    )
    res = ctl.desired.get(("JobQueue", queue))
    found = resolve_definition(ctl, definition_ref)
    floor = ctl.settings.batch_min_timeout
    timeout = found[1].timeout if found is not None else None
    if found is not None and timeout is not None and timeout.attempt_duration_seconds < floor:
        raise CommandError(
            f"jobDefinition {found[0]}: timeout.attemptDurationSeconds "
            f"{timeout.attempt_duration_seconds} is below the minimum {floor:g} "
            "(--batch-min-timeout)"
        )
    with history_lock(ctl):  # retention prunes none of the jobs it names until it is saved
        known = {  # the jobs it names: the only ones a submit reads
            d.job_id: Job.from_record(r)
            for d in request.depends_on
            if d.job_id is not None and (r := ctl.store.job(d.job_id)) is not None
        }
        try:
            jobs = submit(
                request,
                res.spec if res else None,
                queue,
                found,
                known,
                ctl.clock(),
                lambda: str(uuid.uuid4()),
            )
        except SubmitError as exc:
            raise CommandError(str(exc)) from exc
        save_jobs(ctl, jobs, jobs, {})
    head = jobs[0]
    ctl.queue.add(BATCH)
    return {"jobId": head.job_id, "jobName": head.job_name, "message": f"submitted {head.job_id}"}


def list_jobs(ctl: Context, queue: str | None, status: str | None) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise CommandError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
    if queue is not None and ("JobQueue", queue) not in ctl.desired:
        raise CommandError(f"no JobQueue named {queue!r}", 404)
    rows = ctl.store.jobs(queue=queue, statuses=(status,) if status else ())
    summaries = [
        {k: v for k, v in Job.from_record(r).to_json().items() if k in _SUMMARY}
        for r in rows
        if r.get("parent_id") is None or status is not None
    ]
    return {"jobSummaryList": summaries}


_SUMMARY = {
    "jobId",
    "jobName",
    "jobQueue",
    "status",
    "statusReason",
    "createdAt",
    "startedAt",
    "stoppedAt",
    "arrayProperties",
    "container",
}


def describe_job(ctl: Context, job_id: str) -> dict[str, Any]:
    return _job(ctl, job_id).to_json()


def job_logs(ctl: Context, job_id: str) -> dict[str, Any]:
    """The output of every attempt, kept after its containers were removed; a running
    attempt's so far."""
    job = _job(ctl, job_id)
    kept = [{"attempt": a, "node": n, "text": t} for a, n, t in ctl.store.job_logs(job.job_id)]
    done = {(x["attempt"], x["node"]) for x in kept}
    for c in bc.job_containers(ctl).get(job.job_id, []):
        if (c.attempt, c.node) in done:
            continue
        try:
            text = ctl.runtime_for(c.host).logs(c.info.id)
        except (RuntimeFailure, Retry):
            continue
        kept.append({"attempt": c.attempt, "node": c.node, "text": text})
    have = {(x["attempt"], x["node"]) for x in kept}  # and what was cleared meanwhile:
    for a, n, t in ctl.store.job_logs(job.job_id):
        if (a, n) not in have:
            kept.append({"attempt": a, "node": n, "text": t})
    return {"jobId": job.job_id, "logs": sorted(kept, key=lambda x: (x["attempt"], x["node"]))}


def cancel_job(ctl: Context, job_id: str, reason: object) -> dict[str, Any]:
    why = reason if isinstance(reason, str) and reason else "Cancelled by the user"
    with batch_lock(ctl):
        job = _job(ctl, job_id)
        children = _children(ctl, job)
        try:
            changed = cancel(job, why, ctl.clock(), children)
        except (JobStateError, ValueError) as exc:
            raise CommandError(str(exc), 409) from exc
        save_jobs(ctl, changed, changed, {j.job_id: j.status for j in (job, *children)})
    ctl.queue.add(BATCH)
    if not changed:  # AWS: CancelJob succeeds and leaves a STARTING or RUNNING job running
        return {"message": f"{job_id} is {job.status}: not cancelled (terminate stops it)"}
    return {"message": f"{job_id}: cancelled"}


def terminate_job(ctl: Context, job_id: str, reason: object) -> dict[str, Any]:
    """Fails a job not yet STARTING at once; sends SIGTERM to the containers of one under way,
    and the pass fails it when they end (or SIGKILLs them after the stop timeout)."""
    why = reason if isinstance(reason, str) and reason else "Terminated by the user"
    with batch_lock(ctl):
        job = _job(ctl, job_id)
        children = _children(ctl, job)
        try:
            result = terminate(job, why, ctl.clock(), children)
        except (JobStateError, ValueError) as exc:
            raise CommandError(str(exc), 409) from exc
        save_jobs(ctl, result.jobs, result.jobs, {j.job_id: j.status for j in (job, *children)})
        stopping = {s.job_id for s in result.stops}
        seen = bc.job_containers(ctl)
        for j in [j for j in result.jobs if j.job_id in stopping]:
            for c in seen.get(j.job_id, []):  # every node, on whichever host it runs
                if c.attempt == j.attempt_number and c.info.running:
                    bc.signal(ctl, c, "SIGTERM")
    ctl.queue.add(BATCH)
    return {"message": f"{job_id}: terminating"}


def _job(ctl: Context, job_id: str) -> Job:
    found = ctl.store.job(job_id)
    if found is None:
        raise CommandError(f"no job {job_id!r}", 404)
    return Job.from_record(found)


def _children(ctl: Context, job: Job) -> list[Job]:
    if not job.is_array_parent:
        return []
    return [Job.from_record(r) for r in ctl.store.jobs(parent_id=job.job_id)]


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{field} is required")
    return value
