"""The AWS Batch job transitions that need no Docker: dependencies met or failed, array parents
summarising their children, CancelJob and TerminateJob (which say which containers to stop).

Pure: no I/O, no clock (`now` is passed in). It must not store, start or stop anything: it
returns new records, and says which containers to stop; the store, the scheduler and the
executor act on that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from controller.batch.planners.job_record import (
    ARRAY_CHILD_FAILED,
    CANCELLABLE,
    DEPENDENCY_FAILED,
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    STARTING,
    STATUSES,
    SUBMITTED,
    SUCCEEDED,
    Job,
    JobStateError,
    Stop,
    Termination,
    fail,
)


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
    # Only SUBMITTED and PENDING jobs step (_step leaves the others as they are); a job that
    # changes wakes its dependents.
    work = deque(
        j.job_id
        for j in current.values()
        if j.status in (SUBMITTED, PENDING) and not j.is_array_parent
    )
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
            if new is not job and new != job:  # most jobs are the same object: no field compare
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
        return fail(job, DEPENDENCY_FAILED, now)
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
    return fail(new, reason, now)


def status_counts(kids: Iterable[Job]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for kid in kids:
        counts[kid.status] += 1
    return counts


def cancel(job: Job, reason: str, now: float, children: Sequence[Job] = ()) -> list[Job]:
    """CancelJob: a job not yet STARTING fails with `reason`; a STARTING or RUNNING one is left
    to run (nothing changes, as in AWS). For an array parent, pass all its children: those not
    yet STARTING are cancelled, the others run on, and the parent ends with `reason` once they
    have all finished."""
    if job.is_array_parent:
        if job.final:
            raise JobStateError(f"cannot cancel a job in {job.status}: it has finished")
        _all_children(job, children)
        cancelled = [fail(c, reason, now) for c in children if c.status in CANCELLABLE]
        return [replace(job, stop_reason=job.stop_reason or reason), *cancelled]
    if job.status in (STARTING, RUNNING):
        return []  # AWS: the call succeeds and the job runs on (TerminateJob stops it)
    if job.final:
        raise JobStateError(f"cannot cancel a job in {job.status}: it has finished")
    return [fail(job, reason, now)]


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
        return Termination((fail(job, reason, now),), ())
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
