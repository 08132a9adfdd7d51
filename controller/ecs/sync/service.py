"""Service sync: reads the service's tasks, plans with the pure planner, hands the plan to the
executor and reports status and metrics. Placement and booking happen under one lock, so two
services never take the same capacity."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from controller.core import capacity, targets
from controller.core.observed import ObservedTask
from controller.core.outcomes import Retry, Terminal, Waiting
from controller.core.placement import SPREAD_ZONE_THEN_HOST, Rules
from controller.core.status import WhenRead, activities_json
from controller.ecs.models.service import ServiceSpec, task_config_hash
from controller.ecs.models.task_definition import TaskDefinitionSpec, check_fargate
from controller.ecs.needs import task_definition_needs
from controller.ecs.planners.deployments import CircuitBreaker, DeploymentPlan, plan_deployments
from controller.ecs.planners.service import (
    InFlight,
    ServiceDesired,
    counts,
    plan_service,
    view_tasks,
    with_targets,
)
from controller.ecs.planners.service_plan import MarkStopped, ServicePlan, StopTask
from controller.ecs.planners.task_definition import ResolvedRevision, plan_task_definition, resolve
from controller.ecs.planners.task_state import STOP_CODES, expected_containers, stop_code
from controller.ecs.sync.state import ecs, revision
from controller.ecs.sync.status_json import deployment_json, task_json, unplaced_task_json
from controller.manifests.kinds import ResourceKey
from controller.manifests.policy import problems as policy_problems
from controller.store import StoreFailure, TaskRecord
from controller.telemetry import ROLLOUT_STATES

INACTIVE_DEPLOYMENTS_KEPT = 10  # history shown for a service

if TYPE_CHECKING:
    from controller.core.context import Context


def sync_service(ctl: Context, name: str) -> float | None:
    key = ("Service", name)
    res = ctl.desired.get(key)
    records = ctl.store.tasks(*key)
    # One snapshot, taken under the placement lock: two services never book one slot.
    with ctl.placement_lock:
        all_tasks = ctl.observed_tasks()
        observed = {i: t for i, t in all_tasks.items() if (t.owner_kind, t.owner) == key}
        desired, note = (
            (None, "") if res is None else _service_desired(ctl, name, res.spec, observed)
        )
        pending = ecs(ctl).expectations.pending(key, observed)
        in_flight = pending.launches
        visible = [t for t in observed.values() if not set(t.container_ids()) <= pending.removing]
        revisions = {
            k: r.spec
            for k in {t.revision for t in visible} | {f.revision for f in in_flight}
            if (r := revision(ctl, k)) is not None
        }
        if desired is None:
            _retire_deployments(ctl, name)
        if desired is None and not visible and not in_flight:
            _finish_deletion(ctl, key, records)
            return None
        unseen = _unlisted_hosts_with_tasks(ctl, records)
        if desired is not None and unseen:
            # Its tasks there are invisible until the host is listed (or declared lost):
            # launching now could duplicate them.
            raise Waiting(f"waiting to list host(s) {', '.join(unseen)}, where it has tasks")
        deploy = None
        if desired is not None and res is not None:
            deploy = _deploy(ctl, name, res.spec, desired, visible, records, in_flight, revisions)
            target = revision(ctl, deploy.target)
            if target is not None and target.key != desired.revision.key:
                desired = replace(desired, revision=target)  # e.g. rolled back
                revisions[target.key] = target.spec
        plan = plan_service(
            desired,
            visible,
            records,
            in_flight,
            revisions,
            ctl.host_slots(all_tasks),
            now=ctl.clock(),
            max_launches=ctl.settings.max_launches_per_pass,
            stopped_kept=ctl.settings.stopped_tasks_kept,
            starting=pending.starting,
            relaunch_at=deploy.relaunch_at if deploy else None,
            halted=deploy.halted if deploy else False,
            targets=ctl.target_states,
            healthy_after=ctl.settings.healthy_after_seconds,
            memo=ecs(ctl).task_views(name),
        )
        refused = _refused_revisions(ctl, {launch.revision for launch in plan.launch})
        if refused:  # none of its tasks is launched; the rest of the plan goes on
            plan = replace(plan, launch=tuple(x for x in plan.launch if x.revision not in refused))
        flights = [
            InFlight(
                uuid.uuid4().hex, launch.revision, launch.host, launch.host_ports, launch.config
            )
            for launch in plan.launch
        ]
        if flights and desired is not None:
            _reserve(ctl, key, flights, desired.revision)
    _prune_records(ctl, records, observed, in_flight)
    revs = {k: rr for k in {f.revision for f in flights} if (rr := revision(ctl, k))}
    failures = ecs(ctl).executor.run(name, plan, flights, revs)
    _count_stops(ctl, name, plan)
    if _load_balanced(ctl, name):
        ctl.queue.add(targets.PASS)  # its tasks' targets follow its tasks
    error = "; ".join(sorted({f.message for f in failures} | set(refused.values())))
    failed = bool(refused) or any(not f.cleanup for f in failures)
    _report_service(ctl, name, desired, plan, error or note, failed=failed, deploy=deploy)
    _report_placement(ctl, name, plan if desired is not None else None)
    if any(f.transient and not f.cleanup for f in failures):
        raise Retry(error)
    # A stopped task's containers Docker would not remove are tried again at the next resync.
    # Failures Docker will repeat (a task that cannot start) are in the status; the
    # relaunch throttle, not a hot retry, decides when to try again.
    if deploy is not None and deploy.settle_at is not None:  # look again once tasks settled
        settle = max(0.0, deploy.settle_at - ctl.clock())
        return settle if plan.requeue_after is None else min(plan.requeue_after, settle)
    return plan.requeue_after


PLACEMENT_FAILURE = "SERVICE_TASK_PLACEMENT_FAILURE"  # ECS's service event
DEPLOYMENT_BLOCKED = "deployment.blocked"


def _report_placement(ctl: Context, name: str, plan: ServicePlan | None) -> None:
    """Tasks no host can take wait, PROVISIONING, and the service's events say why with
    ECS's SERVICE_TASK_PLACEMENT_FAILURE; a deployment its bounds hold still says so too.
    Each once, and again when its reason changes."""
    if plan is not None and plan.blocked_reason:
        ctl.actions.record_change(
            "Service", name, DEPLOYMENT_BLOCKED, plan.blocked_reason, level="warning"
        )
    else:
        ctl.actions.settled("Service", name, DEPLOYMENT_BLOCKED)
    if plan is None or not plan.unplaced:
        ctl.actions.settled("Service", name, PLACEMENT_FAILURE)
        return
    reason = (
        f"(service {name}) was unable to place a task because no container instance met all "
        f"of its requirements ({plan.unplaced} task(s) waiting): {plan.unplaced_reason}"
    )
    ctl.actions.record_change(
        "Service",
        name,
        PLACEMENT_FAILURE,
        reason,
        level="warning",
        detail={
            "kind": "Service",
            "name": name,
            "action": PLACEMENT_FAILURE,
            "eventType": "ERROR",
            "eventName": PLACEMENT_FAILURE,
            "reason": reason,
            "unplacedTasks": plan.unplaced,
        },
    )


def _refused_revisions(ctl: Context, keys: Iterable[str]) -> dict[str, str]:
    """Revisions asking for what the running daemon's policy does not allow (one restored
    from the store after a restart with fewer --allow flags), each with the reason."""
    refused = {}
    for key in sorted(keys):
        rev = revision(ctl, key)
        problems = (
            policy_problems(task_definition_needs(rev.spec), ctl.settings.policy) if rev else []
        )
        if problems:
            path, message = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            field = ".".join(str(p) for p in path)
            refused[key] = f"task definition {key}: {field}: {message}{more}"
    return refused


def _unlisted_hosts_with_tasks(ctl: Context, records: dict[str, TaskRecord]) -> list[str]:
    now, after = ctl.clock(), ctl.settings.host_lost_seconds
    unlisted = {
        n for n, h in list(ctl.hosts.items()) if not h.observer.synced and not h.lost(now, after)
    }
    return sorted(
        {r.host for r in records.values() if r.host in unlisted and r.desired_status == "RUNNING"}
    )


def _deploy(
    ctl: Context,
    name: str,
    spec: ServiceSpec,
    desired: ServiceDesired,
    visible: list[ObservedTask],
    records: dict[str, TaskRecord],
    in_flight: list[InFlight],
    revisions: dict[str, TaskDefinitionSpec],
) -> DeploymentPlan:
    """Runs the deployment planner and keeps its records and events."""
    now = ctl.clock()
    before = ctl.store.deployments(name)
    breaker = spec.deployment_configuration.deployment_circuit_breaker
    deploy = plan_deployments(
        before,
        desired.revision.key,
        desired.desired_count,
        CircuitBreaker(breaker.enable, breaker.rollback),
        with_targets(
            view_tasks(
                visible,
                records,
                in_flight,
                revisions,
                now,
                ctl.settings.healthy_after_seconds,
                ecs(ctl).task_views(name),
            ),
            desired.target_groups,
            ctl.target_states,
        ),
        now,
        new_id=lambda: f"ecs-svc/{uuid.uuid4().int % 10**19:019d}",
        config=desired.config,
    )
    changed = [d for d in deploy.deployments if d not in before]
    if changed:
        ctl.store.put_deployments(name, changed)
        inactive = [d for d in deploy.deployments if d.status == "INACTIVE"]
        if len(inactive) > INACTIVE_DEPLOYMENTS_KEPT:
            ctl.store.delete_deployments(
                name, [d.id for d in inactive[:-INACTIVE_DEPLOYMENTS_KEPT]]
            )
            deploy = replace(
                deploy,
                deployments=tuple(
                    d for d in deploy.deployments if d not in inactive[:-INACTIVE_DEPLOYMENTS_KEPT]
                ),
            )
    for action, reason in deploy.events:
        ctl.actions.record("Service", name, action, reason)
        if action == "deployment.failed":
            ctl.metrics.circuit_breaker_trips.labels(name).inc()
    return deploy


def _count_stops(ctl: Context, name: str, plan: ServicePlan) -> None:
    """Tasks whose stop this pass recorded (the executor did), by ECS stopCode."""
    recorded = {t.id for t in plan.tasks if t.stop_recorded}
    stops: list[MarkStopped | StopTask] = [*plan.mark_stopped, *plan.deactivate, *plan.stop]
    seen: set[str] = set()
    for s in stops:
        if s.task_id not in recorded and s.task_id not in seen:
            seen.add(s.task_id)
            ctl.metrics.tasks_stopped.labels(name, stop_code(s.reason)).inc()


def placement_rules(spec: ServiceSpec, seed: int) -> Rules:
    """The service's placement; FARGATE ignores strategies and spreads over zones, as AWS does."""
    strategies: tuple[tuple[str, str], ...] = tuple(
        (s.type, s.field or "") for s in spec.placement_strategy
    )
    if spec.launch_type == "FARGATE" or not strategies:
        strategies = SPREAD_ZONE_THEN_HOST
    return Rules(
        distinct_instance=any(c.type == "distinctInstance" for c in spec.placement_constraints),
        member_of=tuple(
            c.expression or "" for c in spec.placement_constraints if c.type == "memberOf"
        ),
        strategies=strategies,
        seed=seed,
    )


