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

from controller.ecs.planners.task_state import RUNNING, TaskView
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


Event = tuple[str, str]  # (action, reason) for the action log


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
    task-relevant settings (launch type, placement): a change to either starts a deployment.

    The phases, in order: take the request (start or replace the PRIMARY), record the
    PRIMARY's failures, the circuit breaker, counts and steady state, the throttle."""
    deps = sorted(records, key=lambda d: d.created_at)
    primary = next((d for d in reversed(deps) if d.status == PRIMARY), None)

    def start(revision: str, reason: str) -> tuple[Deployment, Event]:
        d = Deployment(
            new_id(), revision, requested, PRIMARY, IN_PROGRESS, reason, now, now, config=config
        )
        return d, ("deployment.start", f"deployment {d.id}: {reason}")

    deps, primary, events = take_request(deps, primary, requested, config, now, start)
    primary = _swap(deps, primary, record_failures(primary, tasks, now))
    deps, primary, tripped = circuit_breaker(deps, primary, breaker, desired, now, start)
    deps, primary, settled, settle_at = settle(deps, primary, tasks, desired, now)
    return DeploymentPlan(
        deployments=tuple(deps),
        target=primary.revision,
        halted=primary.rollout_state == FAILED,
        relaunch_at=throttle(primary),
        events=tuple(events + tripped + settled),
        settle_at=settle_at,
    )


Start = Callable[[str, str], tuple[Deployment, Event]]  # (revision, reason) -> a new PRIMARY


def _swap(deps: list[Deployment], old: Deployment, new: Deployment) -> Deployment:
    """Puts `new` in `old`'s place in `deps` (in place) and returns it."""
    if new is not old:
        deps[deps.index(old)] = new
    return new


def promote(
    deps: Sequence[Deployment], new: Deployment, now: float
) -> tuple[list[Deployment], Deployment]:
    """`new` becomes the PRIMARY; the previous PRIMARY becomes ACTIVE (until its tasks go)."""
    demoted = [
        replace(d, status=ACTIVE, updated_at=now) if d.status == PRIMARY else d for d in deps
    ]
    return demoted + [new], new


def take_request(
    deps: Sequence[Deployment],
    primary: Deployment | None,
    requested: str,
    config: str,
    now: float,
    start: Start,
) -> tuple[list[Deployment], Deployment, list[Event]]:
    """Start or replace the PRIMARY: a new requested revision starts a deployment of it; the
    same revision with the service's settings changed starts one of the PRIMARY's revision."""
    if primary is None or primary.requested != requested:
        new, event = start(requested, f"runs {requested}")
    elif primary.config != config:
        new, event = start(
            primary.revision, f"runs {primary.revision} with the service's new settings"
        )
    else:
        return list(deps), primary, []
    deps, primary = promote(deps, new, now)
    return deps, primary, [event]


def record_failures(primary: Deployment, tasks: Sequence[TaskView], now: float) -> Deployment:
    """The PRIMARY with its tasks' new failures counted (each once) and its streak of quick
    failures (a wave of tasks dying together is one step); or with its streak reset once a
    task started after the last failure has stayed up QUICK_FAILURE_SECONDS."""
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
        return replace(
            primary,
            # Ids seen (so each failure counts once), bounded: the largest threshold is 200.
            failed_tasks=(primary.failed_tasks + tuple(t.id for t in fresh))[-MAX_FAILED_KEPT:],
            quick_failures=streak,
            last_failure_at=fresh[-1].stopped_at,
            updated_at=now,
        )
    if primary.quick_failures and any(
        t.revision == primary.revision
        and t.last_status == RUNNING
        and t.started_at is not None
        and t.started_at > (primary.last_failure_at or 0.0)
        and now - t.started_at >= QUICK_FAILURE_SECONDS
        for t in tasks
    ):
        # A task started after the last failure has stayed up: starts work again. (Tasks up
        # from before the failures prove nothing about starting.)
        return replace(primary, quick_failures=0, updated_at=now)
    return primary


