"""The plan a service pass produces, and the builder that assembles it.

plan_service (service.py) decides; the builder here turns its decisions into Docker work a task
at a time: start ready containers, stop gracefully (SIGTERM, SIGKILL at the stopTimeout, or
deregister and drain first behind a load balancer), record stops that need no call, choose the
hosts and dynamic ports of launches, and remove stopped tasks: those beyond the newest kept for
inspection, those on a draining host, and those of which nothing ever ran.
It also keeps the earliest time the service must be looked at again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from controller.core import host_ports
from controller.core import labels as L
from controller.core.host_ports import HostPorts
from controller.core.placement import HostSlot, Need, Rules, place
from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_state import (
    RUNNING,
    SCHEDULER_INITIATED,
    STOPPED,
    TaskView,
    stop_code,
)

UNPLACED_RETRY_SECONDS = 5.0  # capacity may have been freed elsewhere

ACTIVATING, DEACTIVATING = "ACTIVATING", "DEACTIVATING"


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


class PlanBuilder:
    """Collects one pass's Docker work task by task; a task is stopped at most once a pass."""

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
        self,
        revision: ResolvedRevision,
        config: str,
        rules: Rules,
        count: int,
        active: list[TaskView],
        hosts: Sequence[HostSlot],
    ) -> None:
        """`count` launches of `revision`, placed by `rules` on `hosts` beside `active`."""
        spec = revision.spec
        need = Need(spec.cpu_need, spec.memory_need, tuple(spec.static_host_ports()))
        own: dict[str, int] = {}
        for t in active:
            own[t.host] = own.get(t.host, 0) + 1
        placement = place(count, need, hosts, own, rules)
        ports = _PortPicker(hosts, rules.seed)
        self.launches += [
            Launch(revision.key, h, ports.pick(h, _dynamic_ports(spec)), config)
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
