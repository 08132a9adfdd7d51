"""Batch's entry in the kind registry: ComputeEnvironment, JobQueue and JobDefinition, the one
scheduling pass that serves every queue, the job definition families with revisions to
retire, what jobs' containers hold on each host, and how long finished jobs are kept."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from controller.batch.models.batch import (
    ComputeEnvironmentSpec,
    JobDefinitionSpec,
    JobQueueSpec,
    check_job_definition,
)
from controller.batch.needs import job_definition_needs
from controller.batch.planners.scheduler import decay_windows
from controller.batch.references import compute_environment_references, job_queue_references
from controller.batch.sync.containers import JOB_LABEL
from controller.batch.sync.job_definition import sync_job_definition
from controller.batch.sync.jobs import BATCH, sync_batch
from controller.batch.sync.state import BatchState, batch_lock, history_lock
from controller.core.labels import reserved
from controller.core.observed import ObservedTask
from controller.core.registry import Domain, Entry, Holding, Pass, Retention
from controller.manifests.kinds import Kind, ResourceKey
from controller.store import JOB_DEFINITIONS

if TYPE_CHECKING:
    from controller.core.context import Context


def _keys(ctl: Context) -> set[ResourceKey]:
    return {("JobDefinition", family) for family in ctl.store.families(table=JOB_DEFINITIONS)}


def _holdings(ctl: Context, tasks: Mapping[str, ObservedTask]) -> Iterator[Holding]:
    """A job's live container holds what its definition asks for (its reserved label)."""
    for h in list(ctl.hosts.values()):
        for c in h.observer.snapshot():
            if JOB_LABEL in c.labels and (
                c.running or (c.state == "created" and not c.failed_to_start)
            ):
                yield Holding(h.name, *reserved(c.labels))


def _queued(ctl: Context) -> bool:
    return any(k[0] == "JobQueue" for k in ctl.desired)


def _prune_jobs(ctl: Context, limit: int) -> int:
    """Finished jobs (with their logs and events) that ended more than --batch-job-retention
    ago (AWS Batch: at least 7 days), unless an unfinished job still depends on them; under
    Batch's lock, so no pass, cancel or terminate reads a job as it goes, and its history
    lock, so no submit saves a job depending on one as it goes."""
    with batch_lock(ctl), history_lock(ctl):
        return ctl.store.prune_jobs(ctl.clock() - ctl.settings.batch_job_retention, limit)


def _prune_share_usage(ctl: Context, limit: int) -> int:
    """Fair-share usage older than its queue's decay window (shareDecaySeconds): it no longer
    counts. A queue deleted, or without a fair-share policy, keeps none."""
    now = ctl.clock()
    queues = {k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "JobQueue"}
    kept_since = {q: now - window for q, window in decay_windows(queues).items()}
    return ctl.store.prune_share_usage(kept_since, limit)


DOMAIN = Domain(
    "batch",
    entries=(
        Entry(
            Kind(
                "ComputeEnvironment",
                ComputeEnvironmentSpec,
                references=compute_environment_references,
            ),
            via=BATCH,
            reads=("Host",),
        ),
        Entry(
            Kind("JobQueue", JobQueueSpec, references=job_queue_references),
            via=BATCH,
            reads=("ComputeEnvironment", "JobDefinition"),
        ),
        Entry(
            Kind(
                "JobDefinition",
                JobDefinitionSpec,
                check_job_definition,
                needs=job_definition_needs,
            ),
            sync=sync_job_definition,
        ),
    ),
    passes=(Pass(BATCH, sync_batch, _queued),),
    keys=_keys,
    holdings=_holdings,
    part=lambda ctl: BatchState(),
    retention=(
        Retention("finished Batch jobs", _prune_jobs),
        Retention("fair-share usage past its decay window", _prune_share_usage),
    ),
)