def circuit_breaker(
    deps: Sequence[Deployment],
    primary: Deployment,
    breaker: CircuitBreaker,
    desired: int,
    now: float,
    start: Start,
) -> tuple[list[Deployment], Deployment, list[Event]]:
    """With the breaker on, an IN_PROGRESS PRIMARY with failure_threshold(desired) failed
    tasks is FAILED; with rollback, a new PRIMARY returns to the revision of the last
    COMPLETED deployment (of another revision), if there is one."""
    deps = list(deps)
    threshold = failure_threshold(desired)
    tripped = len(primary.failed_tasks) >= threshold
    if not (breaker.enable and primary.rollout_state == IN_PROGRESS and tripped):
        return deps, primary, []
    failed = _swap(
        deps,
        primary,
        replace(
            primary,
            rollout_state=FAILED,
            updated_at=now,
            reason=f"circuit breaker: {len(primary.failed_tasks)} task(s) failed to reach a "
            f"steady state (threshold {threshold})",
        ),
    )
    events = [("deployment.failed", failed.reason)]
    good = [d for d in deps if d.rollout_state == COMPLETED and d.revision != failed.revision]
    last_good = good[-1] if good else None
    if not (breaker.rollback and last_good is not None):
        return deps, failed, events
    new, event = start(
        last_good.revision, f"rollback to {last_good.revision} after deployment {failed.id} failed"
    )
    deps, primary = promote(deps, new, now)
    return deps, primary, events + [event]


def settle(
    deps: Sequence[Deployment],
    primary: Deployment,
    tasks: Sequence[TaskView],
    desired: int,
    now: float,
) -> tuple[list[Deployment], Deployment, list[Event], float | None]:
    """Counts, steady state, and deployments whose tasks are all gone. Tasks of a revision
    belong to the newest deployment running it (a rollback takes over the old tasks).
    A task that exits the moment it starts never reached a steady state, so a task counts
    once it has run SETTLE_SECONDS, and, without health checks, once it counts as healthy
    (ECS: 40 s after RUNNING); the caller looks again at the returned settle_at."""
    deps = list(deps)
    events: list[Event] = []
    active = [t for t in tasks if t.active]
    others_left = any(t.revision != primary.revision for t in active)
    owner = {d.revision: d.id for d in deps}  # later deployments win
    settle_at = None
    for d in list(deps):
        mine = [t for t in active if t.revision == d.revision] if owner[d.revision] == d.id else []
        if d is primary:
            new, settle_at = settle_primary(d, mine, others_left, desired, now)
            if new.rollout_state != d.rollout_state:
                events.append(("deployment.completed", f"deployment {d.id} reached a steady state"))
            primary = _swap(deps, d, new) if new != d else primary
        else:
            new = count_tasks(d, mine)
            if d.status == ACTIVE and not mine:
                new = replace(new, status=INACTIVE, updated_at=now)
            if new != d:
                _swap(deps, d, new)
    return deps, primary, events, settle_at


def count_tasks(d: Deployment, mine: Sequence[TaskView]) -> Deployment:
    """The deployment with its tasks' running and pending counts."""
    running = sum(t.last_status == RUNNING for t in mine)
    return replace(d, running=running, pending=len(mine) - running)


def settle_primary(
    primary: Deployment,
    mine: Sequence[TaskView],
    others_left: bool,
    desired: int,
    now: float,
) -> tuple[Deployment, float | None]:
    """The PRIMARY counted, and COMPLETED once in a steady state: no other revision's task
    left, none pending, `desired` running, every one healthy or about to be, and every one
    settled; else when it will be steady if its tasks only have to settle or warm up."""
    new = count_tasks(primary, mine)
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
        and new.pending == 0
        and new.running == desired
        and sum(t.healthy for t in mine) + len(warming) == desired
    )
    if steady and (settling or warming):
        return new, max(settling + warming)
    if primary.rollout_state == IN_PROGRESS and steady:
        new = replace(new, rollout_state=COMPLETED, reason="steady state", updated_at=now)
    return new, None


def throttle(primary: Deployment) -> float | None:
    """ECS's service throttle: after the second quick failure in a row, launches wait
    THROTTLE_BASE_SECONDS, doubling with each further one, at most THROTTLE_MAX_SECONDS,
    counted from the last failure."""
    if primary.quick_failures < 2 or primary.last_failure_at is None:
        return None
    wait = THROTTLE_BASE_SECONDS * 2.0 ** min(primary.quick_failures - 2, 30)
    return primary.last_failure_at + min(wait, THROTTLE_MAX_SECONDS)
