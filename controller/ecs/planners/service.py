"""Service planner: what to launch, start, stop, kill and remove so a service converges.

Pure: plan_service(desired, observed tasks, records, in-flight launches, hosts, now) -> ServicePlan.
The arithmetic follows ECS: a REPLICA service keeps `desiredCount` tasks; while tasks of an
older revision remain, running+pending never exceeds floor(desired x maximumPercent / 100) and
healthy tasks never fall below ceil(desired x minimumHealthyPercent / 100), a task counting
as healthy once its health checks pass (its containers', its load balancer targets'), or, with
none, once it has been RUNNING `healthy_after` seconds (ECS: 40). Stopping is graceful: SIGTERM
first, SIGKILL once the container's stopTimeout has passed. The phases that choose which
tasks to stop and how many to launch (unhealthy tasks, scale-in, the deployment bounds) are
pure functions in rollout.py; this module applies them and owns the plan.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.core import host_ports
from controller.core import labels as L
from controller.core.host_ports import HostPorts
from controller.core.observed import ObservedTask
from controller.core.placement import HostSlot, Need, Rules, place
from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.ecs.planners.rollout import (
    HEALTHY_TARGET,
    UNHEALTHY_TARGET,
    blocked_reason,
    bounds,
    failing_health,
    next_warm,
    old_to_stop,
    scale_in,
    split_current,
    still_stopping,
)
from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_state import (
    HEALTHY,
    HEALTHY_AFTER_SECONDS,
    RUNNING,
    SCHEDULER_INITIATED,
    STOPPED,
    UNHEALTHY,
    UNKNOWN,
    TaskView,
    in_flight_view,
    stop_code,
)
from controller.ecs.planners.task_views import TaskViews
from controller.store.records import TaskRecord

STOPPED_TASKS_KEPT = 5  # stopped tasks kept per service for inspection (docker logs)
UNPLACED_RETRY_SECONDS = 5.0  # capacity may have been freed elsewhere


@dataclass(frozen=True)
class ServiceDesired:
    name: str
    desired_count: int
    revision: ResolvedRevision
    scale_in_order: str = "NEWEST_FIRST"
    grace_period: float = 0.0
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    rules: Rules = field(default_factory=Rules)
    config: str = ""  # hash of its task-relevant settings: tasks made with others are replaced
    target_groups: tuple[str, ...] = ()  # its tasks' load balancer target groups


@dataclass(frozen=True)
class InFlight:
    """A launch the executor made whose containers observation has not reported yet."""

    task_id: str
    revision: str
    host: str
    host_ports: HostPorts = ()
    config: str = ""


@dataclass(frozen=True)
class Launch:
    revision: str
    host: str
    host_ports: HostPorts = ()  # the dynamic host ports Skiff chose
    config: str = ""


@dataclass(frozen=True)
class StartContainers:
    task_id: str
    host: str
    container_ids: tuple[str, ...]


@dataclass(frozen=True)
class StopTask:
    task_id: str
    host: str
    reason: str
    container_ids: tuple[str, ...]  # the running ones, to signal
    signal: str = "SIGTERM"


@dataclass(frozen=True)
class MarkStopped:
    """Record that a task stopped on its own (no Docker call needed)."""

    task_id: str
    reason: str


@dataclass(frozen=True)
class RemoveTask:
    task_id: str
    host: str
    container_ids: tuple[str, ...]
    volumes: tuple[str, ...] = ()  # its task-scoped Docker volumes, removed after its containers


@dataclass(frozen=True)
class ServicePlan:
    tasks: tuple[TaskView, ...] = ()
    launch: tuple[Launch, ...] = ()
    start: tuple[StartContainers, ...] = ()
    stop: tuple[StopTask, ...] = ()
    kill: tuple[StopTask, ...] = ()
    mark_stopped: tuple[MarkStopped, ...] = ()
    deactivate: tuple[MarkStopped, ...] = ()  # record the stop; SIGTERM once deregistered
    remove: tuple[RemoveTask, ...] = ()
    unplaced: int = 0
    unplaced_reason: str = ""
    throttle_reason: str = ""
    blocked_reason: str = ""  # the deployment bounds allow neither a start nor a stop
    requeue_after: float | None = None

    def is_noop(self) -> bool:
        return not (
            self.deactivate
            or self.launch
            or self.start
            or self.stop
            or self.kill
            or self.mark_stopped
            or self.remove
        )

    @property
    def docker_writes(self) -> int:
        return (
            len(self.launch) + len(self.start) + len(self.stop) + len(self.kill) + len(self.remove)
        )


def view_tasks(
    observed: Sequence[ObservedTask],
    records: Mapping[str, TaskRecord],
    in_flight: Sequence[InFlight],
    revisions: Mapping[str, TaskDefinitionSpec],
    now: float,
    healthy_after: float = HEALTHY_AFTER_SECONDS,
    memo: TaskViews | None = None,
) -> list[TaskView]:
    """Task views; a launch still in flight wins over a partial observation of it. With a
    `memo` (the service's, kept from pass to pass), only the tasks that changed are viewed
    again."""
    flying = {f.task_id for f in in_flight}
    seen = [t for t in observed if t.id not in flying] if flying else observed
    views = (memo or TaskViews()).views(seen, records, revisions, now, healthy_after)
    return views + [in_flight_view(f.task_id, f.revision, f.host, now) for f in in_flight]


def plan_service(
    desired: ServiceDesired | None,
    observed: Sequence[ObservedTask],
    records: Mapping[str, TaskRecord],
    in_flight: Sequence[InFlight],
    revisions: Mapping[str, TaskDefinitionSpec],
    hosts: Sequence[HostSlot],
    *,
    now: float,
    max_launches: int = 100,
    stopped_kept: int = STOPPED_TASKS_KEPT,
    starting: frozenset[str] | set[str] = frozenset(),
    relaunch_at: float | None = None,
    halted: bool = False,
    targets: Mapping[str, Mapping[str, str]] | None = None,
    healthy_after: float = HEALTHY_AFTER_SECONDS,
    memo: TaskViews | None = None,
) -> ServicePlan:
    """`desired` None means the service's manifest is gone: stop and remove everything.

    `starting` holds container ids already started whose start observation has not shown yet.
    `relaunch_at` (the service throttle) and `halted` (a FAILED rollout) come from the
    deployment planner. `targets` gives, per task, its load balancer targets' states (ALB's
    initial, healthy, unhealthy, draining, unused): with target groups, a task is healthy only
    once its targets are, and is deregistered and drained before it is stopped. A task checked
    by neither counts as healthy `healthy_after` seconds after it reached RUNNING; the plan asks
    to be looked at again then if an old task waits for it. `memo` keeps the service's task
    views from pass to pass (see task_views.py): the plan is the same with it or without.
    """
    targets = targets or {}
    groups = desired.target_groups if desired else ()
    views = view_tasks(observed, records, in_flight, revisions, now, healthy_after, memo)
    tasks = with_targets(views, groups, targets)
    b = _Builder(
        now,
        starting,
        registered=lambda task_id: bool(targets.get(task_id)),
        groups=groups,
        targets=targets,
    )
    lost = {h.name for h in hosts if h.lost}
    for t in tasks:
        if t.host in lost:
            b.lose(t)
        else:
            b.housekeeping(t)
    if desired is None:
        for t in tasks:
            if t.active:
                b.stop_task(t, "Service was deleted")
        b.remove_stopped(tasks, keep=0)
        return b.build(tasks)

    # Replace unhealthy tasks (once past the health check grace period).
    unhealthy, grace_ends = failing_health(tasks, desired.grace_period, groups, targets, now)
    b.stop_all(unhealthy)
    b.wake_at_all(grace_ends)
    active = [t for t in tasks if t.active and t.id not in b.stopping]
    draining = {h.name for h in hosts if h.draining}
    new, old = split_current(active, desired.revision, desired.config, draining)
    count = desired.desired_count

    # Scale in: too many tasks of the current revision.
    zones = {h.name: h.zone for h in hosts}
    scaled = scale_in(new, len(new) - count, desired.scale_in_order, zones)
    b.stop_all((t, f"Scaling activity initiated by (service {desired.name})") for t in scaled)
    new = [t for t in new if t.id not in b.stopping]

    # Launch up to desiredCount, never above maximumPercent of it while old tasks remain.
    limits = bounds(count, desired.minimum_healthy_percent, desired.maximum_percent, bool(old))
    stopping = still_stopping(tasks, b.stopping, lost)
    room = limits.ceiling - len(new) - len(old) - stopping
    want = 0 if halted else min(count - len(new), room, max_launches)
    if want > 0 and relaunch_at is not None and relaunch_at > now:
        b.throttle(want, relaunch_at)
    elif want > 0:
        b.launch(desired, want, active, hosts)
    if len(b.launches) == max_launches and count - len(new) > max_launches:
        b.wake_at(now)  # the cap on creates per pass left work for the next pass

    # Stop old-revision tasks, keeping at least minimumHealthyPercent healthy.
    kept = [t for t in active if t.id not in b.stopping]
    retired, spare = old_to_stop(old, kept, limits.floor)
    why = f"Scaling activity initiated by (deployment {desired.revision.key})"
    b.stop_all((t, why) for t in retired)
    warm = next_warm(active, old, b.stopping)
    if warm is not None:
        b.wake_at(warm)  # it counts as healthy then: another old task may stop

    # Blocked: old tasks remain, yet the bounds allow neither a launch nor a stop, and no
    # task stopping or about to turn healthy will change that.
    if (
        old
        and not halted
        and room <= 0
        and spare <= 0
        and not b.launches
        and stopping == 0
        and not retired
        and all(t.healthy for t in active)
    ):
        b.blocked_reason = blocked_reason(
            desired.name,
            count,
            desired.minimum_healthy_percent,
            desired.maximum_percent,
            limits,
        )

    b.remove_stopped(tasks, keep=stopped_kept, draining=draining)
    return b.build(tasks)


ACTIVATING, DEACTIVATING = "ACTIVATING", "DEACTIVATING"


def with_targets(
    tasks: Sequence[TaskView], groups: Sequence[str], targets: Mapping[str, Mapping[str, str]]
) -> list[TaskView]:
    """Task views whose health includes their load balancer targets' health."""
    return [_with_targets(t, groups, targets.get(t.id, {})) for t in tasks]


