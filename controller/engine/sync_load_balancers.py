"""Load balancer sync: one key for the whole data plane (one HAProxy serves every load balancer).

It renders the configuration from the LoadBalancer and TargetGroup manifests and the services'
tasks, starts HAProxy when it is not running (after the daemon's restart or HAProxy's death),
reloads it seamlessly only when listeners, rules or groups change, and otherwise moves targets
in and out through the runtime API. It reads target states back, shares them with the
services (a task is healthy once its targets are; it is stopped once drained) and reports
status and metrics. Listeners that cannot work (a port taken, a group missing) are left out
and reported; the others keep serving.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from controller.dataplane import DataPlaneError
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
    UNHEALTHY,
    Server,
    Target,
    TargetPlan,
    backend,
    backup_name,
    plan_targets,
    render,
    server_name,
)
from controller.reconcilers.task_state import RUNNING, STOPPED, view_task
from controller.state.observed import ObservedTask

if TYPE_CHECKING:
    from controller.engine.controller import Controller

DATA_PLANE: ResourceKey = ("DataPlane", "haproxy")
POLL_BUSY, POLL_IDLE = 1.0, 5.0  # seconds between looks at target health

log = structlog.get_logger("skiff.lb")


@dataclass
class DataPlaneState:
    """What the daemon remembers between passes (none of it is needed across restarts)."""

    structure: str | None = None  # the configuration without targets, as last applied
    activated: set[tuple[str, str]] = field(default_factory=set)  # targets that passed a check
    drain_since: dict[tuple[str, str], float] = field(default_factory=dict)
    registered_at: dict[tuple[str, str], float] = field(default_factory=dict)
    counted: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)  # for deltas


def sync_load_balancers(ctl: Controller) -> float | None:
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
        ctl.target_states = {}
        return None
    now = ctl.clock()
    tasks = ctl.observed_tasks()
    instances = ctl.observed_instances()
    known = {**tasks, **instances}  # target ids: task ids and instance ids
    try:
        current = _current(dp.servers(), known) if dp.running() else {}
    except DataPlaneError:
        current = {}
    for key, server in current.items():  # serving now: no need to wait for a check again
        if server.up and server.checked and server.admin == "ready":
            state.activated.add(key)
    wanted = _wanted(ctl, groups, tasks, current)
    _add_instances(ctl, wanted, instances, current)
    applied = state.structure
    if applied is None and dp.running():  # our restart: what HAProxy serves is on disk
        applied = dp.current_config()
    skip, listener_errors = _listener_problems(lbs, groups, applied or "", ctl.settings.lb_address)
    used = {
        g
        for lb_name, spec in lbs.items()
        for g in spec.target_groups()
        if any((lb_name, lst.port) not in skip for lst in spec.listeners)
    }

    def configuration(targets: dict[str, list[Target]]) -> str:
        return render(
            admin_socket=dp.admin_socket(),
            bind_address=ctl.settings.lb_address,
            load_balancers=lbs,
            groups=groups,
            targets=targets,
            skip=frozenset(skip),
        )

    structure = configuration({})  # what a change of needs a reload
    config = configuration(wanted)
    try:
        _apply_config(ctl, config, structure)
        current = _current(dp.servers(), known)
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
        )
        _apply_targets(ctl, plan, wanted, now)
        stats = dp.backend_stats()
    except DataPlaneError as exc:
        ctl.set_status(("LoadBalancer", "*"), "ERROR", str(exc))
        log.warning("dataplane.error", error=str(exc))
        return POLL_BUSY
    _share_states(ctl, plan)
    _report(ctl, lbs, groups, plan, listener_errors, stats)
    busy = any(s in (INITIAL, DRAINING, UNHEALTHY) for s in plan.states.values())
    return POLL_BUSY if busy or not plan.is_noop() else POLL_IDLE


def _initial_window(group: TargetGroupSpec) -> float:
    """How long a new target may fail checks before it counts as unhealthy: time for the
    unhealthy threshold of failures, then the healthy threshold of passes."""
    hc = group.health_check
    return (hc.unhealthy_threshold_count + hc.healthy_threshold_count) * hc.interval_seconds + (
        hc.timeout_seconds
    )


# --- what should be there --------------------------------------------------------------------


def _target_port(task: ObservedTask, container_port: int) -> int | None:
    for c in task.containers.values():  # the container itself, or an awsvpc task's sandbox
        for p in c.ports:
            if p.container_port == container_port and p.host_port:
                return p.host_port
    return None


def _wanted(
    ctl: Controller,
    groups: dict[str, TargetGroupSpec],
    tasks: dict[str, ObservedTask],
    current: dict[tuple[str, str], Server],
) -> dict[str, list[Target]]:
    """Targets per group: running tasks of services behind them, and tasks being stopped that
    are still registered (they drain)."""
    wanted: dict[str, list[Target]] = {g: [] for g in groups}
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    views = {}
    for t in tasks.values():
        rev = ctl.revision(t.revision)
        records = ctl.store.tasks(t.owner_kind, t.owner)
        views[t.id] = view_task(t, rev.spec if rev else None, records.get(t.id), ctl.clock())
    for key, res in ctl.desired.items():
        if key[0] != "Service":
            continue
        spec: ServiceSpec = res.spec
        for lb in spec.load_balancers:
            if lb.target_group not in wanted:
                continue
            for t in tasks.values():
                v = views[t.id]
                if (t.owner_kind, t.owner) != key or v.desired_status != RUNNING:
                    continue
                port = _target_port(t, lb.container_port)
                if v.last_status == RUNNING and port is not None and t.host in address:
                    wanted[lb.target_group].append(Target(t.id, address[t.host], port))
    for (group, task_id), server in current.items():
        found = views.get(task_id)
        serving = {x.task_id for x in wanted.get(group, [])}
        if (
            found is not None
            and found.desired_status == STOPPED
            and found.running_container_ids()
            and group in wanted
            and task_id not in serving
        ):
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
                    wanted[tg.target_group].append(Target(iid, address[seen.host], port))
                elif registered and r.lifecycle_state in TERMINATING:
                    server = current[(tg.target_group, iid)]
                    wanted[tg.target_group].append(
                        Target(iid, server.address, server.port, draining=True)
                    )


def _current(servers: list[Any], tasks: dict[str, Any]) -> dict[tuple[str, str], Server]:
    """The primary servers in each group, by (group, task id)."""
    by_short = {server_name(t): t for t in tasks}
    out = {}
    for s in servers:
        if not s.backend.startswith("tg_") or not s.name.startswith("t"):
            continue
        task_id = by_short.get(s.name, s.name)
        out[(s.backend[3:], task_id)] = Server(
            s.address, s.port, s.up, s.admin, s.checked, s.sessions
        )
    return out


def _listener_problems(
    lbs: dict[str, LoadBalancerSpec],
    groups: dict[str, TargetGroupSpec],
    applied: str,
    address: str,
) -> tuple[set[tuple[str, int]], dict[tuple[str, int], str]]:
    """Listeners left out, and why: a target group missing, or a port another process holds
    (ports HAProxy binds already, in the `applied` configuration, are ours)."""
    skip: set[tuple[str, int]] = set()
    errors: dict[tuple[str, int], str] = {}
    bound = set()
    for line in applied.splitlines():
        if line.strip().startswith("bind "):
            bound.add(int(line.rsplit(":", 1)[1]))
    for lb_name, spec in lbs.items():
        for listener in spec.listeners:
            key = (lb_name, listener.port)
            actions = [*listener.default_actions, *(r.actions[0] for r in listener.rules)]
            missing = sorted({g for a in actions for g, _ in a.target_groups() if g not in groups})
            if missing:
                skip.add(key)
                errors[key] = f"no TargetGroup named {missing[0]!r}"
            elif listener.port not in bound and not _port_free(address, listener.port):
                skip.add(key)
                errors[key] = f"port {listener.port} on {address} is already in use"
    return skip, errors


def _port_free(address: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


# --- doing it ------------------------------------------------------------------------------------


def _apply_config(ctl: Controller, config: str, structure: str) -> None:
    dp, state = ctl.dataplane(), ctl.dataplane_state
    complaint = dp.check(config)
    if complaint:
        raise DataPlaneError(f"the generated configuration was refused: {complaint}")
    if not dp.running():
        dp.write(config)
        dp.start()
        state.structure = structure
        ctl.actions.record("LoadBalancer", "*", "dataplane.start", "haproxy was not running")
    elif state.structure is None and dp.current_config() == config:
        state.structure = structure  # our restart, and HAProxy already serves just this
    elif structure != state.structure:
        dp.write(config)
        dp.reload()
        reason = "listeners, rules or groups changed" if state.structure else "daemon restarted"
        state.structure = structure
        ctl.actions.record("LoadBalancer", "*", "dataplane.reload", reason)
    else:
        dp.write(config)  # membership changes go through the runtime API; keep the file current


def _apply_targets(
    ctl: Controller, plan: TargetPlan, wanted: dict[str, list[Target]], now: float
) -> None:
    dp, state = ctl.dataplane(), ctl.dataplane_state
    for group, t in plan.add:
        be, primary, twin = backend(group), server_name(t.task_id), backup_name(t.task_id)
        dp.do(f"add server {be}/{primary} {t.address}:{t.port} check")
        dp.do(f"enable health {be}/{primary}")
        dp.do(f"set server {be}/{primary} state drain")  # initial: no traffic before a check
        dp.do(f"add server {be}/{twin} {t.address}:{t.port} backup")
        dp.do(f"enable server {be}/{twin}")
        state.registered_at[(group, t.task_id)] = now
        ctl.actions.record(
            "TargetGroup",
            group,
            "target.register",
            "task running",
            task=t.task_id,
            target=f"{t.address}:{t.port}",
        )
    for group, task_id in plan.ready:
        dp.do(f"set server {backend(group)}/{server_name(task_id)} state ready")
        state.activated.add((group, task_id))
    for group, task_id in plan.drain:
        if (group, task_id) in state.activated or _is_draining(wanted, group, task_id):
            for name in (server_name(task_id), backup_name(task_id)):
                dp.do(f"set server {backend(group)}/{name} state drain")
            state.drain_since.setdefault((group, task_id), now)
            if _is_draining(wanted, group, task_id):
                ctl.actions.record(
                    "TargetGroup", group, "target.drain", "task stopping", task=task_id
                )
        else:
            dp.do(f"set server {backend(group)}/{server_name(task_id)} state drain")
    for group, task_id in plan.remove:
        for name in (server_name(task_id), backup_name(task_id)):
            try:
                dp.do(f"set server {backend(group)}/{name} state maint")
                dp.do(f"del server {backend(group)}/{name}")
            except DataPlaneError:
                pass  # gone already (e.g. after a reload without it)
        state.activated.discard((group, task_id))
        state.drain_since.pop((group, task_id), None)
        state.registered_at.pop((group, task_id), None)
        ctl.actions.record("TargetGroup", group, "target.deregister", "drained", task=task_id)
    for key, st in plan.states.items():
        if st == HEALTHY:
            state.activated.add(key)


def _is_draining(wanted: dict[str, list[Target]], group: str, task_id: str) -> bool:
    return any(t.task_id == task_id and t.draining for t in wanted.get(group, []))


def _share_states(ctl: Controller, plan: TargetPlan) -> None:
    """Target states per task, for the services; services whose tasks changed look again."""
    removed = set(plan.remove)
    states: dict[str, dict[str, str]] = {}
    for (group, task_id), st in plan.states.items():
        if (group, task_id) not in removed:
            states.setdefault(task_id, {})[group] = st
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
        s = stats.get(backend(group))
        figures: dict[str, Any] = {}
        if s is not None:
            _count(ctl, group, s.requests, s.responses)
            ctl.metrics.target_group_response_time.labels(group).set(s.response_time_ms / 1000)
            figures = {
                "requests": s.requests,
                "responses": s.responses,
                "responseTimeMs": s.response_time_ms,
            }
        for st in ("initial", "healthy", "unhealthy", "draining", "unused"):
            ctl.metrics.target_group_targets.labels(group, st).set(
                sum(1 for x in targets if x["state"] == st)
            )
        ctl.set_status(("TargetGroup", group), "ACTIVE", "", targets=targets, **figures)


def _count(ctl: Controller, group: str, requests: int, responses: dict[str, int]) -> None:
    """HAProxy's counters restart with each reload; Prometheus' must only grow."""
    last_requests, last_responses = ctl.dataplane_state.counted.get(group, (0, {}))
    grew = requests - last_requests if requests >= last_requests else requests
    ctl.metrics.target_group_requests.labels(group).inc(grew)
    for code, n in responses.items():
        before = last_responses.get(code, 0)
        ctl.metrics.target_group_responses.labels(group, code).inc(n - before if n >= before else n)
    ctl.dataplane_state.counted[group] = (requests, dict(responses))
