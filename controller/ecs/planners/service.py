"""Service planner: what to launch, start, stop, kill and remove so a service converges.

Pure: plan_service(desired, observed tasks, records, in-flight launches, hosts, now) -> ServicePlan.
The arithmetic follows ECS: a REPLICA service keeps `desiredCount` tasks; while tasks of an
older revision remain, running+pending never exceeds floor(desired x maximumPercent / 100) and
healthy tasks never fall below ceil(desired x minimumHealthyPercent / 100), a task counting
as healthy once its health checks pass (its containers', its load balancer targets'), or, with
none, once it has been RUNNING `healthy_after` seconds (ECS: 40). Stopping is graceful: SIGTERM
first, SIGKILL once the container's stopTimeout has passed. The phases that choose which
tasks to stop and how many to launch (unhealthy tasks, scale-in, the deployment bounds) are
pure functions in rollout.py; this module applies them, in order, and service_plan.py turns
the decisions into the plan's Docker work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.core.host_ports import HostPorts
from controller.core.observed import ObservedTask
from controller.core.placement import HostSlot, Rules
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
from controller.ecs.planners.service_plan import PlanBuilder, ServicePlan
from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_state import (
    HEALTHY,
    HEALTHY_AFTER_SECONDS,
    RUNNING,
    UNHEALTHY,
    UNKNOWN,
    TaskView,
    in_flight_view,
)
from controller.ecs.planners.task_views import TaskViews
from controller.store.records import TaskRecord

STOPPED_TASKS_KEPT = 5  # stopped tasks kept per service for inspection (docker logs)


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
    b = PlanBuilder(
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
        b.launch(desired.revision, desired.config, desired.rules, want, active, hosts)
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


def counts(tasks: Sequence[TaskView]) -> dict[str, int]:
    """running / pending / healthy counts as ECS reports them for a service."""
    active = [t for t in tasks if t.active]
    return {
        "running": sum(t.last_status == RUNNING for t in active),
        "pending": sum(t.last_status != RUNNING for t in active),
        "healthy": sum(t.healthy for t in active),
    }
