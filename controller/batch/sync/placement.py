"""Where a Batch pass places RUNNABLE jobs: the scheduler's inputs (vCPUs held per compute
environment, host room including launches not yet seen, fair-share usage) and the launches,
side by side on the pool, each placement saved as it starts; the jobs left waiting say why in
their statusReason. Images are pulled in the
background: a pass holds the Batch lock and never waits on a registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from controller.batch.models.batch import ComputeEnvironmentSpec, JobDefinitionSpec, JobQueueSpec
from controller.batch.planners.jobs import (
    RUNNABLE,
    RUNNING,
    STARTING,
    Job,
    after_attempt,
    place,
)
from controller.batch.planners.scheduler import (
    Candidate,
    Placement,
    decay_windows,
    schedule,
)
from controller.batch.sync import containers as bc
from controller.batch.sync.containers import JobContainer, LaunchFailed
from controller.batch.sync.ledger import Ledger, current
from controller.core.outcomes import Retry
from controller.core.placement import HostSlot
from controller.runtime import RuntimeFailure

if TYPE_CHECKING:
    from controller.core.context import Context

START_FAILED = "Task failed to start"

log = structlog.get_logger("skiff.batch")


def _candidates(
    ledger: Ledger, adopted: set[str]
) -> tuple[list[Candidate], dict[str, JobDefinitionSpec]]:
    """The RUNNABLE jobs to schedule (not array parents, not adopted, with a definition), and
    each one's definition."""
    definitions: dict[str, JobDefinitionSpec] = {}
    candidates: list[Candidate] = []
    for j in ledger.jobs.values():
        if j.status != RUNNABLE or j.is_array_parent or j.job_id in adopted:
            continue
        spec, need = ledger.definition(j.job_definition), ledger.needs(j.job_definition)
        if spec is None or need is None:
            continue
        definitions[j.job_id] = spec
        candidates.append(
            Candidate(
                j.job_id,
                j.job_queue,
                j.created_at,
                sum(v for v, _ in need),
                sum(m for _, m in need),
                j.share_identifier,
                need if len(need) > 1 else (),
            )
        )
    return candidates, definitions


def place_runnable(
    ctl: Context,
    ledger: Ledger,
    pulls: bc.ImagePulls,
    queues: dict[str, JobQueueSpec],
    envs: dict[str, ComputeEnvironmentSpec],
    seen: Mapping[str, list[JobContainer]],
    adopted: set[str],
    now: float,
) -> None:
    jobs = ledger.jobs
    candidates, definitions = _candidates(ledger, adopted)
    if not candidates:
        return
    under_way = [j for j in jobs.values() if j.status in (STARTING, RUNNING) and not j.final]
    held: dict[str, float] = {}
    unseen: dict[str, tuple[int, int]] = {}  # per host: what launched jobs hold, not yet seen
    for j in under_way:
        need = ledger.needs(j.job_definition)
        if need is None:
            continue
        if j.compute_environment:
            held[j.compute_environment] = held.get(j.compute_environment, 0.0) + sum(
                v for v, _ in need
            )
        if j.host and not current(seen, j):
            cpu, mem = unseen.get(j.host, (0, 0))
            unseen[j.host] = (
                cpu + sum(int(v * 1024) for v, _ in need),
                mem + sum(m for _, m in need),
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
    for job_id, why in plan.waiting.items():  # DescribeJobs says why a RUNNABLE job waits
        if jobs[job_id].status_reason != why:
            ledger.put(replace(jobs[job_id], status_reason=why))

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
    ctl: Context,
    ledger: Ledger,
    queues: Mapping[str, JobQueueSpec],
    under_way: list[Job],
    now: float,
) -> dict[tuple[str, str], float]:
    """Fair-share usage per (queue, share): the vCPUs its jobs under way hold, counted as the
    scheduler counts a placement (vCPUs x the decay window), plus the vCPU-seconds its ended
    attempts used within the window, fading linearly with age (`decay_windows`)."""
    windows = decay_windows(queues)
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
