"""AWS Batch's job scheduler and runner: one pass over every unfinished job.

A pass reads the jobs under way from the store and their containers from the pool (labels say
whose attempt each is), then decides, in this order:
- an attempt whose containers run is RUNNING (the timeout counts from then); one whose main
  container exited is over, and the job succeeds, is retried (AWS_BATCH_JOB_ATTEMPT + 1) or
  fails, by its retry strategy; one whose containers are gone (removed, or their host lost)
  is over too, as AWS ends an attempt whose instance is terminated;
- an attempt past its timeout is stopped and the job fails (AWS retries no timeout); one
  asked to stop (TerminateJob) that still runs after the stop timeout is killed;
- these decisions are saved, with their events, before any Docker call: a daemon killed from
  then on finds each attempt where it was decided;
- then, side by side on the pool: containers of attempts that are over are cleared (their
  output kept first); containers of a RUNNABLE job's current attempt (a launch saved too
  late) are adopted, not started again; dependencies and arrays move on
  (batch_jobs.advance); RUNNABLE jobs are placed by the scheduler (priorities, environments,
  maxvCpus, fair share, resource fit) and launched, each placement saved as it starts
  (batch_placement).
batch_ledger saves what the pass decides; batch_containers is its hands on Docker.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import structlog

from controller.batch.models.batch import ComputeEnvironmentSpec, JobQueueSpec
from controller.batch.planners.jobs import (
    FINAL,
    RUNNABLE,
    RUNNING,
    STARTING,
    STATUSES,
    TIMEOUT_REASON,
    Job,
    advance,
    after_attempt,
    mark_running,
    place,
    terminate,
    timed_out,
)
from controller.batch.planners.scheduler import decay_windows
from controller.batch.sync import containers as bc
from controller.batch.sync.containers import JobContainer
from controller.batch.sync.ledger import Ledger, current
from controller.batch.sync.placement import START_FAILED, place_runnable
from controller.batch.sync.state import batch_lock, unfinished_jobs
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

BATCH: ResourceKey = ("Batch", "*")
JOB_LABEL = bc.JOB_LABEL
POLL = 1.0  # seconds between passes while jobs are unfinished
LOST_AFTER = 30.0  # seconds an attempt's containers may go unseen before it counts as lost
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
ESSENTIAL_EXITED = "Essential container in task exited"

log = structlog.get_logger("skiff.batch")


def sync_batch(ctl: Context) -> float | None:
    with batch_lock(ctl):  # cancels and terminates wait for the pass, and it for them
        return _pass(ctl)


def _pass(ctl: Context) -> float | None:
    now = ctl.clock()
    queues: dict[str, JobQueueSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "JobQueue"
    }
    envs: dict[str, ComputeEnvironmentSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "ComputeEnvironment"
    }
    jobs = _working_set(ctl)
    ledger = Ledger(ctl, jobs, decay_windows(queues))
    seen = bc.job_containers(ctl)
    effects: list[Callable[[], None]] = []  # Docker calls, made once the decisions are saved
    for job in [j for j in jobs.values() if j.status in (STARTING, RUNNING)]:
        if not job.is_array_parent:
            _attempt_under_way(ctl, ledger, job, current(seen, job), now, effects)
    ledger.save()
    effects += _clear_over(ctl, jobs, seen)
    adopted = _adopt(ctl, ledger, seen, now, effects)
    work: list[Future[None]] = [ctl.pool.submit(f) for f in effects]
    try:
        for job in advance(jobs, now):
            ledger.put(job)
        place_runnable(ctl, ledger, _pulls(ctl), queues, envs, seen, adopted, now)
    finally:
        wait(work)  # nothing of this pass still runs when the next one starts
        ledger.save()
    for f in work:
        f.result()
    _report(ctl, queues, envs)
    return POLL if any(not j.final for j in jobs.values()) else None


def _attempt_under_way(
    ctl: Context,
    ledger: Ledger,
    job: Job,
    mine: list[JobContainer],
    now: float,
    effects: list[Callable[[], None]],
) -> None:
    gone = _host_gone(ctl, job, now)
    if gone is not None:  # whatever the cache of an unreachable engine still shows
        _end(ledger, job, None, None, gone, now)
        return
    began = [c.info.started_at for c in mine if c.info.started_at]
    if job.status == STARTING and len(mine) >= _expected(job) and len(began) == len(mine):
        # Running, or already done (a short job can end between two passes): it ran from
        # when its containers started.
        job = mark_running(job, min(began), [c.info.id for c in mine])
        ledger.put(job)
    elif job.status == STARTING and mine:
        since = _since(job)
        if since is not None and now - since >= LOST_AFTER:
            why = "CannotStartContainerError: its containers did not start"
            _end(ledger, job, None, why, START_FAILED, now)
            return
        effects += [partial(bc.start_if_created, ctl, c) for c in mine if c.info.state == "created"]
    if timed_out(job, now):  # stopped as TerminateJob stops: SIGTERM, SIGKILL if it lingers
        for j in terminate(job, TIMEOUT_REASON, now).jobs:
            ledger.put(j)
        job = ledger.jobs[job.job_id]
        effects += [partial(bc.signal, ctl, c, "SIGTERM") for c in mine if c.info.running]
    elif job.stop_requested_at is not None and now >= job.stop_requested_at + bc.STOP_TIMEOUT:
        # asked to stop and still running: SIGKILL, again each pass until it ends
        effects += [partial(bc.signal, ctl, c, "SIGKILL") for c in mine if c.info.running]
    main = next((c for c in mine if c.node == (job.main_node or 0)), None)
    if main is not None and main.ended:
        info = main.info
        reason = info.error or (OOM_REASON if info.oom_killed else "")
        status_reason = job.stop_reason or (ESSENTIAL_EXITED if info.exited else START_FAILED)
        _end(ledger, job, info.exit_code, reason or None, status_reason, now)
    elif main is None and _vanished(ctl, job, now):
        why = f"CannotInspectContainerError: the attempt's containers on {job.host} are gone"
        _end(ledger, job, None, None, why, now)


def _expected(job: Job) -> int:
    """How many containers the attempt has: those its launch recorded, else one per node.
    Until the observer has seen them all (a node's events can come after the pass that
    follows the launch), the attempt is still STARTING: one not seen yet is not a stray."""
    return len(job.container_ids) or (job.num_nodes or 1)


def _end(
    ledger: Ledger,
    job: Job,
    exit_code: int | None,
    reason: str | None,
    status_reason: str,
    now: float,
) -> None:
    """The attempt is over: the job moves on by its retry strategy; its share is charged."""
    if exit_code is None:
        log.warning("job.attempt_lost", job=job.job_id, reason=reason or status_reason)
    ledger.charge(job, now)
    ledger.put(after_attempt(job, exit_code, reason, status_reason, now))


def _since(job: Job) -> float | None:
    return job.placed_at if job.placed_at is not None else job.started_at


def _host_gone(ctl: Context, job: Job, now: float) -> str | None:
    """AWS's words for an attempt whose instance is terminated, when the attempt's host has
    left the pool or been unreachable past --host-lost-after; else None."""
    handle = ctl.hosts.get(job.host or "")
    if handle is None or handle.lost(now, ctl.settings.host_lost_seconds):
        return f"Host EC2 (instance {job.host}) terminated."
    return None


def _vanished(ctl: Context, job: Job, now: float) -> bool:
    """The main container is not on its host, which is watched and up, LOST_AFTER seconds
    after the attempt began (sooner, it may only be the observer catching up)."""
    handle = ctl.hosts.get(job.host or "")
    since = _since(job)
    return (
        handle is not None
        and handle.up
        and handle.observer.synced
        and (since is None or now - since >= LOST_AFTER)
    )


def _clear_over(
    ctl: Context, jobs: Mapping[str, Job], seen: Mapping[str, list[JobContainer]]
) -> list[Callable[[], None]]:
    """Clearing the containers of attempts that are over (their job finished, or moved on to a
    later attempt) and strays of an attempt under way (not the containers it recorded). A job
    the store does not know is left alone."""
    out: list[Callable[[], None]] = []
    for job_id, containers in seen.items():
        job = jobs.get(job_id)
        if job is None:
            record = ctl.store.job(job_id)
            job = Job.from_record(record) if record is not None else None
        if job is not None:
            over = [c for c in containers if _over(job, c)]
            if over:
                out.append(partial(bc.clear, ctl, over, multinode=job.num_nodes is not None))
    return out


def _over(job: Job, c: JobContainer) -> bool:
    if job.final or c.attempt < job.attempt_number:
        return True
    under_way = job.status in (STARTING, RUNNING)
    if c.attempt > job.attempt_number:
        return under_way
    return under_way and bool(job.container_ids) and c.info.id not in job.container_ids


def _adopt(
    ctl: Context,
    ledger: Ledger,
    seen: Mapping[str, list[JobContainer]],
    now: float,
    effects: list[Callable[[], None]],
) -> set[str]:
    """RUNNABLE jobs whose current attempt already has containers (launched by a pass that
    did not live to save it): STARTING with them, never launched again. A multi-node attempt
    with only some of its nodes is cleared and launched afresh. Returns the jobs handled."""
    handled: set[str] = set()
    for job in [j for j in ledger.jobs.values() if j.status == RUNNABLE]:
        mine = current(seen, job)
        if not mine or not all(_reachable(ctl, c.host) for c in mine):
            continue  # (on an engine that does not answer, they are judged once it does)
        handled.add(job.job_id)
        if len({c.node for c in mine}) < (job.num_nodes or 1):
            effects.append(partial(bc.clear, ctl, mine, multinode=True))
            continue
        main = next((c for c in mine if c.node == (job.main_node or 0)), mine[0])
        effects += [partial(bc.start_if_created, ctl, c) for c in mine if c.info.state == "created"]
        placed = place(job, main.host, [c.info.id for c in mine], now=now)
        environment = main.info.labels.get(bc.ENVIRONMENT_LABEL)
        ledger.put(replace(placed, compute_environment=environment))
        log.info("job.adopted", job=job.job_id, containers=len(mine))
    return handled


def _reachable(ctl: Context, host: str) -> bool:
    handle = ctl.hosts.get(host)
    return handle is not None and handle.up


def _working_set(ctl: Context) -> dict[str, Job]:
    """The jobs a pass needs: every unfinished one, the children of unfinished arrays (a
    parent's status sums them) and the finished jobs they depend on. Finished jobs nothing
    waits on stay in the store unread, so a pass costs what is under way, not the history."""
    jobs = unfinished_jobs(ctl, tuple(s for s in STATUSES if s not in FINAL))
    for parent in [j for j in jobs.values() if j.is_array_parent]:
        for r in ctl.store.jobs(parent_id=parent.job_id):
            jobs.setdefault(r["job_id"], Job.from_record(r))
    for job in [j for j in jobs.values() if not j.final]:
        for dep in job.depends_on:
            if dep.job_id is not None and dep.job_id not in jobs:
                found = ctl.store.job(dep.job_id)
                if found is not None:
                    jobs[dep.job_id] = Job.from_record(found)
    return dict(sorted(jobs.items(), key=lambda kv: (kv[1].created_at, kv[0])))


_PULLS: weakref.WeakKeyDictionary[Context, bc.ImagePulls] = weakref.WeakKeyDictionary()
_PULLS_LOCK = threading.Lock()


def _pulls(ctl: Context) -> bc.ImagePulls:
    """The controller's image pulls; each one done wakes the pass."""
    with _PULLS_LOCK:
        if ctl not in _PULLS:
            _PULLS[ctl] = bc.ImagePulls(lambda c: c.queue.add(BATCH))
        return _PULLS[ctl]


def _report(
    ctl: Context,
    queues: dict[str, JobQueueSpec],
    envs: dict[str, ComputeEnvironmentSpec],
) -> None:
    held = ctl.store.job_counts()
    for name, q in queues.items():
        counts = {status: n for (queue, status), n in held.items() if queue == name}
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
            ctl.metrics.batch_jobs.labels(name, status).set(counts.get(status, 0))
        # Counters start at 0 for each queue, so that increase() sees their first step.
        ctl.metrics.batch_attempts_failed.labels(name)
        for status in ("SUCCEEDED", "FAILED"):
            ctl.metrics.batch_jobs_finished.labels(name, status)
        ctl.set_status(("JobQueue", name), q.state, "", priority=q.priority, jobs=counts)
    for name, e in envs.items():
        ctl.set_status(("ComputeEnvironment", name), e.state, "", maxvCpus=e.max_vcpus)
