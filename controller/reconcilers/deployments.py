"""Deployments of a service, as ECS keeps them: which revision the service runs, how the
rollout goes, and when the circuit breaker trips.

Pure: plan_deployments(records, requested revision, tasks, now) -> DeploymentPlan; the task
views say when each counts as healthy (view_task's healthy_after, ECS's 40 s). A new
requested revision starts a PRIMARY deployment (the previous PRIMARY becomes ACTIVE until its
tasks are gone, then INACTIVE). The PRIMARY's rollout is IN_PROGRESS until the service is in a
steady state (COMPLETED), or FAILED once clamp(ceil(0.5 x desired), 3, 200) of its tasks failed
with the circuit breaker on; with rollback, a new PRIMARY returns to the revision of the last
COMPLETED deployment. Tasks that fail quickly, one after another, are relaunched with a growing
delay (ECS's service throttle), whatever the circuit breaker says. Tasks that die together (an
engine restart, a relaunched batch crashing) are one step of that delay, not one per task.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from controller.reconcilers.task_state import RUNNING, TaskView
from controller.store.records import Deployment

PRIMARY, ACTIVE, INACTIVE = "PRIMARY", "ACTIVE", "INACTIVE"
IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"

QUICK_FAILURE_SECONDS = 10.0  # a task dying sooner after starting "failed to start"
SETTLE_SECONDS = 1.0  # a task counts toward a steady state once it has run this long
THROTTLE_BASE_SECONDS = 1.0  # the wait after the second quick failure in a row
THROTTLE_MAX_SECONDS = 300.0
WAVE_SECONDS = 0.5  # quick failures ending this close to the previous one are one throttle step
MAX_FAILED_KEPT = 200


@dataclass(frozen=True)
class CircuitBreaker:
    enable: bool = False
    rollback: bool = False


@dataclass(frozen=True)
class DeploymentPlan:
    deployments: tuple[Deployment, ...]
    target: str  # the revision the service should run now
    halted: bool  # the rollout FAILED with no rollback: launch no new task
    relaunch_at: float | None  # when launches may resume after quick failures (throttle)
    events: tuple[tuple[str, str], ...] = ()  # (action, reason) for the action log
    settle_at: float | None = None  # when the PRIMARY's running tasks will have settled

    @property
    def primary(self) -> Deployment:
        return next(d for d in self.deployments if d.status == PRIMARY)


def failure_threshold(desired: int) -> int:
    """How many failed tasks fail a deployment: clamp(ceil(0.5 x desired), 3, 200)."""
    return min(max(math.ceil(0.5 * desired), 3), 200)


def _quick(t: TaskView) -> bool:
    return t.started_at is None or t.stopped_at - t.started_at < QUICK_FAILURE_SECONDS


def plan_deployments(
    records: Sequence[Deployment],
    requested: str,
    desired: int,
    breaker: CircuitBreaker,
    tasks: Sequence[TaskView],
    now: float,
    new_id: Callable[[], str],
    config: str = "",
) -> DeploymentPlan:
    """`requested` is the revision the manifest asks for; `config` hashes the service's own
    task-relevant settings (launch type, placement): a change to either starts a deployment."""
    deps = sorted(records, key=lambda d: d.created_at)
    events: list[tuple[str, str]] = []
    primary = next((d for d in reversed(deps) if d.status == PRIMARY), None)

    def swap(old: Deployment, new: Deployment) -> None:
        deps[deps.index(old)] = new

    def start(revision: str, reason: str) -> Deployment:
        for d in list(deps):
            if d.status == PRIMARY:
                swap(d, replace(d, status=ACTIVE, updated_at=now))
        d = Deployment(
            new_id(), revision, requested, PRIMARY, IN_PROGRESS, reason, now, now, config=config
        )
        deps.append(d)
        events.append(("deployment.start", f"deployment {d.id}: {reason}"))
        return d

    if primary is None or primary.requested != requested:
        primary = start(requested, f"runs {requested}")
    elif primary.config != config:
        primary = start(
            primary.revision, f"runs {primary.revision} with the service's new settings"
        )

    # Failures of the primary's tasks since it began.
    seen = set(primary.failed_tasks)
    fresh = sorted(
        (
            t
            for t in tasks
            if t.failed
            and t.revision == primary.revision
            and t.created_at >= primary.created_at
            and t.id not in seen
        ),
        key=lambda t: t.stopped_at,
    )
    if fresh:
        streak, last = primary.quick_failures, primary.last_failure_at
        for t in fresh:
            if not _quick(t):
                streak = 0
            elif streak == 0 or last is None or t.stopped_at - last > WAVE_SECONDS:
                streak += 1  # a new wave; one that ended with the previous failure adds nothing
            last = t.stopped_at
        updated = replace(
            primary,
            # Ids seen (so each failure counts once), bounded: the largest threshold is 200.
            failed_tasks=(primary.failed_tasks + tuple(t.id for t in fresh))[-MAX_FAILED_KEPT:],
            quick_failures=streak,
            last_failure_at=fresh[-1].stopped_at,
            updated_at=now,
        )
        swap(primary, updated)
        primary = updated
    elif primary.quick_failures and any(
        t.revision == primary.revision
        and t.last_status == RUNNING
        and t.started_at is not None
        and t.started_at > (primary.last_failure_at or 0.0)
        and now - t.started_at >= QUICK_FAILURE_SECONDS
        for t in tasks
    ):
        # A task started after the last failure has stayed up: starts work again. (Tasks up
        # from before the failures prove nothing about starting.)
        updated = replace(primary, quick_failures=0, updated_at=now)
        swap(primary, updated)
        primary = updated

    threshold = failure_threshold(desired)
    tripped = len(primary.failed_tasks) >= threshold
    if breaker.enable and primary.rollout_state == IN_PROGRESS and tripped:
        failed = replace(
            primary,
            rollout_state=FAILED,
            updated_at=now,
            reason=f"circuit breaker: {len(primary.failed_tasks)} task(s) failed to reach a "
            f"steady state (threshold {threshold})",
        )
        swap(primary, failed)
        primary = failed
        events.append(("deployment.failed", failed.reason))
        good = [d for d in deps if d.rollout_state == COMPLETED and d.revision != failed.revision]
        last_good = good[-1] if good else None
        if breaker.rollback and last_good is not None:
            primary = start(
                last_good.revision,
                f"rollback to {last_good.revision} after deployment {failed.id} failed",
            )

    # Counts, steady state, and deployments whose tasks are all gone. Tasks of a revision
    # belong to the newest deployment running it (a rollback takes over the old tasks).
    # A task that exits the moment it starts never reached a steady state, so a task counts
    # once it has run SETTLE_SECONDS, and, without health checks, once it counts as healthy
    # (ECS: 40 s after RUNNING); the caller looks again at settle_at.
    active = [t for t in tasks if t.active]
    others_left = any(t.revision != primary.revision for t in active)
    owner = {d.revision: d.id for d in deps}  # later deployments win
    settle_at = None
    for d in list(deps):
        mine = [t for t in active if t.revision == d.revision] if owner[d.revision] == d.id else []
        running = sum(t.last_status == RUNNING for t in mine)
        pending = len(mine) - running
        new = replace(d, running=running, pending=pending)
        settling = [
            t.started_at + SETTLE_SECONDS
            for t in mine
            if t.last_status == RUNNING
            and t.started_at is not None
            and now < t.started_at + SETTLE_SECONDS
        ]
        warming = [at for t in mine if (at := t.turns_healthy_at) is not None]
        steady = (
            not others_left
            and pending == 0
            and running == desired
            and sum(t.healthy for t in mine) + len(warming) == desired
        )
        if d is primary and steady and (settling or warming):
            steady, settle_at = False, max(settling + warming)
        if d is primary and d.rollout_state == IN_PROGRESS and steady:
            new = replace(new, rollout_state=COMPLETED, reason="steady state", updated_at=now)
            events.append(("deployment.completed", f"deployment {d.id} reached a steady state"))
        if d is not primary and d.status == ACTIVE and not mine:
            new = replace(new, status=INACTIVE, updated_at=now)
        if new != d:
            swap(d, new)
            if d is primary:
                primary = new

    relaunch_at = None
    if primary.quick_failures >= 2 and primary.last_failure_at is not None:
        wait = THROTTLE_BASE_SECONDS * 2.0 ** min(primary.quick_failures - 2, 30)
        relaunch_at = primary.last_failure_at + min(wait, THROTTLE_MAX_SECONDS)
    return DeploymentPlan(
        deployments=tuple(deps),
        target=primary.revision,
        halted=primary.rollout_state == FAILED,
        relaunch_at=relaunch_at,
        events=tuple(events),
        settle_at=settle_at,
    )
