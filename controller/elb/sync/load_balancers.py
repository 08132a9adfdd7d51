"""Load balancer sync: one key for the whole data plane (one HAProxy serves every load balancer).

It builds the configuration from the LoadBalancer and TargetGroup manifests and the services'
tasks (lb_targets), starts the data plane when it is not running (after the daemon's restart or
HAProxy's death), reloads it seamlessly only when listeners, rules or groups change, and
otherwise moves targets in and out without a reload. It reads target states back, shares them
with the services (a task is healthy once its targets are; it is stopped once drained) and
reports status and metrics (lb_status). Listeners that cannot work (a port taken or another
LoadBalancer's, a group missing, a configuration the data plane refuses) are left out and
reported on their LoadBalancer; the others keep serving, and targets keep moving whatever the
configuration's trouble. It says all of this through the typed `DataPlane`, the manifests
translated into the data plane's values (planners/data_plane.py): it never words an HAProxy
command or configuration line, reads its files or binds a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import structlog

from controller.core import targets
from controller.dataplane import (
    PRIMARY,
    CommandRefused,
    Configuration,
    DataPlane,
    DataPlaneError,
    Key,
    Server,
    Target,
    TargetGroup,
    UnsafeValue,
)
from controller.elb.models.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.elb.planners.data_plane import load_balancer, target_group
from controller.elb.planners.load_balancer import (
    DRAINING,
    HEALTHY,
    INITIAL,
    UNHEALTHY,
    TargetPlan,
    plan_targets,
)
from controller.elb.sync.state import elb_state
from controller.elb.sync.status import (
    ALL_BALANCERS,
    forget_deleted,
    report,
    share_states,
    share_targets,
)
from controller.elb.sync.targets import known_ids, wanted_targets
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

DATA_PLANE: ResourceKey = targets.PASS
POLL_BUSY, POLL_IDLE = 1.0, 5.0  # seconds between looks at target health

log = structlog.get_logger("skiff.lb")


def sync_load_balancers(ctl: Context) -> float | None:
    try:
        return _sync(ctl)
    except UnsafeValue as exc:  # validation keeps such values out: a last line of defence
        message = f"a value cannot be written to HAProxy's configuration: {exc}"
        ctl.set_status(ALL_BALANCERS, "ERROR", message)
        log.warning("dataplane.unsafe", error=str(exc))
        return POLL_BUSY


def _sync(ctl: Context) -> float | None:
    lbs: dict[str, LoadBalancerSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "LoadBalancer"
    }
    groups: dict[str, TargetGroupSpec] = {
        k[1]: r.spec for k, r in ctl.desired.items() if k[0] == "TargetGroup"
    }
    dp, state = ctl.dataplane(), elb_state(ctl)
    if not lbs and not groups:
        if dp.running():
            dp.stop()
            ctl.actions.record("LoadBalancer", "*", "dataplane.stop", "no load balancer left")
        share_targets(ctl, {})
        forget_deleted(ctl, lbs, groups)
        ctl.forget_status(ALL_BALANCERS)
        return None
    now = ctl.clock()
    known = known_ids(ctl)  # target ids: task ids and instance ids

    def read() -> dict[Key, Server]:
        return _owned(ctl, dp.targets(known), known, now)

    try:
        current = read() if dp.running() else {}
    except DataPlaneError:
        current = {}
    for key, server in current.items():  # serving now: no need to wait for a check again
        if server.up and server.checked and server.admin == "ready":
            state.activated.add(key)
    wanted, owners = wanted_targets(ctl, groups, current)
    state.owners.update(owners)
    if state.structure is not None:
        bound = state.structure.bound_ports()
    else:  # our restart: what HAProxy serves is what it was last given
        bound = dp.bound_ports() if dp.running() else {}
    order = sorted(lbs, key=lambda n: _place(ctl, ("LoadBalancer", n)))
    skip, listener_errors = _listener_problems(
        dp, lbs, order, groups, bound, ctl.settings.lb_address
    )

    # The manifests in the data plane's words, once per pass.
    served = {n: load_balancer(s) for n, s in lbs.items()}
    backends = {g: target_group(s) for g, s in groups.items()}

    def configuration(
        targets: dict[str, list[Target]], left_out: set[tuple[str, int]]
    ) -> Configuration:
        return Configuration(
            ctl.settings.lb_address, served, backends, targets, frozenset(left_out), ctl.lb_threads
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
        removed, failures = _apply_targets(ctl, plan, backends, now)
        stats = dp.counters()
        times = dp.response_times()
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
    share_states(ctl, plan)
    report(ctl, lbs, groups, plan, listener_errors, stats, failures, times)
    busy = any(s in (INITIAL, DRAINING, UNHEALTHY) for s in plan.states.values())
    return POLL_BUSY if busy or failures or not plan.is_noop() else POLL_IDLE


def _initial_window(group: TargetGroupSpec) -> float:
    """How long a new target may fail checks before it counts as unhealthy: time for the
    unhealthy threshold of failures, then the healthy threshold of passes."""
    hc = group.health_check
    return (hc.unhealthy_threshold_count + hc.healthy_threshold_count) * hc.interval_seconds + (
        hc.timeout_seconds
    )


def _place(ctl: Context, key: ResourceKey) -> tuple[str, int, str]:
    res = ctl.desired[key]
    return (res.source, res.document, res.name)


def _owned(
    ctl: Context, current: dict[Key, Server], known: set[str], now: float
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
            alone = {lb_name: replace(spec, listeners=(listener,))}
            complaint = dp.check(replace(config, load_balancers=alone, skip=frozenset()))
            if complaint:
                why = f"the configuration was refused: {complaint}"
                refused.append(((lb_name, listener.port), why))
    return refused


# --- doing it ------------------------------------------------------------------------------------


def _apply_config(
    ctl: Context, config: Configuration, structure: Configuration, complaint: str | None
) -> None:
    dp, state = ctl.dataplane(), elb_state(ctl)
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
    ctl: Context,
    plan: TargetPlan,
    groups: dict[str, TargetGroup],
    now: float,
) -> tuple[set[Key], dict[Key, str]]:
    """Runs the plan's steps; returns the targets whose servers are gone, and the targets a
    step failed for (the data plane's answer, or why a value could not be said to it), whose
    later steps wait for the next pass. Only a server already gone is taken for removed; a
    data plane that does not answer fails the pass (DataPlaneError)."""
    dp, state = ctl.dataplane(), elb_state(ctl)
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
    ctl: Context,
    plan: TargetPlan,
    current: dict[Key, Server],
    wanted: dict[str, list[Target]],
    now: float,
) -> None:
    """Since when each target drains (from the pass that first saw it so, whoever put it in
    drain: after our restart, too); and nothing about targets that are gone."""
    state = elb_state(ctl)
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
