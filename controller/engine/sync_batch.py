"""AWS Batch's job scheduler and runner: one pass over every unfinished job.

A pass reads the jobs from the store and their containers from the pool (labels say whose
attempt each is), then:
- an attempt whose containers run is RUNNING (the timeout counts from then); one whose main
  container exited is over: its output goes to the store, its containers are removed, and the
  job succeeds, is retried (AWS_BATCH_JOB_ATTEMPT + 1) or fails, by its retry strategy;
- an attempt past its timeout is stopped and the job fails (AWS retries no timeout);
- dependencies and arrays move on (batch_jobs.advance);
- RUNNABLE jobs are placed by the scheduler (priorities, environments, maxvCpus, fair share,
  resource fit) and their containers started.
Everything it decides is written to the store before the next pass, so a daemon killed at any
point finds each job where it was and adopts its running containers instead of starting them
again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

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
    attempt_environment,
    command_for,
    mark_running,
    place,
    terminate,
    timed_out,
)
from controller.reconcilers.batch_scheduler import Candidate, Placement, schedule
from controller.runtime import ContainerInfo, ContainerSpec, RuntimeFailure
from controller.state import labels as L

if TYPE_CHECKING:
    from controller.engine.controller import Controller

BATCH: ResourceKey = ("Batch", "*")
JOB_LABEL, ATTEMPT_LABEL, NODE_LABEL = "skiff.job", "skiff.job-attempt", "skiff.job-node"
RESERVED_LABEL = "skiff.reserved"  # "cpu units,MiB", as instances carry it
POLL = 1.0  # seconds between passes while jobs are unfinished
STOP_TIMEOUT = 10

log = structlog.get_logger("skiff.batch")


def sync_batch(ctl: Controller) -> float | None:
    with ctl.batch_lock:  # submits, cancels and terminates wait for the pass, and it for them
        return _pass(ctl)


def _pass(ctl: Controller) -> float | None:
    now = ctl.clock()
    queues: dict[str, JobQueueSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "JobQueue"
    }
    envs: dict[str, ComputeEnvironmentSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "ComputeEnvironment"
    }
    jobs = _working_set(ctl)
    before = {j: job.status for j, job in jobs.items()}
    changed: dict[str, Job] = {}
    steps: list[Job] = []  # every change in order: a pass may take a job through several states

    def put(job: Job) -> None:
        changed[job.job_id] = job
        jobs[job.job_id] = job
        steps.append(job)

    seen = _job_containers(ctl)
    over: list[tuple[Job, list[tuple[str, ContainerInfo]]]] = []  # attempts that ended
    for job in [j for j in jobs.values() if j.status in (STARTING, RUNNING)]:
        if job.is_array_parent:
            continue
        mine = [(h, c) for h, c in seen.get(job.job_id, []) if _attempt(c) == job.attempt_number]
        began = [c.started_at for _, c in mine if c.started_at]
        if job.status == STARTING and mine and len(began) == len(mine):
            # Running, or already done (a short job can end between two passes): it ran from
            # when its containers started.
            job = mark_running(job, min(began), [c.id for _, c in mine])
            put(job)
        if timed_out(job, now):
            stopped = terminate(job, TIMEOUT_REASON, now)
            for j in stopped.jobs:
                put(j)
            job = jobs[job.job_id]
            for _, c in mine:
                _kill(ctl, mine, c)
        main = next((c for _, c in mine if c.labels.get(NODE_LABEL, "0") == _main(job)), None)
        if main is not None and (main.exited or main.failed_to_start):
            over.append((job, mine))
            reason = main.error or ("OutOfMemoryError: Container killed" if main.oom_killed else "")
            status_reason = job.stop_reason or (
                "Essential container in task exited" if main.exited else reason
            )
            put(after_attempt(job, main.exit_code, reason or None, status_reason, now))
    # Ended attempts are cleared while the next ones launch: exited containers hold nothing.
    clearing = [ctl.pool.submit(_clear, ctl, *ended) for ended in over]
    for job in advance(jobs, now):
        put(job)
    _place(ctl, jobs, queues, envs, put)
    for f in clearing:
        f.result()
    if changed:
        ctl.store.put_jobs([j.to_record() for j in changed.values()])
        record_changes(ctl, steps, before)
    _report(ctl, queues, envs)
    unfinished = any(not j.final for j in jobs.values())
    return POLL if unfinished else None


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


def record_changes(ctl: Controller, steps: Iterable[Job], before: Mapping[str, str]) -> None:
    """Records each status a job takes in `steps` (in order; `before` maps job ids to their
    statuses first): in the history, and on the event stream as a "Batch Job State Change"
    carrying the job as DescribeJobs shows it."""
    last = dict(before)
    for j in steps:
        if last.get(j.job_id) != j.status:
            last[j.job_id] = j.status
            ctl.actions.record(
                "Job",
                j.job_id,
                f"job.{j.status.lower()}",
                j.status_reason or f"{j.status.lower()} in {j.job_queue}",
                queue=j.job_queue,
                detail=j.to_json(),
            )


def _attempt(c: ContainerInfo) -> int:
    value = c.labels.get(ATTEMPT_LABEL, "0")
    return int(value) if value.isdigit() else 0


def _main(job: Job) -> str:
    return str(job.main_node or 0) if job.num_nodes else "0"


def _job_containers(ctl: Controller) -> dict[str, list[tuple[str, ContainerInfo]]]:
    out: dict[str, list[tuple[str, ContainerInfo]]] = {}
    for h in list(ctl.hosts.values()):
        for c in h.observer.snapshot():
            job_id = c.labels.get(JOB_LABEL)
            if job_id:
                out.setdefault(job_id, []).append((h.name, c))
    return out


def _kill(ctl: Controller, mine: list[tuple[str, ContainerInfo]], c: ContainerInfo) -> None:
    host = next(h for h, x in mine if x.id == c.id)
    try:
        ctl.runtime_for(host).kill(c.id, "SIGKILL")
    except RuntimeFailure as exc:
        log.warning("job.kill_failed", container=c.id, error=str(exc))


def _remove(ctl: Controller, host: str, c: ContainerInfo) -> None:
    try:
        ctl.runtime_for(host).remove(c.id)
    except RuntimeFailure as exc:
        log.warning("job.remove_failed", container=c.id, error=str(exc))


def _clear(ctl: Controller, job: Job, mine: list[tuple[str, ContainerInfo]]) -> None:
    """An ended attempt's output kept, then its containers (and network) gone."""
    _keep_logs(ctl, job, mine)
    for host, c in mine:
        if not (c.exited or c.failed_to_start):
            _kill(ctl, mine, c)
        _remove(ctl, host, c)
    if job.num_nodes:
        _drop_network(ctl, job, [h for h, _ in mine])


