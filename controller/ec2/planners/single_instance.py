"""Planner of one `Instance` resource: launch it, stop and start it, terminate it.

Pure: plan_instance(desired, views of its instances, hosts, now, ...) -> FleetPlan.

- The goal is the manifest's desiredState, or what the API asked since its last edit:
  running, stopped or terminated.
- A stop is a shutdown: SIGTERM, then SIGKILL after the stop timeout; the container and its
  `ebs` volume stay, `instance-store` data goes with it. Start runs the same container again.
- The instance shutting itself down (its command exits) follows
  instanceInitiatedShutdownBehavior: it becomes stopped, or terminated; the goal then follows.
- Terminated instances stay listed for an hour. A terminated instance is not replaced until the
  manifest is edited again; an edit that changes its launch settings replaces it.
- An instance stays on its host (its volume lives there): when that host is lost it is shown
  impaired, and it carries on when the host returns.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

from controller.core.instances.instance import (
    Actions,
    FleetPlan,
    InstanceView,
    Launch,
    Placer,
)
from controller.core.placement import HostSlot, Need

SHUTDOWN = "Client.InstanceInitiatedShutdown: Instance initiated shutdown"


@dataclass(frozen=True)
class InstanceDesired:
    name: str
    template: str  # name:N, or inline:<hash>
    goal: str  # running | stopped | terminated
    shutdown_behavior: str  # stop | terminate
    zone: str | None
    need: Need


def plan_instance(
    desired: InstanceDesired | None,
    views: Sequence[InstanceView],
    hosts: Sequence[HostSlot],
    *,
    now: float,
    listed: Set[str] = frozenset(),
    in_flight: Set[str] = frozenset(),
    starting: Set[str] = frozenset(),
) -> FleetPlan:
    """`desired` None: the manifest is gone, so its instance is terminated. `listed`: hosts
    whose containers are known; `in_flight`: instances being created; `starting`: instances
    started whose start is not observed yet (their old exit is no shutdown)."""
    a = Actions(now)
    lost = {h.name for h in hosts if h.lost}
    current: InstanceView | None = None
    for v in views:
        r = a.record(v)
        if r.terminated_at is not None:
            if v.container is not None and v.host not in lost:
                a.remove_stale(v)
            else:
                a.age_out(v)
        elif v.container is None and v.host in listed and v.instance_id not in in_flight:
            a.update(
                v,
                desired_state="terminated",
                terminated_at=now,
                state_reason="its container was removed outside Skiff",
            )
        elif current is None:
            current = v
        else:
            _terminate(a, v, "a second instance of the same resource")  # never expected
    goal = desired.goal if desired else "terminated"
    if current is not None:
        if desired is not None and a.record(current).template != desired.template:
            _terminate(a, current, f"replaced: the manifest now launches {desired.template}")
            current = None
        elif current.host in lost:
            a.notes.append(f"host {current.host} is unreachable; the instance waits for it")
        else:
            goal = _converge(a, current, goal, desired, current.instance_id in starting)
            if a.record(current).terminated_at is None:
                return a.build(views)
    if desired is not None and goal == "running" and current is None:
        zones = [desired.zone] if desired.zone else None
        host, why = Placer(hosts, desired.need).pick(zones)
        if host is None:
            a.notes.append(f"cannot launch the instance: {why}")
        else:
            zone = next(h.zone for h in hosts if h.name == host)
            a.launches.append(Launch(zone, host, "user request"))
    return a.build(views)


def _converge(
    a: Actions, v: InstanceView, goal: str, desired: InstanceDesired | None, starting: bool
) -> str:
    """Moves the instance toward `goal`; returns the goal, changed if the instance shut down."""
    r, c = a.record(v), v.container
    if goal == "terminated" or r.desired_state == "terminated":
        _terminate(a, v, "user initiated" if desired else "the manifest was removed")
        return "terminated"
    if goal == "stopped":
        if r.desired_state != "stopped":
            a.update(
                v, desired_state="stopped", stop_requested_at=None, state_reason="User initiated"
            )
        a.halt(v)
        return goal
    if r.desired_state == "stopped":  # start it again
        a.update(v, desired_state="running", stop_requested_at=None, state_reason="")
        a.start(v)
        return goal
    if c is not None and c.state == "created" and not c.failed_to_start:
        a.start(v)
    elif c is not None and (c.exited or c.failed_to_start) and not starting:
        reason = f"Server.InternalError: {c.error}" if c.failed_to_start and c.error else SHUTDOWN
        behavior = desired.shutdown_behavior if desired else "terminate"
        if behavior == "terminate":
            _terminate(a, v, reason)
            a.goal = "terminated"
        else:
            a.update(v, desired_state="stopped", state_reason=reason)
            a.goal = "stopped"
        return a.goal
    return goal


def _terminate(a: Actions, v: InstanceView, reason: str) -> None:
    if a.record(v).desired_state != "terminated":
        a.activities.append((v.instance_id, f"Terminating instance {v.instance_id}", reason))
        a.update(v, state_reason=reason)
    a.finish_terminating(v)
