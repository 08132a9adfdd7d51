"""The phases of the service planner that decide which tasks a pass stops and how many it
launches, as ECS does: replacing unhealthy tasks, scaling in, launching within maximumPercent,
stopping old tasks within minimumHealthyPercent, and telling a deployment its bounds block.

Pure functions of task views, counts and the clock; plan_service (service.py) calls them in
order and turns their answers into a ServicePlan. They make no plan and touch nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_state import (
    HEALTH_CHECK_FAILED,
    RUNNING,
    STOPPING,
    UNHEALTHY,
    TaskView,
)

UNHEALTHY_TARGET, HEALTHY_TARGET = "unhealthy", "healthy"


def failing_health(
    tasks: Sequence[TaskView],
    grace: float,
    groups: Sequence[str],
    targets: Mapping[str, Mapping[str, str]],
    now: float,
) -> tuple[list[tuple[TaskView, str]], list[float]]:
    """The unhealthy active tasks to stop and replace, each with its reason (its target
    group's health checks, or its containers'), and when the health check grace period of
    those spared by it ends."""
    stops: list[tuple[TaskView, str]] = []
    wakes: list[float] = []
    for t in tasks:
        if not (t.active and t.health == UNHEALTHY):
            continue
        if not _in_grace(t, grace, now):
            bad = [g for g in groups if targets.get(t.id, {}).get(g) == UNHEALTHY_TARGET]
            elb = f"Task failed ELB health checks in (target-group {bad[0]})" if bad else ""
            stops.append((t, elb or HEALTH_CHECK_FAILED))
        elif t.started_at is not None:
            wakes.append(t.started_at + grace)
    return stops, wakes


def _in_grace(t: TaskView, grace: float, now: float) -> bool:
    return grace > 0 and t.started_at is not None and now < t.started_at + grace


def is_current(t: TaskView, revision: ResolvedRevision, config: str) -> bool:
    """Runs the target revision, its containers were made from that revision's spec (a store
    rebuilt from scratch may have given the number to a different spec), and with the
    service's present settings."""
    return (
        t.revision == revision.key
        and (not t.spec_hash or t.spec_hash == revision.spec_hash)
        and (not t.config or not config or t.config == config)
    )


def split_current(
    active: Sequence[TaskView], revision: ResolvedRevision, config: str, draining: Collection[str]
) -> tuple[list[TaskView], list[TaskView]]:
    """(new, old): tasks of another revision or settings, or on a host leaving the pool, are
    old and replaced like a rollout."""
    new: list[TaskView] = []
    old: list[TaskView] = []
    for t in active:  # one pass: `t not in new` compared every pair of tasks (quadratic)
        (new if is_current(t, revision, config) and t.host not in draining else old).append(t)
    return new, old


def scale_in(tasks: list[TaskView], n: int, order: str, zones: dict[str, str]) -> list[TaskView]:
    """The `n` tasks a scale-in stops: those not yet running or unhealthy first; then, as ECS
    does, from the zone (and within it the host) running the most, so the service stays
    balanced; among equals, by age as the service says."""
    if n <= 0:
        return []
    sign = -1 if order == "NEWEST_FIRST" else 1
    by_age = sorted(
        (t for t in tasks if not t.in_flight), key=lambda t: (sign * t.created_at, t.id)
    )
    weak = [t for t in by_age if t.last_status != RUNNING or t.health == UNHEALTHY]
    picked = weak[:n]
    taken = {t.id for t in weak}
    per_zone: dict[str | None, int] = {}
    per_host: dict[str, int] = {}
    for t in tasks:  # what remains, in-flight launches included: they count for balance
        if t.id not in taken:
            per_zone[zones.get(t.host)] = per_zone.get(zones.get(t.host), 0) + 1
            per_host[t.host] = per_host.get(t.host, 0) + 1
    rank = {t.id: i for i, t in enumerate(by_age)}
    pool = [t for t in by_age if t.id not in taken]
    while len(picked) < n and pool:
        victim = min(
            pool, key=lambda t: (-per_zone[zones.get(t.host)], -per_host[t.host], rank[t.id])
        )
        picked.append(victim)
        pool.remove(victim)
        per_zone[zones.get(victim.host)] -= 1
        per_host[victim.host] -= 1
    return picked