def _keep_logs(ctl: Controller, job: Job, mine: list[tuple[str, ContainerInfo]]) -> None:
    """The attempt's output, kept in the store: its containers are removed next."""
    for host, c in mine:
        node = int(c.labels.get(NODE_LABEL, "0"))
        try:
            text = ctl.runtime_for(host).logs(c.id)
        except RuntimeFailure as exc:
            text = f"(the output could not be read: {exc})\n"
        ctl.store.put_job_log(job.job_id, job.attempt_number, node, text)


def _needs(spec: JobDefinitionSpec) -> tuple[tuple[float, int], ...]:
    if spec.node_properties is None:
        assert spec.container_properties is not None
        return ((spec.container_properties.vcpus, spec.container_properties.memory),)
    n = spec.node_properties
    return tuple((n.container_for(i).vcpus, n.container_for(i).memory) for i in range(n.num_nodes))


def _place(
    ctl: Controller,
    jobs: dict[str, Job],
    queues: dict[str, JobQueueSpec],
    envs: dict[str, ComputeEnvironmentSpec],
    put: Callable[[Job], None],
) -> None:
    definitions: dict[str, JobDefinitionSpec] = {}
    candidates = []
    for j in jobs.values():
        if j.status != RUNNABLE or j.is_array_parent:
            continue
        found = resolve_definition(ctl, j.job_definition)
        if found is None:
            continue
        definitions[j.job_id] = found[1]
        needs = _needs(found[1])
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
    held: dict[str, float] = {}
    for j in jobs.values():
        if j.status in (STARTING, RUNNING) and j.compute_environment:
            found = resolve_definition(ctl, j.job_definition)
            if found is not None:
                held[j.compute_environment] = held.get(j.compute_environment, 0.0) + sum(
                    v for v, _ in _needs(found[1])
                )
    plan = schedule(candidates, queues, envs, held, ctl.host_slots(ctl.observed_tasks()))

    def launch(p: Placement) -> list[str] | None:
        try:
            return _launch(ctl, jobs[p.job_id], definitions[p.job_id], p.environment, p.hosts)
        except (RuntimeFailure, ValueError) as exc:
            log.warning("job.launch_failed", job=p.job_id, error=str(exc))
            return None

    # The placements are decided; their Docker calls run side by side, as many as the pool.
    for p, ids in zip(plan.placements, ctl.pool.map(launch, plan.placements), strict=True):
        if ids is not None:
            job = jobs[p.job_id]
            put(replace(place(job, p.hosts[0], ids), compute_environment=p.environment))


