"""Load balancer sync: one key for the whole data plane (one HAProxy serves every load balancer).

It renders the configuration from the LoadBalancer and TargetGroup manifests and the services'
tasks, starts HAProxy when it is not running (after the daemon's restart or HAProxy's death),
reloads it seamlessly only when listeners, rules or groups change, and otherwise moves targets
in and out through the runtime API. It reads target states back, shares them with the
services (a task is healthy once its targets are; it is stopped once drained) and reports
status and metrics. Listeners that cannot work (a port taken or another LoadBalancer's, a group
missing, a configuration HAProxy refuses) are left out and reported on their LoadBalancer; the
others keep serving, and targets keep moving whatever the configuration's trouble.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from controller.dataplane import (
    CommandRefused,
    Configuration,
    DataPlane,
    DataPlaneError,
    Key,
    UnsafeValue,
)
from controller.manifests.ec2 import AutoScalingGroupSpec
from controller.manifests.kinds import ResourceKey
from controller.manifests.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.manifests.service import ServiceSpec
from controller.reconcilers.asg import TERMINATING
from controller.reconcilers.instances import ObservedInstance
from controller.reconcilers.load_balancer import (
    DRAINING,
    HEALTHY,
    INITIAL,
    PRIMARY,
    UNHEALTHY,
    Server,
    Target,
    TargetPlan,
    plan_targets,
    target_problem,
)
from controller.reconcilers.task_state import RUNNING, STOPPED, TaskView, view_task
from controller.state import labels as L
from controller.state.observed import ObservedTask

if TYPE_CHECKING:
    from controller.engine.controller import Controller

DATA_PLANE: ResourceKey = ("DataPlane", "haproxy")
ALL_BALANCERS: ResourceKey = ("LoadBalancer", "*")  # where the data plane's own trouble shows
POLL_BUSY, POLL_IDLE = 1.0, 5.0  # seconds between looks at target health
TARGET_STATES = ("initial", "healthy", "unhealthy", "draining", "unused")

log = structlog.get_logger("skiff.lb")


@dataclass
class DataPlaneState:
    """What the daemon remembers between passes (none of it is needed across restarts)."""

    structure: Configuration | None = None  # the configuration without targets, as applied
    activated: set[Key] = field(default_factory=set)  # targets that passed a check
    drain_since: dict[Key, float] = field(default_factory=dict)  # first seen draining
    registered_at: dict[Key, float] = field(default_factory=dict)
    counted: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)  # for deltas


def sync_load_balancers(ctl: Controller) -> float | None:
    try:
        return _sync(ctl)
    except UnsafeValue as exc:  # validation keeps such values out: a last line of defence
        message = f"a value cannot be written to HAProxy's configuration: {exc}"
        ctl.set_status(ALL_BALANCERS, "ERROR", message)
        log.warning("dataplane.unsafe", error=str(exc))
        return POLL_BUSY


def _sync(ctl: Controller) -> float | None:
    lbs: dict[str, LoadBalancerSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "LoadBalancer"
    }
    groups: dict[str, TargetGroupSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "TargetGroup"
    }
    dp, state = ctl.dataplane(), ctl.dataplane_state
    if not lbs and not groups:
        if dp.running():
            dp.stop()
            ctl.actions.record("LoadBalancer", "*", "dataplane.stop", "no load balancer left")
        _share_targets(ctl, {})
        _forget_deleted(ctl, lbs, groups)
        ctl.forget_status(ALL_BALANCERS)
        return None
    now = ctl.clock()
    tasks = ctl.observed_tasks()
    instances = ctl.observed_instances()
    known = set(tasks) | set(instances)  # target ids: task ids and instance ids

    def read() -> dict[Key, Server]:
        return _owned(ctl, dp.targets(known), known, now)

    try:
        current = read() if dp.running() else {}
    except DataPlaneError:
        current = {}
    for key, server in current.items():  # serving now: no need to wait for a check again
        if server.up and server.checked and server.admin == "ready":
            state.activated.add(key)
    wanted = _wanted(ctl, groups, tasks, current)
    _add_instances(ctl, wanted, instances, current)
    if state.structure is not None:
        bound = state.structure.bound_ports()
    else:  # our restart: what HAProxy serves is what it was last given
        bound = dp.bound_ports() if dp.running() else {}
    order = sorted(lbs, key=lambda n: _place(ctl, ("LoadBalancer", n)))
    skip, listener_errors = _listener_problems(
        dp, lbs, order, groups, bound, ctl.settings.lb_address
    )

    def configuration(
        targets: dict[str, list[Target]], left_out: set[tuple[str, int]]
    ) -> Configuration:
        return Configuration(
            ctl.settings.lb_address, lbs, groups, targets, frozenset(left_out), ctl.lb_threads
        )

    structure = configuration({}, skip)  # what a change of needs a reload
    complaint = None
    if structure != state.structure:
        complaint = dp.check(structure)
        if complaint:  # find the listeners at fault; leave them out
            for at, why in _refused_listeners(dp, structure):
                skip.add(at)
                listener_errors[at] = why
            structure = configuration({}, skip)
            complaint = dp.check(structure)
    used = {
        g
        for lb_name, spec in lbs.items()
        for g in spec.target_groups()
        if any((lb_name, lst.port) not in skip for lst in spec.listeners)
    }
    try:
        _apply_config(ctl, configuration(wanted, skip), structure, complaint)
        current = read()
        for key in current:
            state.registered_at.setdefault(key, now)  # first seen (e.g. after our restart)
        plan = plan_targets(
            wanted,
            current,
            used,
            state.drain_since,
            {g: s.deregistration_delay for g, s in groups.items()},
            state.activated,
            now,
            registered_at=state.registered_at,
            windows={g: _initial_window(s) for g, s in groups.items()},
            old_workers=not dp.settled(),
        )
        removed, failures = _apply_targets(ctl, plan, groups, now)
        stats = dp.counters()
    except DataPlaneError as exc:
        ctl.set_status(ALL_BALANCERS, "ERROR", str(exc))
        log.warning("dataplane.error", error=str(exc))
        return POLL_BUSY
    if complaint:
        message = f"the configuration was refused (HAProxy serves the one before): {complaint}"
        ctl.set_status(ALL_BALANCERS, "ERROR", message)
        log.warning("dataplane.refused", error=complaint)
    else:
        ctl.forget_status(ALL_BALANCERS)
    # A target whose servers are gone is deregistered: no longer in its group, nor draining.
    plan = replace(plan, states={k: v for k, v in plan.states.items() if k not in removed})
    _remember(ctl, plan, current, wanted, now)
    _share_states(ctl, plan)
    _report(ctl, lbs, groups, plan, listener_errors, stats, failures)
    busy = any(s in (INITIAL, DRAINING, UNHEALTHY) for s in plan.states.values())
    return POLL_BUSY if busy or failures or not plan.is_noop() else POLL_IDLE


def _initial_window(group: TargetGroupSpec) -> float:
    """How long a new target may fail checks before it counts as unhealthy: time for the
    unhealthy threshold of failures, then the healthy threshold of passes."""
    hc = group.health_check
    return (hc.unhealthy_threshold_count + hc.healthy_threshold_count) * hc.interval_seconds + (
        hc.timeout_seconds
    )


def _place(ctl: Controller, key: ResourceKey) -> tuple[str, int, str]:
    res = ctl.desired[key]
    return (res.source, res.document, res.name)


# --- what should be there --------------------------------------------------------------------


def _target_port(task: ObservedTask, container_name: str, container_port: int) -> int | None:
    """The host port publishing the named container's port; an awsvpc task's sandbox
    publishes the ports of every container in it."""
    for name in (container_name, L.PAUSE_CONTAINER):
        c = task.containers.get(name)
        for p in c.ports if c is not None else ():
            if p.container_port == container_port and p.protocol == "tcp" and p.host_port:
                return p.host_port
    return None


def _wanted(
    ctl: Controller,
    groups: dict[str, TargetGroupSpec],
    tasks: dict[str, ObservedTask],
    current: dict[Key, Server],
) -> dict[str, list[Target]]:
    """Targets per group: running tasks of services behind them, and tasks being stopped that
    are still registered (they drain)."""
    wanted: dict[str, list[Target]] = {g: [] for g in groups}
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    records, now = ctl.store.all_tasks(), ctl.clock()  # one query, whatever the tasks
    views: dict[str, TaskView] = {}

    def view(t: ObservedTask) -> TaskView:
        if t.id not in views:
            rev = ctl.revision(t.revision)
            views[t.id] = view_task(t, rev.spec if rev else None, records.get(t.id), now)
        return views[t.id]

    by_owner: dict[ResourceKey, list[ObservedTask]] = {}
    for t in tasks.values():
        by_owner.setdefault((t.owner_kind, t.owner), []).append(t)
    for key, res in ctl.desired.items():
        if key[0] != "Service":
            continue
        spec: ServiceSpec = res.spec
        for lb in spec.load_balancers:
            if lb.target_group not in wanted:
                continue
            for t in by_owner.get(key, []):
                v = view(t)
                if v.desired_status != RUNNING or v.last_status != RUNNING:
                    continue
                port = _target_port(t, lb.container_name, lb.container_port)
                if port is not None and t.host in address:
                    _admit(wanted, lb.target_group, Target(t.id, address[t.host], port))
    serving = {g: {t.task_id for t in targets} for g, targets in wanted.items()}
    for (group, task_id), server in current.items():
        found = tasks.get(task_id)
        if found is None or group not in wanted or task_id in serving[group]:
            continue
        v = view(found)
        if v.desired_status == STOPPED and v.running_container_ids():
            wanted[group].append(Target(task_id, server.address, server.port, draining=True))
    return wanted


def _add_instances(
    ctl: Controller,
    wanted: dict[str, list[Target]],
    instances: dict[str, ObservedInstance],
    current: dict[tuple[str, str], Server],
) -> None:
    """Auto Scaling groups' instances on their declared ports: InService ones serve; ones
    terminating drain while they are still registered."""
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    for key, res in list(ctl.desired.items()):
        if key[0] != "AutoScalingGroup":
            continue
        spec: AutoScalingGroupSpec = res.spec
        records = ctl.store.instances(*key) if spec.target_groups else {}
        for tg in spec.target_groups:
            if tg.target_group not in wanted:
                continue
            for iid, r in records.items():
                seen = instances.get(iid)
                if seen is None or not seen.container.running or seen.host not in address:
                    continue
                port = next(
                    (
                        p.host_port
                        for p in seen.container.ports
                        if p.container_port == tg.port and p.host_port
                    ),
                    None,
                )
                registered = (tg.target_group, iid) in current
                if port is None:
                    continue
                if r.lifecycle_state == "InService" and r.desired_state == "running":
                    if "AddToLoadBalancer" in spec.suspended_processes and not registered:
                        continue
                    _admit(wanted, tg.target_group, Target(iid, address[seen.host], port))
                elif registered and r.lifecycle_state in TERMINATING:
                    server = current[(tg.target_group, iid)]
                    wanted[tg.target_group].append(
                        Target(iid, server.address, server.port, draining=True)
                    )


def _admit(wanted: dict[str, list[Target]], group: str, target: Target) -> None:
    """Adds a target HAProxy can be told about. Ids come from Docker's labels and addresses
    from the Host manifests: one HAProxy could not read as a plain word is left out (and
    logged), never written."""
    problem = target_problem(target)
    if problem is None:
        wanted[group].append(target)
    else:
        log.warning("target.unsafe", target_group=group, target=target.task_id[:64], error=problem)


def _owned(
    ctl: Controller, current: dict[Key, Server], known: set[str], now: float
) -> dict[Key, Server]:
    """The servers this pass may act on. While a host is not listed yet (after our restart),
    its tasks are unknown too: their servers are left alone, not taken for strays."""
    unlisted = [
        h
        for h in list(ctl.hosts.values())
        if not h.observer.synced and not h.lost(now, ctl.settings.host_lost_seconds)
    ]
    if not unlisted:
        return current
    return {k: s for k, s in current.items() if k[1] in known}


def _listener_problems(
    dp: DataPlane,
    lbs: dict[str, LoadBalancerSpec],
    order: list[str],
    groups: dict[str, TargetGroupSpec],
    bound: dict[int, str],
    address: str,
) -> tuple[set[tuple[str, int]], dict[tuple[str, int], str]]:
    """Listeners left out, and why: a target group missing, a port another LoadBalancer's
    listener has (the one the data plane binds already keeps it, else the first by file and
    document), or a port another process holds (ports in `bound`, the applied configuration's,
    are the data plane's own)."""
    skip: set[tuple[str, int]] = set()
    errors: dict[tuple[str, int], str] = {}
    owner: dict[int, str] = {}
    for lb_name in order:
        for listener in lbs[lb_name].listeners:
            if bound.get(listener.port) == lb_name or listener.port not in owner:
                owner[listener.port] = lb_name  # a port HAProxy binds for it stays its
    for lb_name in order:
        for listener in lbs[lb_name].listeners:
            key = (lb_name, listener.port)
            actions = [*listener.default_actions, *(r.actions[0] for r in listener.rules)]
            missing = sorted({g for a in actions for g, _ in a.target_groups() if g not in groups})
            if missing:
                errors[key] = f"no TargetGroup named {missing[0]!r}"
            elif owner[listener.port] != lb_name:
                errors[key] = (
                    f"port {listener.port} is already a listener of LoadBalancer "
                    f"{owner[listener.port]!r}"
                )
            elif listener.port not in bound and not dp.can_bind(address, listener.port):
                errors[key] = f"port {listener.port} on {address} is already in use"
            else:
                continue
            skip.add(key)
    return skip, errors


def _refused_listeners(dp: DataPlane, config: Configuration) -> list[tuple[tuple[str, int], str]]:
    """Listeners the data plane refuses, each tried alone (with every group)."""
    refused = []
    for lb_name, spec in sorted(config.load_balancers.items()):
        for listener in spec.listeners:
            if (lb_name, listener.port) in config.skip:
                continue
            alone = {lb_name: spec.model_copy(update={"listeners": [listener]})}
            complaint = dp.check(replace(config, load_balancers=alone, skip=frozenset()))
            if complaint:
                why = f"the configuration was refused: {complaint}"
                refused.append(((lb_name, listener.port), why))
    return refused


# --- doing it ------------------------------------------------------------------------------------


def _apply_config(
    ctl: Controller, config: Configuration, structure: Configuration, complaint: str | None
) -> None:
    dp, state = ctl.dataplane(), ctl.dataplane_state
    if complaint:
        if not dp.running():
            raise DataPlaneError(f"the generated configuration was refused: {complaint}")
        return  # HAProxy keeps what it serves; targets still move through the runtime API
    if not dp.running():
        dp.start(config)
        state.structure = structure
        state.counted.clear()  # a new process counts from zero
        ctl.actions.record("LoadBalancer", "*", "dataplane.start", "haproxy was not running")
    elif state.structure is None and dp.serves(config):
        state.structure = structure  # our restart, and HAProxy already serves just this
    elif structure != state.structure:
        dp.reload(config)
        reason = "listeners, rules or groups changed" if state.structure else "daemon restarted"
        state.structure = structure
        state.counted.clear()
        ctl.actions.record("LoadBalancer", "*", "dataplane.reload", reason)
    else:
        dp.save(config)  # membership changes go through the runtime API; keep the file current


def _apply_targets(
    ctl: Controller,
    plan: TargetPlan,
    groups: dict[str, TargetGroupSpec],
    now: float,
) -> tuple[set[Key], dict[Key, str]]:
    """Runs the plan's steps; returns the targets whose servers are gone, and the targets a
    step failed for (the data plane's answer, or why a value could not be said to it), whose
    later steps wait for the next pass. Only a server already gone is taken for removed; a
    data plane that does not answer fails the pass (DataPlaneError)."""
    dp, state = ctl.dataplane(), ctl.dataplane_state
    failed: dict[Key, str] = {}

    def run(key: Key, step: Callable[[], None], *, again: bool = False) -> bool:
        if key in failed and not again:
            return False
        try:
            step()
            return True
        except (CommandRefused, UnsafeValue) as exc:
            failed[key] = exc.answer if isinstance(exc, CommandRefused) else str(exc)
            log.warning("target.refused", target_group=key[0], target=key[1], error=str(exc))
            return False

    for group, t, which in plan.add:
        key = (group, t.task_id)
        added = run(key, partial(dp.add_target, group, groups[group], t, which))
        if added and which == PRIMARY:
            state.registered_at[key] = now
            ctl.actions.record(
                "TargetGroup",
                group,
                "target.register",
                "task running",
                task=t.task_id,
                target=f"{t.address}:{t.port}",
            )
    for group, task_id in plan.checks:
        run((group, task_id), partial(dp.start_checks, group, task_id))
    for group, task_id, which in plan.ready:
        enabled = run((group, task_id), partial(dp.enable_target, group, task_id, which))
        if enabled and which == PRIMARY:
            state.activated.add((group, task_id))
    for group, task_id, which in plan.drain:
        run((group, task_id), partial(dp.drain_target, group, task_id, which))
    removed: set[Key] = set()
    for key in plan.remove:
        group, task_id = key
        cut = key in plan.cut
        if run(key, partial(dp.remove_target, group, task_id, cut=cut), again=True):
            removed.add(key)
            state.activated.discard(key)
            state.drain_since.pop(key, None)
            state.registered_at.pop(key, None)
            reason = "deregistration delay passed" if cut else "drained"
            ctl.actions.record("TargetGroup", group, "target.deregister", reason, task=task_id)
    for key, st in plan.states.items():
        if st == HEALTHY:
            state.activated.add(key)
    return removed, failed


def _remember(
    ctl: Controller,
    plan: TargetPlan,
    current: dict[Key, Server],
    wanted: dict[str, list[Target]],
    now: float,
) -> None:
    """Since when each target drains (from the pass that first saw it so, whoever put it in
    drain: after our restart, too); and nothing about targets that are gone."""
    state = ctl.dataplane_state
    for key, st in plan.states.items():
        if st == DRAINING and key not in state.drain_since:
            state.drain_since[key] = now
            stopping = any(t.task_id == key[1] and t.draining for t in wanted.get(key[0], []))
            ctl.actions.record(
                "TargetGroup",
                key[0],
                "target.drain",
                "task stopping" if stopping else "no task stands for it",
                task=key[1],
            )
    live = set(plan.states) | set(current)
    for kept in (state.drain_since, state.registered_at):
        for key in [k for k in kept if k not in live]:
            del kept[key]
    state.activated &= live


def _share_states(ctl: Controller, plan: TargetPlan) -> None:
    """Target states per task, for the services. A target stays registered (its task is not
    stopped) until its servers are gone."""
    states: dict[str, dict[str, str]] = {}
    for (group, task_id), st in plan.states.items():
        states.setdefault(task_id, {})[group] = st
    _share_targets(ctl, states)


def _share_targets(ctl: Controller, states: dict[str, dict[str, str]]) -> None:
    """Publishes target states per task; the services and groups whose tasks changed look
    again."""
    before = ctl.target_states
    ctl.target_states = states
    changed = {t for t in states.keys() | before.keys() if states.get(t) != before.get(t)}
    if changed:
        owners = {(t.owner_kind, t.owner) for i, t in ctl.observed_tasks().items() if i in changed}
        owners |= {
            (x.owner_kind, x.owner) for i, x in ctl.observed_instances().items() if i in changed
        }
        for key in owners:
            ctl.queue.add(key)


def _report(
    ctl: Controller,
    lbs: dict[str, LoadBalancerSpec],
    groups: dict[str, TargetGroupSpec],
    plan: TargetPlan,
    listener_errors: dict[tuple[str, int], str],
    stats: dict[str, Any],
    failures: dict[Key, str],
) -> None:
    address = ctl.settings.lb_address
    for name, spec in lbs.items():
        listeners = []
        for lst in spec.listeners:
            err = listener_errors.get((name, lst.port), "")
            listeners.append(
                {
                    "port": lst.port,
                    "address": f"{address}:{lst.port}",
                    "state": "failed" if err else "active",
                    "message": err,
                }
            )
        bad = [f"listener {x['port']}: {x['message']}" for x in listeners if x["message"]]
        ctl.set_status(
            ("LoadBalancer", name),
            "ERROR" if bad else "ACTIVE",
            "; ".join(bad),
            listeners=listeners,
        )
    for group in groups:
        targets = [
            {"taskId": t, "state": st} for (g, t), st in sorted(plan.states.items()) if g == group
        ]
        s = stats.get(group)
        figures: dict[str, Any] = {}
        if s is not None:
            _count(ctl, group, s.requests, s.responses)
            ctl.metrics.target_group_response_time.labels(group).set(s.response_time_ms / 1000)
            figures = {
                "requests": s.requests,
                "responses": s.responses,
                "responseTimeMs": s.response_time_ms,
            }
        for st in TARGET_STATES:
            ctl.metrics.target_group_targets.labels(group, st).set(
                sum(1 for x in targets if x["state"] == st)
            )
        trouble = [f"target {t}: {why}" for (g, t), why in sorted(failures.items()) if g == group]
        ctl.set_status(
            ("TargetGroup", group), "ACTIVE", "; ".join(trouble), targets=targets, **figures
        )
    _forget_deleted(ctl, lbs, groups)


def _forget_deleted(
    ctl: Controller, lbs: dict[str, LoadBalancerSpec], groups: dict[str, TargetGroupSpec]
) -> None:
    """Statuses and metrics of load balancers and groups whose manifests are gone."""
    m = ctl.metrics
    for key in list(ctl.status):
        kind, name = key
        if kind == "LoadBalancer" and key != ALL_BALANCERS and name not in lbs:
            ctl.forget_status(key)
        elif kind == "TargetGroup" and name not in groups:
            ctl.forget_status(key)
            _, codes = ctl.dataplane_state.counted.pop(name, (0, {}))
            series: list[tuple[Any, tuple[str, ...]]] = [
                (m.target_group_requests, (name,)),
                (m.target_group_response_time, (name,)),
                *((m.target_group_targets, (name, st)) for st in TARGET_STATES),
                *((m.target_group_responses, (name, code)) for code in codes),
            ]
            for metric, labels in series:
                try:
                    metric.remove(*labels)
                except KeyError:
                    pass


def _count(ctl: Controller, group: str, requests: int, responses: dict[str, int]) -> None:
    """HAProxy's counters restart with each reload; Prometheus' must only grow."""
    last_requests, last_responses = ctl.dataplane_state.counted.get(group, (0, {}))
    grew = requests - last_requests if requests >= last_requests else requests
    ctl.metrics.target_group_requests.labels(group).inc(grew)
    for code, n in responses.items():
        before = last_responses.get(code, 0)
        ctl.metrics.target_group_responses.labels(group, code).inc(n - before if n >= before else n)
    ctl.dataplane_state.counted[group] = (requests, dict(responses))