@dataclass(frozen=True)
class Bounds:
    """A service's deployment bounds for `count` desired tasks."""

    floor: int  # healthy tasks minimumHealthyPercent keeps: ceil(count x min% / 100)
    ceiling: int  # tasks maximumPercent allows at once (running, pending or stopping)


def bounds(count: int, minimum_healthy_percent: int, maximum_percent: int, rolling: bool) -> Bounds:
    """floor(count x maximumPercent / 100) while old tasks remain (`rolling`); without any,
    never less than `count` (maximumPercent under 100 only bounds a deployment)."""
    return Bounds(
        floor=math.ceil(count * minimum_healthy_percent / 100),
        ceiling=max(count * maximum_percent // 100, count if not rolling else 0),
    )


def still_stopping(
    tasks: Sequence[TaskView], stopping: Collection[str], lost: Collection[str]
) -> int:
    """Tasks being stopped whose containers still run or are not yet let go of (on a host
    that answers): they count toward maximumPercent until the engine is done with them, so
    whoever watches `docker ps` never sees more."""
    return sum(
        1
        for t in tasks
        if t.held and (t.last_status == STOPPING or t.id in stopping) and t.host not in lost
    )


def old_to_stop(
    old: Sequence[TaskView], kept: Sequence[TaskView], floor: int
) -> tuple[list[TaskView], int]:
    """The old tasks to stop now, keeping `floor` of the `kept` tasks healthy, and how many
    healthy tasks above the floor are left (negative: below it). Unhealthy old tasks go
    first; a task still waiting to count as healthy (RUNNING, checked by nothing, not yet
    healthy_after old) is not unhealthy: it is kept as long as the tasks healthy or about to
    be are at the floor, or a rollout under 100/100 would stop the only task just because it
    is young. Launches still in flight are never stopped."""
    spare = sum(t.healthy for t in kept) - floor
    spare_soon = sum(t.healthy or t.turns_healthy_at is not None for t in kept) - floor
    order = sorted(
        old,
        key=lambda t: (
            t.healthy,
            t.turns_healthy_at is not None,
            t.last_status == RUNNING,
            -t.created_at,
        ),
    )
    victims: list[TaskView] = []
    for t in order:
        if t.in_flight:
            continue
        if t.turns_healthy_at is not None:
            if spare_soon > 0:
                spare_soon -= 1
                victims.append(t)
        elif not t.healthy:
            victims.append(t)
        elif spare > 0 and spare_soon > 0:
            spare, spare_soon = spare - 1, spare_soon - 1
            victims.append(t)
    return victims, spare


def next_warm(
    active: Sequence[TaskView], old: Sequence[TaskView], stopping: Collection[str]
) -> float | None:
    """When the first task kept turns healthy (no check, healthy_after), if an old task still
    waits: another may stop then."""
    warming = [
        at for t in active if t.id not in stopping and (at := t.turns_healthy_at) is not None
    ]
    if warming and any(t.id not in stopping for t in old):
        return min(warming)
    return None


def blocked_reason(name: str, count: int, minimum: int, maximum: int, limits: Bounds) -> str:
    """ECS's event when a deployment's bounds allow neither a start nor a stop."""
    return (
        f"(service {name}) was unable to stop or start tasks during a deployment "
        f"because of the service deployment configuration: with desiredCount {count}, "
        f"maximumPercent {maximum} allows {limits.ceiling} task(s) and "
        f"minimumHealthyPercent {minimum} keeps {limits.floor} healthy. "
        "Update the minimumHealthyPercent or maximumPercent value and try again."
    )