def _network(job: Job) -> str:
    return f"skiff-job-{job.job_id.replace(':', '-')}-{job.attempt_number}"


def _launch(
    ctl: Controller, job: Job, spec: JobDefinitionSpec, environment: str, hosts: tuple[str, ...]
) -> list[str]:
    """The attempt's containers, created and started. A multi-node job's nodes share a
    network of their own (per host), and the main node starts first so the others learn its
    address. Half a launch is undone: nothing of a failed one is left to start twice."""
    made: list[tuple[str, str]] = []
    nodes = spec.node_properties
    network = _network(job) if nodes is not None else None
    try:
        if network is not None:
            for host in sorted(set(hosts)):
                ctl.runtime_for(host).create_network(network, L.selector(ctl.settings.cluster))
        order = list(range(len(hosts)))
        main = nodes.main_node if nodes is not None else 0
        order.sort(key=lambda n: n != main)
        main_ip: str | None = None
        for node in order:
            host = hosts[node]
            container = spec.container_properties if nodes is None else nodes.container_for(node)
            assert container is not None
            env = attempt_environment(
                job,
                spec,
                node_index=node if nodes is not None else None,
                num_nodes=len(hosts) if nodes is not None else None,
                main_ip=main_ip if node != main else None,
                compute_environment=environment,
            )
            cid = ctl.runtime_for(host).create(
                ContainerSpec(
                    name=f"{_network(job)}-{node}-{uuid.uuid4().hex[:6]}",
                    image=container.image,
                    labels={
                        **L.ownership(ctl.settings.cluster, "JobQueue", job.job_queue),
                        JOB_LABEL: job.job_id,
                        ATTEMPT_LABEL: str(job.attempt_number),
                        NODE_LABEL: str(node),
                        RESERVED_LABEL: f"{int(container.vcpus * 1024)},{container.memory}",
                    },
                    command=tuple(command_for(container, job.parameters)) or None,
                    env=env,
                    nano_cpus=int(container.vcpus * 1_000_000_000),
                    memory_mib=container.memory,
                    stop_timeout=STOP_TIMEOUT,
                    network_mode=network or "bridge",
                )
            )
            made.append((host, cid))
            ctl.runtime_for(host).start(cid)
            if node == main and nodes is not None:
                main_ip = ctl.runtime_for(host).inspect(cid).ip_address
    except (RuntimeFailure, ValueError):
        for host, cid in made:
            try:
                ctl.runtime_for(host).remove(cid)
            except RuntimeFailure:
                pass
        _drop_network(ctl, job, hosts)
        raise
    return [cid for _, cid in made]


def _drop_network(ctl: Controller, job: Job, hosts: Iterable[str]) -> None:
    for host in sorted(set(hosts)):
        try:
            ctl.runtime_for(host).remove_network(_network(job))
        except RuntimeFailure as exc:
            log.warning("job.network_left", job=job.job_id, host=host, error=str(exc))


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