def _service_desired(
    ctl: Context, name: str, spec: ServiceSpec, observed: dict[str, ObservedTask]
) -> tuple[ServiceDesired, str]:
    """What the service should run, and a note for its status when that is unusual."""
    # The newest revision (and a pinned one) is all a pass reads: the family's history grows
    # with every change of its manifest, and a pass must not.
    newest = ctl.store.newest_revision(spec.family)
    td = ctl.desired.get(("TaskDefinition", spec.family))
    pinned, note = spec.pinned_revision, ""
    if pinned is None and ("Service", name) in ctl.stale:
        # Its manifest is invalid: the last valid version runs what it resolved to, and
        # does not follow `latest` to a revision registered since.
        pinned = _last_requested(ctl, name, spec.family)
        if pinned is not None:
            note = f"runs {spec.family}:{pinned}, the revision of its last valid manifest"
    newest_only = [newest] if newest is not None else []
    if (
        pinned is None
        and td is not None
        and not plan_task_definition(td.spec, newest_only).is_noop()
    ):
        # The family's manifest changed and its revision is not registered yet: running
        # the previous one now would launch tasks only to replace them. Registration
        # queues this service again.
        ctl.queue.add(("TaskDefinition", spec.family))
        raise Waiting(f"waiting for task definition {spec.family} to register its new revision")
    wanted = ctl.store.revision(spec.family, pinned) if pinned is not None else None
    found = resolve(spec.family, pinned, newest, wanted)
    if isinstance(found, str):
        # As in ECS, a service keeps running (and replacing) the revision it runs after
        # that revision is deregistered; it just cannot move to a new one.
        running = sorted(
            (
                r
                for t in observed.values()
                if (r := revision(ctl, t.revision)) and t.revision.rpartition(":")[0] == spec.family
            ),
            key=lambda r: int(r.key.rpartition(":")[2]),
        )
        if pinned is not None or not running:
            raise Terminal(found)
        note = f"{found}; still running {running[-1].key}"
        resolved = running[-1]
    else:
        resolved = ecs(ctl).resolved(found)
    if spec.launch_type == "FARGATE" and (problems := check_fargate(resolved.spec)):
        raise Terminal(f"{resolved.key}: " + "; ".join(problems))
    count = capacity.bounds(ctl, ("Service", name), spec)
    note = "; ".join(m for m in (note, count.note) if m)
    desired = ServiceDesired(
        name=name,
        desired_count=count.desired,
        revision=resolved,
        scale_in_order=spec.scale_in_order,
        grace_period=spec.health_check_grace_period_seconds,
        minimum_healthy_percent=spec.deployment_configuration.minimum_healthy_percent,
        maximum_percent=spec.deployment_configuration.maximum_percent,
        rules=placement_rules(spec, seed=zlib.crc32(f"{name}{ctl.clock()}".encode())),
        config=task_config_hash(spec),
        target_groups=tuple(lb.target_group for lb in spec.load_balancers),
    )
    return desired, note


