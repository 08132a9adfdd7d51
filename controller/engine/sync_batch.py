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
  maxvCpus, fair share, resource fit) and launched, each placement saved as it starts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import structlog

from controller.engine import batch_containers as bc
from controller.engine.batch_containers import JobContainer, LaunchFailed
from controller.engine.outcomes import Retry
from controller.engine.sync_job_definition import resolve_definition
from controller.manifests.batch import ComputeEnvironmentSpec, JobDefinitionSpec, JobQueueSpec
from controller.manifests.kinds import ResourceKey
from controller.reconcilers.batch_jobs import (
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
from controller.reconcilers.batch_scheduler import (
    DEFAULT_DECAY_SECONDS,
    Candidate,
    Placement,
    schedule,
)
from controller.reconcilers.placement import HostSlot
from controller.runtime import RuntimeFailure

if TYPE_CHECKING:
    from controller.engine.controller import Controller

BATCH: ResourceKey = ("Batch", "*")
JOB_LABEL = bc.JOB_LABEL
POLL = 1.0  # seconds between passes while jobs are unfinished
LOST_AFTER = 30.0  # seconds an attempt's containers may go unseen before it counts as lost
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
ESSENTIAL_EXITED = "Essential container in task exited"
START_FAILED = "Task failed to start"

log = structlog.get_logger("skiff.batch")


def sync_batch(ctl: Controller) -> float | None:
    with ctl.batch_lock:  # cancels and terminates wait for the pass, and it for them
        return _pass(ctl)


class _Ledger:
    """The pass's changes to jobs: each state a job takes, saved with its events and the
    fair-share usage of the attempts that ended; and the job definitions it read."""

    def __init__(self, ctl: Controller, jobs: dict[str, Job]) -> None:
        self.ctl, self.jobs = ctl, jobs
        self._saved = {j: job.status for j, job in jobs.items()}
        self._changed: dict[str, Job] = {}
        self._steps: list[Job] = []
        self._usage: list[tuple[str, str, float, float]] = []
        self._definitions: dict[str, JobDefinitionSpec | None] = {}
        self._lock = threading.Lock()

    def definition(self, ref: str) -> JobDefinitionSpec | None:
        if ref not in self._definitions:
            found = resolve_definition(self.ctl, ref)
            self._definitions[ref] = found[1] if found is not None else None
        return self._definitions[ref]

    def vcpus(self, job: Job) -> float:
        spec = self.definition(job.job_definition)
        return sum(v for v, _ in _needs(spec)) if spec is not None else 0.0

    def charge(self, job: Job, now: float) -> None:
        """What the ended attempt used while RUNNING, against its share (fair-share queues)."""
        if job.status == RUNNING and job.started_at is not None:
            used = self.vcpus(job) * max(0.0, now - job.started_at)
            with self._lock:
                self._usage.append((job.job_queue, job.share_identifier or "", now, used))

    def put(self, job: Job) -> None:
        with self._lock:
            self.jobs[job.job_id] = job
            self._changed[job.job_id] = job
            self._steps.append(job)

    def save(self) -> None:
        with self._lock:
            changed, steps, usage = list(self._changed.values()), self._steps, self._usage
            self._changed, self._steps, self._usage = {}, [], []
        if changed:
            save_jobs(self.ctl, changed, steps, self._saved, usage)
            self._saved.update((j.job_id, j.status) for j in changed)


def save_jobs(
    ctl: Controller,
    jobs: Iterable[Job],
    steps: Iterable[Job],
    before: Mapping[str, str],
    usage: Sequence[tuple[str, str, float, float]] = (),
) -> None:
    """Writes `jobs` with an event for each status a job takes in `steps` (in order; `before`
    maps job ids to their statuses first), in one transaction: the history, and the event
    stream's "Batch Job State Change" carrying the job as DescribeJobs shows it."""
    last, events = dict(before), []
    for j in steps:
        if last.get(j.job_id) != j.status:
            last[j.job_id] = j.status
            events.append(
                ctl.actions.entry(
                    "Job",
                    j.job_id,
                    f"job.{j.status.lower()}",
                    j.status_reason or f"{j.status.lower()} in {j.job_queue}",
                    queue=j.job_queue,
                    detail=j.to_json(),
                )
            )
    records = [j.to_record() for j in jobs]
    ctl.actions.published(ctl.store.put_jobs(records, events, usage))


def _pass(ctl: Controller) -> float | None:
    now = ctl.clock()
    queues: dict[str, JobQueueSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "JobQueue"
    }
    envs: dict[str, ComputeEnvironmentSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "ComputeEnvironment"
    }
    jobs = _working_set(ctl)
    ledger = _Ledger(ctl, jobs)
    seen = bc.job_containers(ctl)
    effects: list[Callable[[], None]] = []  # Docker calls, made once the decisions are saved
    for job in [j for j in jobs.values() if j.status in (STARTING, RUNNING)]:
        if not job.is_array_parent:
            _attempt_under_way(ctl, ledger, job, _current(seen, job), now, effects)
    ledger.save()
    effects += _clear_over(ctl, jobs, seen)
    adopted = _adopt(ctl, ledger, seen, now, effects)
    work: list[Future[None]] = [ctl.pool.submit(f) for f in effects]
    try:
        for job in advance(jobs, now):
            ledger.put(job)
        _place(ctl, ledger, queues, envs, seen, adopted, now)
    finally:
        wait(work)  # nothing of this pass still runs when the next one starts
        ledger.save()
    for f in work:
        f.result()
    _report(ctl, queues, envs)
    return POLL if any(not j.final for j in jobs.values()) else None


def _current(seen: Mapping[str, list[JobContainer]], job: Job) -> list[JobContainer]:
    """The containers of the job's attempt under way: those it recorded, once it has (a stray
    of the same attempt elsewhere, say from a create whose answer was lost, is not one)."""
    return [
        c
        for c in seen.get(job.job_id, [])
        if c.attempt == job.attempt_number
        and (not job.container_ids or c.info.id in job.container_ids)
    ]


def _attempt_under_way(
    ctl: Controller,
    ledger: _Ledger,
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
    if job.status == STARTING and mine and len(began) == len(mine):
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


def _end(
    ledger: _Ledger,
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


def _host_gone(ctl: Controller, job: Job, now: float) -> str | None:
    """AWS's words for an attempt whose instance is terminated, when the attempt's host has
    left the pool or been unreachable past --host-lost-after; else None."""
    handle = ctl.hosts.get(job.host or "")
    if handle is None or handle.lost(now, ctl.settings.host_lost_seconds):
        return f"Host EC2 (instance {job.host}) terminated."
    return None


def _vanished(ctl: Controller, job: Job, now: float) -> bool:
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
    ctl: Controller, jobs: Mapping[str, Job], seen: Mapping[str, list[JobContainer]]
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
    ctl: Controller,
    ledger: _Ledger,
    seen: Mapping[str, list[JobContainer]],
    now: float,
    effects: list[Callable[[], None]],
) -> set[str]:
    """RUNNABLE jobs whose current attempt already has containers (launched by a pass that
    did not live to save it): STARTING with them, never launched again. A multi-node attempt
    with only some of its nodes is cleared and launched afresh. Returns the jobs handled."""
    handled: set[str] = set()
    for job in [j for j in ledger.jobs.values() if j.status == RUNNABLE]:
        mine = _current(seen, job)
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


def _reachable(ctl: Controller, host: str) -> bool:
    handle = ctl.hosts.get(host)
    return handle is not None and handle.up


def _working_set(ctl: Controller) -> dict[str, Job]:
    """The jobs a pass needs: every unfinished one, the children of unfinished arrays (a
    parent's status sums them) and the finished jobs they depend on. Finished jobs nothing
    waits on stay in the store unread, so a pass costs what is under way, not the history."""
    records = ctl.store.jobs(statuses=tuple(s for s in STATUSES if s not in FINAL))
    jobs = {r["job_id"]: Job.from_record(r) for r in records}
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


def _needs(spec: JobDefinitionSpec) -> tuple[tuple[float, int], ...]:
    if spec.node_properties is None:
        assert spec.container_properties is not None
        return ((spec.container_properties.vcpus, spec.container_properties.memory),)
    n = spec.node_properties
    return tuple((n.container_for(i).vcpus, n.container_for(i).memory) for i in range(n.num_nodes))


def _place(
    ctl: Controller,
    ledger: _Ledger,
    queues: dict[str, JobQueueSpec],
    envs: dict[str, ComputeEnvironmentSpec],
    seen: Mapping[str, list[JobContainer]],
    adopted: set[str],
    now: float,
) -> None:
    jobs = ledger.jobs
    definitions: dict[str, JobDefinitionSpec] = {}
    candidates = []
    for j in jobs.values():
        if j.status != RUNNABLE or j.is_array_parent or j.job_id in adopted:
            continue
        spec = ledger.definition(j.job_definition)
        if spec is None:
            continue
        definitions[j.job_id] = spec
        needs = _needs(spec)
        candidates.append(
            Candidate(
                j.job_id,
                j.job_queue,
                j.created_at,
                sum(v for v, _ in needs),
                sum(m for _, m in needs),
                j.share_identifier,
                needs if len(needs) > 1 else (),
            )
        )
    if not candidates:
        return
    under_way = [j for j in jobs.values() if j.status in (STARTING, RUNNING) and not j.final]
    held: dict[str, float] = {}
    unseen: dict[str, tuple[int, int]] = {}  # per host: what launched jobs hold, not yet seen
    for j in under_way:
        spec = ledger.definition(j.job_definition)
        if spec is None:
            continue
        needs = _needs(spec)
        if j.compute_environment:
            held[j.compute_environment] = held.get(j.compute_environment, 0.0) + sum(
                v for v, _ in needs
            )
        if j.host and not _current(seen, j):
            cpu, mem = unseen.get(j.host, (0, 0))
            unseen[j.host] = (
                cpu + sum(int(v * 1024) for v, _ in needs),
                mem + sum(m for _, m in needs),
            )
    slots = [_with(s, unseen.get(s.name)) for s in ctl.host_slots(ctl.observed_tasks())]
    plan = schedule(
        candidates,
        queues,
        envs,
        held,
        slots,
        _share_usage(ctl, ledger, queues, under_way, now),
        active_shares={(j.job_queue, j.share_identifier or "") for j in under_way},
    )

    pulls = _pulls(ctl)

    def launch(p: Placement) -> None:
        job, spec = jobs[p.job_id], definitions[p.job_id]
        try:
            if not all(pulls.ready(ctl, h, image) for h, image in _images(spec, p.hosts)):
                return  # pulling: placed on a later pass
            ids = bc.launch(ctl, job, spec, p.environment, p.hosts)
        except LaunchFailed as exc:
            log.warning("job.launch_failed", job=p.job_id, error=exc.reason)
            placed = place(job, p.hosts[0], now=now)
            ledger.put(after_attempt(placed, None, exc.reason, START_FAILED, now))
            return
        except (RuntimeFailure, Retry) as exc:  # a later pass tries again (or adopts it)
            log.warning("job.launch_deferred", job=p.job_id, error=str(exc))
            return
        except Exception:  # a bug: this job waits; the other launches go on
            log.exception("job.launch_crashed", job=p.job_id)
            return
        placed = replace(place(job, p.hosts[0], ids, now=now), compute_environment=p.environment)
        ctl.store.put_jobs([placed.to_record()])  # at once: a crash now must not launch it again
        ledger.put(placed)

    # The placements are decided; their Docker calls run side by side, as many as the pool.
    list(ctl.pool.map(launch, plan.placements))


_PULLS: weakref.WeakKeyDictionary[Controller, bc.ImagePulls] = weakref.WeakKeyDictionary()


def _pulls(ctl: Controller) -> bc.ImagePulls:
    with _PULLS_LOCK:
        if ctl not in _PULLS:
            _PULLS[ctl] = bc.ImagePulls(lambda: ctl.queue.add(BATCH))
        return _PULLS[ctl]


_PULLS_LOCK = threading.Lock()


def _images(spec: JobDefinitionSpec, hosts: tuple[str, ...]) -> list[tuple[str, str]]:
    """(host, image) of each node of the placement."""
    nodes = spec.node_properties
    if nodes is None:
        assert spec.container_properties is not None
        return [(hosts[0], spec.container_properties.image)]
    return sorted({(h, nodes.container_for(i).image) for i, h in enumerate(hosts)})


def _with(slot: HostSlot, unseen: tuple[int, int] | None) -> HostSlot:
    if unseen is None:
        return slot
    return replace(
        slot, cpu_used=slot.cpu_used + unseen[0], memory_used=slot.memory_used + unseen[1]
    )


def _share_usage(
    ctl: Controller,
    ledger: _Ledger,
    queues: Mapping[str, JobQueueSpec],
    under_way: list[Job],
    now: float,
) -> dict[tuple[str, str], float]:
    """Fair-share usage per (queue, share): the vCPUs its jobs under way hold, counted as the
    scheduler counts a placement (vCPUs x the decay window), plus the vCPU-seconds its ended
    attempts used within the window, fading linearly with age. The window is
    shareDecaySeconds, AWS's 600 s when it is 0."""
    windows = {
        q: spec.fair_share_policy.share_decay_seconds or DEFAULT_DECAY_SECONDS
        for q, spec in queues.items()
        if spec.fair_share_policy is not None
    }
    if not windows:
        return {}
    usage: dict[tuple[str, str], float] = {}
    for j in under_way:
        if j.job_queue in windows:
            key = (j.job_queue, j.share_identifier or "")
            usage[key] = usage.get(key, 0.0) + ledger.vcpus(j) * windows[j.job_queue]
    for queue, share, at, used in ctl.store.share_usage(now - max(windows.values())):
        fade = 1.0 - (now - at) / windows[queue] if queue in windows else 0.0
        if fade > 0:
            usage[(queue, share)] = usage.get((queue, share), 0.0) + used * fade
    return usage


def _report(
    ctl: Controller,
    queues: dict[str, JobQueueSpec],
    envs: dict[str, ComputeEnvironmentSpec],
) -> None:
    held = ctl.store.job_counts()
    for name, q in queues.items():
        counts = {status: n for (queue, status), n in held.items() if queue == name}
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
            ctl.metrics.batch_jobs.labels(name, status).set(counts.get(status, 0))
        ctl.set_status(("JobQueue", name), q.state, "", priority=q.priority, jobs=counts)
    for name, e in envs.items():
        ctl.set_status(("ComputeEnvironment", name), e.state, "", maxvCpus=e.max_vcpus)
