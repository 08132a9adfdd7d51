"""Auto Scaling group planner: launches, lifecycle, health, scale-in and rebalancing, as EC2 Auto
Scaling does them.

Pure: plan_group(desired, instance views, hosts, now, ...) -> FleetPlan, whose record updates
and Docker actions the executor carries out.

- Lifecycle: Pending -> (launch hook: Pending:Wait until completed or its heartbeat timeout,
  then its result) -> InService -> Terminating -> (terminate hook: Terminating:Wait) ->
  Terminating:Proceed -> Terminated.
- Capacity: desiredCapacity instances alive, each launched into the zone with the fewest; a
  surplus is scaled in by the termination policies once no launch is pending.
- Termination policies, in AWS's order: the zone with the most instances (having one not
  protected from scale-in) first; then each policy in turn narrows the candidates (Default:
  OldestLaunchTemplate, then ClosestToNextInstanceHour); then a seeded random pick.
- Health: an InService instance past its grace period is Unhealthy when its last status check
  said impaired (EC2) or, with ELB checks, a target of it is unhealthy; it is then replaced.
- Zones stay balanced: a gap of more than one instance launches into the smallest zone first
  (up to 10% or one instance over maxSize); the surplus is then scaled in from the largest.
- Instance refresh: instances on another template version are replaced in batches that keep
  minHealthyPercentage of the capacity in service (at least one instance at a time).
- Suspended processes (Launch, Terminate, HealthCheck, ReplaceUnhealthy, AZRebalance,
  AddToLoadBalancer, InstanceRefresh) switch off their part.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass

from controller.autoscaling.models.group import LifecycleHook
from controller.core.instances.instance import (
    IMPAIRED,
    RUNNING,
    Actions,
    FleetPlan,
    InstanceView,
    Launch,
    Placer,
)
from controller.core.placement import HostSlot, Need
from controller.store.records import InstanceRecord

ALIVE = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
TERMINATING = ("Terminating", "Terminating:Wait", "Terminating:Proceed")
SCALE_IN = (
    "an instance was taken out of service in response to a difference between desired and "
    "actual capacity, shrinking the capacity"
)


@dataclass(frozen=True)
class GroupDesired:
    name: str
    capacity: int
    min_size: int
    max_size: int
    zones: tuple[str, ...]
    version: str  # template:N that new instances run
    need: Need  # CPU units and MiB an instance reserves on a host
    health_check_type: str = "EC2"
    grace: float = 0.0
    policies: tuple[str, ...] = ("Default",)
    protect_new: bool = False
    launch_hook: LifecycleHook | None = None
    terminate_hook: LifecycleHook | None = None
    suspended: frozenset[str] = frozenset()
    refresh_min_healthy: int = 90


def plan_group(
    desired: GroupDesired,
    views: Sequence[InstanceView],
    hosts: Sequence[HostSlot],
    *,
    now: float,
    checks: Mapping[str, str] | None = None,
    target_states: Mapping[str, Mapping[str, str]] | None = None,
    listed: Set[str] = frozenset(),
    in_flight: Set[str] = frozenset(),
    starting: Set[str] = frozenset(),
    seed: int = 0,
) -> FleetPlan:
    """`checks`: each instance's last status check; `listed`: hosts whose containers are known
    (an instance missing there is gone); `in_flight`: instances being created right now."""
    b = _Group(now, desired, checks or {}, target_states or {}, starting)
    lost = {h.name for h in hosts if h.lost}
    zone_of = {h.name: h.zone for h in hosts}
    live = [v for v in views if b.sweep(v, triage(v, b.record(v), lost, listed, in_flight))]
    for v in live:
        b.lifecycle(v)
    for v in live:
        if b.record(v).lifecycle_state == "InService":
            b.health(v)

    alive = [v for v in live if b.record(v).lifecycle_state in ALIVE]
    pending = [v for v in alive if b.record(v).lifecycle_state != "InService"]
    leaving = [v for v in live if b.record(v).lifecycle_state in TERMINATING]

    def zone(v: InstanceView) -> str:
        return zone_of.get(v.host, b.record(v).zone)

    counts = {z: sum(1 for v in alive if zone(v) == z) for z in desired.zones}
    usable = usable_zones(desired.zones, hosts)
    own: dict[str, int] = {}
    for v in alive:
        own[v.host] = own.get(v.host, 0) + 1
    placer = Placer(hosts, desired.need, own)
    missing = desired.capacity - len(alive)
    settled = missing == 0 and not pending and not leaving
    low = rebalance_zone(desired, counts, usable, len(alive)) if settled else None
    if missing > 0 and "Launch" not in desired.suspended:
        b.launch(
            missing,
            usable,
            counts,
            placer,
            "an instance was started in response to a "
            "difference between desired and actual capacity, increasing the capacity",
        )
    elif low is not None:
        b.launch(1, [low], counts, placer, "an instance was launched to rebalance the zones")
    excess = len(alive) - desired.capacity
    if excess > 0 and not pending and "Terminate" not in desired.suspended:
        candidates = [v for v in alive if not b.record(v).protected]
        rng = random.Random(seed)
        for v in choose_victims(candidates, excess, desired, counts, zone, now, rng):
            b.terminate(v, SCALE_IN)
    elif settled and "InstanceRefresh" not in desired.suspended:
        for v in refresh_batch(desired, alive, b.record):
            b.terminate(v, f"an instance refresh is replacing it with {desired.version}")
    return b.build(views)


LIVE, REMOVE_STALE, AGE_OUT, PROCEED, GONE = "live", "remove-stale", "age-out", "proceed", "gone"


def triage(
    v: InstanceView,
    r: InstanceRecord,
    lost: Set[str],
    listed: Set[str],
    in_flight: Set[str],
) -> tuple[str, str]:
    """What becomes of an instance before its lifecycle moves on, and why: a Terminated one's
    leftover container is removed (or its record ages out); one whose host is lost, or whose
    container was removed outside Skiff, is GONE (replaced), unless it was terminating anyway
    (then it proceeds); the rest are LIVE."""
    state = r.lifecycle_state
    if state == "Terminated":
        return (REMOVE_STALE if v.container is not None and v.host not in lost else AGE_OUT), ""
    if v.host in lost and state not in TERMINATING:
        return GONE, f"its host {v.host} is unreachable"
    if v.container is None and v.host in listed and v.instance_id not in in_flight:
        if state in TERMINATING:
            return PROCEED, ""
        return GONE, "its container was removed outside Skiff"
    return LIVE, ""


def usable_zones(zones: Sequence[str], hosts: Sequence[HostSlot]) -> list[str]:
    """The group's zones with a host that is up and not draining: launches go only there."""
    return [z for z in zones if any(h.zone == z and h.up and not h.draining for h in hosts)]