def _last_requested(ctl: Context, name: str, family: str) -> int | None:
    """The revision number the service's current deployment was asked to run."""
    primary = [d for d in ctl.store.deployments(name) if d.status == "PRIMARY"]
    family_of, _, number = primary[-1].requested.rpartition(":") if primary else ("", "", "")
    return int(number) if family_of == family and number.isdigit() else None


def _reserve(
    ctl: Context, key: ResourceKey, flights: list[InFlight], rev: ResolvedRevision
) -> None:
    n = len(expected_containers(rev.spec))
    now = ctl.clock()
    ctl.store.put_tasks(
        [TaskRecord(f.task_id, key[0], key[1], f.revision, f.host, "RUNNING", now) for f in flights]
    )
    for f in flights:
        ecs(ctl).expectations.expect_launch(key, f, n)


def _prune_records(
    ctl: Context,
    records: dict[str, Any],
    observed: dict[str, ObservedTask],
    in_flight: Iterable[InFlight],
) -> None:
    """Drops records of tasks that no longer exist on any reachable host."""
    flying = {f.task_id for f in in_flight}
    up = {n for n, h in list(ctl.hosts.items()) if h.up and h.observer.synced}
    stale = [
        i for i, r in records.items() if i not in observed and i not in flying and r.host in up
    ]
    if stale:
        try:
            ctl.store.delete_tasks(stale)
        except StoreFailure:
            pass  # housekeeping: the next pass prunes them (the store reports the failure)


