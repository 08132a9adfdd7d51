"""What a Batch pass (or a command) changes about jobs, saved as one: the job records, an event
for each status a job takes (the event stream's "Batch Job State Change"), and the fair-share
usage of attempts that ended. Also the pass's view of job definitions and what a job needs."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from controller.batch.models.batch import JobDefinitionSpec
from controller.batch.planners.jobs import RUNNING, Job
from controller.batch.sync.containers import JobContainer
from controller.batch.sync.job_definition import resolve_definition

if TYPE_CHECKING:
    from controller.core.context import Context


class Ledger:
    """The pass's changes to jobs: each state a job takes, saved with its events and the
    fair-share usage of the attempts that ended; and the job definitions it read."""

    def __init__(self, ctl: Context, jobs: dict[str, Job], fair_share: Iterable[str]) -> None:
        """fair_share: the queues with a fair-share policy, whose ended attempts are charged."""
        self.ctl, self.jobs = ctl, jobs
        self._fair_share = frozenset(fair_share)
        self._saved = {j: job.status for j, job in jobs.items()}
        self._changed: dict[str, Job] = {}
        self._steps: list[Job] = []
        self._usage: list[tuple[str, str, float, float]] = []
        self._definitions: dict[str, JobDefinitionSpec | None] = {}
        self._needs: dict[str, tuple[tuple[float, int], ...]] = {}
        self._lock = threading.Lock()

    def definition(self, ref: str) -> JobDefinitionSpec | None:
        if ref not in self._definitions:
            found = resolve_definition(self.ctl, ref)
            self._definitions[ref] = found[1] if found is not None else None
        return self._definitions[ref]

    def needs(self, ref: str) -> tuple[tuple[float, int], ...] | None:
        """(vCPUs, MiB) of each node of the definition `ref`; None when it is gone."""
        if ref not in self._needs:
            spec = self.definition(ref)
            if spec is None:
                return None
            self._needs[ref] = needs(spec)
        return self._needs[ref]

    def vcpus(self, job: Job) -> float:
        need = self.needs(job.job_definition)
        return sum(v for v, _ in need) if need is not None else 0.0

    def charge(self, job: Job, now: float) -> None:
        """What the ended attempt used while RUNNING, against its share; a FIFO queue keeps
        no usage (the store would hold a row per job for nothing)."""
        if job.job_queue not in self._fair_share:
            return
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
    ctl: Context,
    jobs: Iterable[Job],
    steps: Iterable[Job],
    before: Mapping[str, str],
    usage: Sequence[tuple[str, str, float, float]] = (),
) -> None:
    """Writes `jobs` with an event for each status a job takes in `steps` (in order; `before`
    maps job ids to their statuses first), in one transaction: the history, and the event
    stream's "Batch Job State Change" carrying the job as DescribeJobs shows it."""
    steps = list(steps)
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
    _count(ctl, steps, before)


def _count(ctl: Context, steps: Iterable[Job], before: Mapping[str, str]) -> None:
    """Jobs that ended and attempts that failed, once saved: an attempt under way (STARTING,
    RUNNING) that goes back to RUNNABLE (a retry) or to FAILED failed."""
    last = dict(before)
    for j in steps:
        was, last[j.job_id] = last.get(j.job_id), j.status
        if was == j.status:
            continue
        if j.status in ("SUCCEEDED", "FAILED"):
            ctl.metrics.batch_jobs_finished.labels(j.job_queue, j.status).inc()
        if was in ("STARTING", "RUNNING") and j.status in ("RUNNABLE", "FAILED"):
            ctl.metrics.batch_attempts_failed.labels(j.job_queue).inc()


def needs(spec: JobDefinitionSpec) -> tuple[tuple[float, int], ...]:
    if spec.node_properties is None:
        assert spec.container_properties is not None
        return ((spec.container_properties.vcpus, spec.container_properties.memory),)
    n = spec.node_properties
    return tuple((n.container_for(i).vcpus, n.container_for(i).memory) for i in range(n.num_nodes))


def current(seen: Mapping[str, list[JobContainer]], job: Job) -> list[JobContainer]:
    """The containers of the job's attempt under way: those it recorded, once it has (a stray
    of the same attempt elsewhere, say from a create whose answer was lost, is not one)."""
    return [
        c
        for c in seen.get(job.job_id, [])
        if c.attempt == job.attempt_number
        and (not job.container_ids or c.info.id in job.container_ids)
    ]