def _with_targets(t: TaskView, groups: Sequence[str], states: Mapping[str, str]) -> TaskView:
    """A running task of a service behind load balancers is healthy only once every target is
    healthy (and its containers' health checks pass, if it has any: ECS waits for both), and
    unhealthy as soon as one fails its target group's checks."""
    if not groups or t.last_status != RUNNING or t.desired_status != RUNNING:
        return t
    mine = [states.get(g) for g in groups]
    if UNHEALTHY_TARGET in mine:
        return replace(t, health=UNHEALTHY, has_health_check=True)
    if all(s == HEALTHY_TARGET for s in mine) and (t.health == HEALTHY or not t.has_health_check):
        return replace(t, health=HEALTHY, has_health_check=True)
    return replace(t, health=UNHEALTHY if t.health == UNHEALTHY else UNKNOWN, has_health_check=True)


def _dynamic_ports(spec: TaskDefinitionSpec) -> list[tuple[int, str]]:
    if spec.network_mode not in ("bridge", "awsvpc"):
        return []
    return [
        (p.container_port, p.protocol)
        for c in spec.container_definitions
        for p in c.port_mappings
        if not p.host_port
    ]


class _PortPicker:
    """Chooses the dynamic host ports of a pass's launches: none in use at a host's address
    (several engines may share one), none chosen twice, from each host's range."""

    def __init__(self, hosts: Sequence[HostSlot], seed: int) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.used: dict[str, set[tuple[int, str]]] = {}
        for h in hosts:
            self.used.setdefault(h.address, set()).update(h.ports_used)
        self.rng = random.Random(seed)

    def pick(self, host: str, wanted: list[tuple[int, str]]) -> HostPorts:
        slot = self.hosts[host]
        used = self.used[slot.address]
        picked = host_ports.pick(wanted, used, slot.dynamic_ports, self.rng)
        used.update((port, proto) for _, proto, port in picked)
        return picked