def _retire_deployments(ctl: Context, name: str) -> None:
    """The service is deleted: none of its deployments runs any more, and a re-created
    service starts afresh instead of inheriting, say, a FAILED one."""
    live = [d for d in ctl.store.deployments(name) if d.status != "INACTIVE"]
    if live:
        now = ctl.clock()
        ctl.store.put_deployments(
            name, [replace(d, status="INACTIVE", updated_at=now) for d in live]
        )


def _finish_deletion(ctl: Context, key: ResourceKey, records: dict[str, Any]) -> None:
    if records:
        ctl.store.delete_tasks(list(records))
    ctl.store.delete_deployments(key[1])
    if key in ctl.status:
        ctl.actions.record(key[0], key[1], "service.deleted", "manifest removed; all tasks gone")
    ctl.forget_status(key)
    ctl.metrics.forget_service(key[1])
    ecs(ctl).forget_views(key[1])


def _report_service(
    ctl: Context,
    name: str,
    desired: ServiceDesired | None,
    plan: ServicePlan,
    note: str,
    failed: bool,
    deploy: DeploymentPlan | None,
) -> None:
    c = counts(plan.tasks)
    want = desired.desired_count if desired else 0
    ctl.metrics.service_desired.labels(name).set(want)
    ctl.metrics.service_running.labels(name).set(c["running"])
    pending = c["pending"] + plan.unplaced  # unplaced tasks stay PROVISIONING, as in ECS
    ctl.metrics.service_pending.labels(name).set(pending)
    ctl.metrics.service_healthy.labels(name).set(c["healthy"])
    # Counters start at 0 for each service, so that increase() sees their first step.
    ctl.metrics.circuit_breaker_trips.labels(name)
    for code in STOP_CODES:
        ctl.metrics.tasks_stopped.labels(name, code)
    listed = [d for d in deploy.deployments if d.status != "INACTIVE"] if deploy else []
    for state in ROLLOUT_STATES:
        ctl.metrics.service_deployments.labels(name, state).set(
            sum(d.rollout_state == state for d in listed)
        )
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    steady = (
        desired is not None
        and c["running"] == want
        and pending == 0
        and not failed
        and all(t.revision == desired.revision.key for t in plan.tasks if t.active)
        and (deploy is None or deploy.settle_at is None)  # as the deployment sees it
    )
    unplaced = plan.unplaced_reason and (
        f"unable to place {plan.unplaced} task(s): no host met all of its requirements: "
        f"{plan.unplaced_reason}"
    )
    halted = deploy.primary.reason if deploy and deploy.halted else ""
    message = "; ".join(
        m for m in (note, halted, plan.throttle_reason, plan.blocked_reason, unplaced) if m
    )
    ctl.set_status(
        ("Service", name),
        "ERROR" if failed else "ACTIVE" if desired else "DRAINING",
        message,
        desiredCount=want,
        runningCount=c["running"],
        pendingCount=pending,
        healthyCount=c["healthy"],
        steadyState=steady,
        taskDefinition=desired.revision.key if desired else None,
        deployments=[deployment_json(d) for d in reversed(deploy.deployments)] if deploy else [],
        tasks=WhenRead(lambda: tasks_json(plan, desired, address)) if desired else [],
        activities=activities_json(ctl.store, "Service", name),
    )


def tasks_json(plan: ServicePlan, desired: ServiceDesired, address: dict[str, str]) -> list[Any]:
    """The service's tasks as its status lists them: running ones first, oldest first."""
    return [
        task_json(t, address.get(t.host, ""))
        for t in sorted(plan.tasks, key=lambda t: (t.last_status == "STOPPED", t.created_at))
    ] + [unplaced_task_json(desired.revision.key, plan.unplaced_reason)] * plan.unplaced


def _load_balanced(ctl: Context, service: str) -> bool:
    """Whether the service's tasks are, or may still be, targets (its manifest names target
    groups, or a task of it still has a target state: it drains)."""
    res = ctl.desired.get(("Service", service))
    if res and res.spec.load_balancers:
        return True
    return any(
        i in ctl.target_states
        for i, t in ctl.observed_tasks().items()
        if (t.owner_kind, t.owner) == ("Service", service)
    )