def rebalance_zone(
    desired: GroupDesired, counts: Mapping[str, int], usable: Sequence[str], alive: int
) -> str | None:
    """AZRebalance, once the group is at its capacity with nothing pending or terminating:
    when the usable zones differ by more than one instance, the smallest gets a launch (the
    surplus is then scaled in from the largest), while the group stays under maxSize plus
    10% (at least one)."""
    if len(usable) <= 1 or {"AZRebalance", "Launch"} & desired.suspended:
        return None
    low = min(usable, key=lambda z: (counts[z], z))
    high = max(usable, key=lambda z: (counts[z], z))
    headroom = desired.max_size + max(1, desired.max_size // 10)
    return low if counts[high] - counts[low] > 1 and alive < headroom else None


def refresh_batch(
    desired: GroupDesired,
    alive: Sequence[InstanceView],
    record: Callable[[InstanceView], InstanceRecord],
) -> list[InstanceView]:
    """Instance refresh: the instances on another template version to replace now, oldest
    first, as many as keep minHealthyPercentage of the capacity Healthy (at least one)."""
    old = [v for v in alive if record(v).template != desired.version]
    serving = [v for v in alive if record(v).health == "Healthy"]
    floor = math.ceil(desired.capacity * desired.refresh_min_healthy / 100)
    batch = max(1, len(serving) - floor)
    return sorted(old, key=lambda v: (record(v).launched_at, v.instance_id))[:batch]


def unhealthy_cause(
    desired: GroupDesired,
    r: InstanceRecord,
    check: str | None,
    targets: Mapping[str, str],
    now: float,
) -> tuple[str, float | None]:
    """Why an InService instance is Unhealthy ("" if it is not), and, within its health check
    grace period, when that ends: an EC2 status check said impaired, or, with ELB checks, one
    of its targets is unhealthy."""
    grace_ends = (r.in_service_at or r.launched_at) + desired.grace
    if "HealthCheck" in desired.suspended:
        return "", None
    if now < grace_ends:
        return "", grace_ends
    if check == IMPAIRED:
        return "an EC2 health check indicating it has been terminated, stopped or impaired", None
    if desired.health_check_type == "ELB" and "unhealthy" in targets.values():
        return "an ELB system health check failure", None
    return "", None


def retire_group(
    views: Sequence[InstanceView],
    hosts: Sequence[HostSlot],
    *,
    now: float,
    listed: Set[str] = frozenset(),
    in_flight: Set[str] = frozenset(),
) -> FleetPlan:
    """The group's manifest is gone: every instance is terminated (protection and hooks do
    not hold, as with a forced delete) and dropped from the listing once gone."""
    retired = GroupDesired("", 0, 0, 0, (), "", Need(0, 0), suspended=frozenset({"Launch"}))
    b = _Group(now, retired, {}, {}, frozenset())
    lost = {h.name for h in hosts if h.lost}
    for v in views:
        r = b.record(v)
        if r.lifecycle_state == "Terminated" or v.host in lost:
            if v.container is not None and v.host not in lost:
                b.remove_stale(v)
            else:
                b.forget.append(v.instance_id)
        elif v.container is None and (v.host in listed and v.instance_id not in in_flight):
            b.forget.append(v.instance_id)
        elif r.lifecycle_state in TERMINATING:
            b.proceed(v)
        else:
            b.terminate(v, "the Auto Scaling group was deleted", hooks=False)
    return b.build(views)


def choose_victims(
    candidates: Sequence[InstanceView],
    n: int,
    desired: GroupDesired,
    counts: Mapping[str, int],
    zone: Callable[[InstanceView], str],
    now: float,
    rng: random.Random,
) -> list[InstanceView]:
    """The n instances scale-in terminates, in AWS's order (zone first, then the policies)."""
    counts = dict(counts)
    pool = list(candidates)
    chosen: list[InstanceView] = []
    for _ in range(n):
        if not pool:
            break
        biggest = max({zone(v) for v in pool}, key=lambda z: (counts.get(z, 0), z))
        left = [v for v in pool if zone(v) == biggest]
        for policy in desired.policies:
            for step in POLICY_STEPS[policy]:
                if len(left) > 1:
                    left = step(left, desired.version, now)
        ordered = sorted(left, key=lambda v: v.instance_id)
        victim = ordered[0] if len(ordered) == 1 else rng.choice(ordered)
        chosen.append(victim)
        pool.remove(victim)
        counts[biggest] = counts.get(biggest, 0) - 1
    return chosen


Step = Callable[[list[InstanceView], str, float], list[InstanceView]]


def _version(v: InstanceView) -> int:
    _, _, number = v.record.template.rpartition(":")
    return int(number) if number.isdigit() else 0


def _oldest_template(left: list[InstanceView], current: str, now: float) -> list[InstanceView]:
    """Instances on a template version other than the group's, the oldest version first."""
    old = [v for v in left if v.record.template != current]
    if not old:
        return left
    lowest = min(_version(v) for v in old)
    return [v for v in old if _version(v) == lowest]


def _oldest(left: list[InstanceView], current: str, now: float) -> list[InstanceView]:
    first = min(v.record.launched_at for v in left)
    return [v for v in left if v.record.launched_at == first]


def _newest(left: list[InstanceView], current: str, now: float) -> list[InstanceView]:
    last = max(v.record.launched_at for v in left)
    return [v for v in left if v.record.launched_at == last]


def _closest_to_hour(left: list[InstanceView], current: str, now: float) -> list[InstanceView]:
    """The instances furthest into their current billing hour."""

    def into_hour(v: InstanceView) -> int:
        return int(now - v.record.launched_at) % 3600

    best = max(into_hour(v) for v in left)
    return [v for v in left if into_hour(v) == best]


POLICY_STEPS: dict[str, tuple[Step, ...]] = {
    "Default": (_oldest_template, _closest_to_hour),
    "OldestLaunchTemplate": (_oldest_template,),
    "OldestInstance": (_oldest,),
    "NewestInstance": (_newest,),
    "ClosestToNextInstanceHour": (_closest_to_hour,),
}


class _Group(Actions):
    def __init__(
        self,
        now: float,
        desired: GroupDesired,
        checks: Mapping[str, str],
        targets: Mapping[str, Mapping[str, str]],
        starting: Set[str],
    ) -> None:
        super().__init__(now)
        self.desired, self.checks, self.targets = desired, checks, targets
        self.starting = starting

    def lifecycle(self, v: InstanceView) -> None:
        r = self.record(v)
        hook = self.desired.launch_hook
        if r.desired_state == "terminated" and r.lifecycle_state in ALIVE:
            self.terminate(v, "an instance was taken out of service in response to a user request")
            return
        if r.desired_state == "stopped" and r.lifecycle_state in ALIVE:
            self.halt(v)  # stopped through the API: the health check replaces it
            return
        if r.lifecycle_state == "Pending":
            c = v.container
            if (
                c is not None
                and (c.exited or c.failed_to_start)
                and v.instance_id not in self.starting
            ):
                why = c.error or f"it exited with code {c.exit_code}"
                self.terminate(v, f"the instance failed to start: {why}", hooks=False)
            elif c is not None and c.state == "created":
                self.start(v)
            elif v.state == RUNNING and hook is not None:
                self.update(
                    v,
                    lifecycle_state="Pending:Wait",
                    hook_deadline=self.now + hook.heartbeat_timeout,
                    hook_result="",
                )
                self.wake_at(self.now + hook.heartbeat_timeout)
            elif v.state == RUNNING:
                self.update(v, lifecycle_state="InService", in_service_at=self.now)
        elif r.lifecycle_state == "Pending:Wait":
            timed_out = r.hook_deadline is not None and self.now >= r.hook_deadline
            result = r.hook_result or (
                "CONTINUE" if hook is None else hook.default_result if timed_out else ""
            )
            if result == "CONTINUE":
                self.update(
                    v, lifecycle_state="InService", hook_deadline=None, in_service_at=self.now
                )
            elif result == "ABANDON":
                self.terminate(v, "its launch lifecycle hook was abandoned", hooks=False)
            elif r.hook_deadline is not None:
                self.wake_at(r.hook_deadline)
        elif r.lifecycle_state in TERMINATING:
            self.proceed(v)

    def sweep(self, v: InstanceView, fate: tuple[str, str]) -> bool:
        """Carries out triage's verdict; True for an instance still live."""
        what, why = fate
        if what == REMOVE_STALE:
            self.remove_stale(v)
        elif what == AGE_OUT:
            self.age_out(v)
        elif what == PROCEED:
            self.proceed(v)
        elif what == GONE:
            self.gone(v, why)
        return what == LIVE

    def health(self, v: InstanceView) -> None:
        r, d = self.record(v), self.desired
        why, wake = unhealthy_cause(
            d, r, self.checks.get(v.instance_id), self.targets.get(v.instance_id, {}), self.now
        )
        if wake is not None:
            self.wake_at(wake)
        if not why:
            return
        if r.health != "Unhealthy":
            self.update(v, health="Unhealthy")
        if "ReplaceUnhealthy" not in d.suspended:
            self.terminate(v, f"an instance was taken out of service in response to {why}")

    def launch(
        self,
        count: int,
        zones: Sequence[str],
        counts: dict[str, int],
        placer: Placer,
        cause: str,
    ) -> None:
        for _ in range(count):
            reasons = []
            for zone in sorted(zones, key=lambda z: (counts.get(z, 0), z)):
                host, why = placer.pick([zone])
                if host is not None:
                    self.launches.append(Launch(zone, host, cause))
                    counts[zone] = counts.get(zone, 0) + 1
                    break
                reasons.append(f"{zone}: {why}")
            else:
                self.notes.append(
                    "cannot launch an instance: " + "; ".join(reasons)
                    if reasons
                    else "cannot launch an instance: none of the group's zones has a usable host"
                )
                return

    def terminate(self, v: InstanceView, cause: str, hooks: bool = True) -> None:
        r = self.record(v)
        if r.lifecycle_state in (*TERMINATING, "Terminated"):
            return
        self.activities.append((v.instance_id, f"Terminating EC2 instance: {v.instance_id}", cause))
        hook = self.desired.terminate_hook if hooks else None
        if hook is not None:
            self.update(
                v,
                lifecycle_state="Terminating:Wait",
                state_reason=cause,
                hook_deadline=self.now + hook.heartbeat_timeout,
                hook_result="",
            )
        else:
            self.update(v, lifecycle_state="Terminating", state_reason=cause)
        self.proceed(v)

    def proceed(self, v: InstanceView) -> None:
        """Moves a terminating instance on: its hook, its targets' draining, then shutdown."""
        r = self.record(v)
        if r.lifecycle_state == "Terminating:Wait":
            if not r.hook_result and (r.hook_deadline is None or self.now < r.hook_deadline):
                if r.hook_deadline is not None:
                    self.wake_at(r.hook_deadline)
                return
            r = self.update(v, lifecycle_state="Terminating:Proceed", hook_deadline=None)
        if self.targets.get(v.instance_id) and v.container is not None:
            self.wake_at(self.now + 1.0)  # deregistered from its target groups first
            return
        self.finish_terminating(v, lifecycle_state="Terminated")

    def gone(self, v: InstanceView, why: str) -> None:
        """It is gone without Skiff (its host is lost, its container removed): replace it."""
        self.activities.append((v.instance_id, f"Terminating EC2 instance: {v.instance_id}", why))
        self.update(
            v,
            lifecycle_state="Terminated",
            desired_state="terminated",
            health="Unhealthy",
            terminated_at=self.now,
            state_reason=why,
        )


__all__ = [
    "ALIVE",
    "TERMINATING",
    "GroupDesired",
    "choose_victims",
    "plan_group",
    "rebalance_zone",
    "refresh_batch",
    "retire_group",
    "triage",
    "unhealthy_cause",
    "usable_zones",
]