class _Builder:
    def __init__(
        self,
        now: float,
        starting: frozenset[str] | set[str],
        registered: Callable[[str], bool] = lambda task_id: False,
        groups: Sequence[str] = (),
        targets: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.now, self.starting, self.registered = now, starting, registered
        self.groups, self.targets = groups, targets or {}
        self.deactivates: list[MarkStopped] = []
        self.launches: list[Launch] = []
        self.starts: list[StartContainers] = []
        self.stops: list[StopTask] = []
        self.kills: list[StopTask] = []
        self.marks: list[MarkStopped] = []
        self.removes: list[RemoveTask] = []
        self.stopping: set[str] = set()
        self.unplaced = 0
        self.unplaced_reason = ""
        self.throttle_reason = ""
        self.blocked_reason = ""
        self.wake: float | None = None

    def wake_at(self, at: float) -> None:
        delay = max(0.0, at - self.now)
        self.wake = delay if self.wake is None else min(self.wake, delay)

    def wake_at_all(self, times: Iterable[float]) -> None:
        for at in times:
            self.wake_at(at)

    def stop_all(self, stops: Iterable[tuple[TaskView, str]]) -> None:
        for t, reason in stops:
            self.stop_task(t, reason)

    def housekeeping(self, t: TaskView) -> None:
        """What a task needs whatever the service wants: start ready containers, finish stops."""
        if t.in_flight:
            return
        to_start = tuple(c for c in t.to_start if c not in self.starting)
        if t.desired_status == RUNNING and to_start:
            self.starts.append(StartContainers(t.id, t.host, to_start))
        if t.desired_status != STOPPED:
            return
        running = tuple(t.running_container_ids())
        if not t.stop_recorded or (running and t.stop_deadline is None):
            # Not yet stopped, or recorded while its host was lost and now back: stop it.
            self.stop_task(t, t.stopped_reason or "Task stopped")
        elif running and t.stop_deadline is not None and self.now >= t.stop_deadline:
            self.kills.append(StopTask(t.id, t.host, t.stopped_reason or "", running, "SIGKILL"))
        elif running and t.stop_deadline is not None:
            self.wake_at(t.stop_deadline)

    def lose(self, t: TaskView) -> None:
        """A task on a lost host: recorded as stopped (its host cannot be told), so it is
        replaced now and stopped for good if its host comes back."""
        if t.in_flight or t.stop_recorded:
            return
        self.stopping.add(t.id)
        self.marks.append(MarkStopped(t.id, f"Task lost: host {t.host} is unreachable"))

    def stop_task(self, t: TaskView, reason: str) -> None:
        if t.id in self.stopping or t.in_flight:
            return
        self.stopping.add(t.id)
        running = tuple(t.running_container_ids())
        if running and self.registered(t.id):
            # ECS's DEACTIVATING: deregister and drain its targets first; SIGTERM comes once
            # the load balancer has let go of it.
            if not t.stop_recorded:
                self.deactivates.append(MarkStopped(t.id, reason))
            self.wake_at(self.now + 1.0)
        elif running:
            self.stops.append(StopTask(t.id, t.host, reason, running))
            self.wake_at(self.now + t.stop_timeout)  # SIGKILL is due then
        else:
            self.marks.append(MarkStopped(t.id, reason))

    def launch(
        self, desired: ServiceDesired, count: int, active: list[TaskView], hosts: Sequence[HostSlot]
    ) -> None:
        spec = desired.revision.spec
        need = Need(spec.cpu_need, spec.memory_need, tuple(spec.static_host_ports()))
        own: dict[str, int] = {}
        for t in active:
            own[t.host] = own.get(t.host, 0) + 1
        placement = place(count, need, hosts, own, desired.rules)
        ports = _PortPicker(hosts, desired.rules.seed)
        self.launches += [
            Launch(desired.revision.key, h, ports.pick(h, _dynamic_ports(spec)), desired.config)
            for h in placement.hosts
        ]
        self.unplaced, self.unplaced_reason = placement.unplaced, placement.reason
        if placement.unplaced:
            self.wake_at(self.now + UNPLACED_RETRY_SECONDS)

    def throttle(self, count: int, resume: float) -> None:
        self.throttle_reason = (
            f"{count} task launch(es) delayed {resume - self.now:.0f}s: tasks keep failing"
        )
        self.wake_at(resume)

    def remove_stopped(
        self, tasks: list[TaskView], keep: int, draining: frozenset[str] | set[str] = frozenset()
    ) -> None:
        """Removes stopped tasks beyond the newest `keep`, every one on a draining host, and
        those of which nothing ever ran (`_never_ran`)."""
        done = [t for t in tasks if t.last_status == STOPPED and not t.in_flight]
        done.sort(key=lambda t: t.created_at, reverse=True)
        also = [t for t in done[:keep] if t.host in draining or _never_ran(t)]
        for t in done[keep:] + also:
            volumes = sorted(
                {v for c in (t.containers or {}).values() for v in L.volumes_of(c.labels)}
            )
            self.removes.append(RemoveTask(t.id, t.host, tuple(t.container_ids()), tuple(volumes)))

    def shown(self, t: TaskView) -> TaskView:
        """ECS's ACTIVATING (running, targets not registered yet) and DEACTIVATING (targets
        being deregistered and drained before the stop)."""
        if t.desired_status == STOPPED and t.running_container_ids() and self.registered(t.id):
            return replace(t, last_status=DEACTIVATING)
        mine = self.targets.get(t.id, {})
        if t.active and t.last_status == RUNNING and any(g not in mine for g in self.groups):
            return replace(t, last_status=ACTIVATING)
        return t

    def build(self, tasks: list[TaskView]) -> ServicePlan:
        # A task being removed needs no separate "mark stopped".
        removed = {r.task_id for r in self.removes}
        return ServicePlan(
            tasks=tuple(self.shown(t) for t in tasks),
            launch=tuple(self.launches),
            start=tuple(s for s in self.starts if s.task_id not in self.stopping),
            stop=tuple(self.stops),
            kill=tuple(self.kills),
            mark_stopped=tuple(m for m in self.marks if m.task_id not in removed),
            deactivate=tuple(self.deactivates),
            remove=tuple(self.removes),
            unplaced=self.unplaced,
            unplaced_reason=self.unplaced_reason,
            throttle_reason=self.throttle_reason,
            blocked_reason=self.blocked_reason,
            requeue_after=self.wake,
        )


def _never_ran(t: TaskView) -> bool:
    """No container of the task ever started: what a launch the executor abandoned left (the
    engine went away mid-launch, so its containers could not be removed then; the failure is
    in the service's events), or a task the scheduler stopped while its containers waited to
    start (a scale-in that took a PENDING task). They hold no output to keep, and `docker ps`
    would show them `created` for good. A task that failed to start is kept: it shows why."""
    if t.started_at is not None:
        return False
    if not t.recorded:
        return True
    return (
        t.stop_recorded
        and stop_code(t.stopped_reason or "") == SCHEDULER_INITIATED
        and not any(c.failed_to_start for c in (t.containers or {}).values())
    )


def counts(tasks: Sequence[TaskView]) -> dict[str, int]:
    """running / pending / healthy counts as ECS reports them for a service."""
    active = [t for t in tasks if t.active]
    return {
        "running": sum(t.last_status == RUNNING for t in active),
        "pending": sum(t.last_status != RUNNING for t in active),
        "healthy": sum(t.healthy for t in active),
    }
