"""Instances: the container an instance is, EC2's instance state derived from it, and the fleet
plan vocabulary (views, launches, signals, removals) that single instances and Auto Scaling
groups both plan in.

Pure. An instance is one container labelled with its instance id. Its instance type becomes a
hard CPU limit and a memory limit; its root volume is a named volume (`ebs`: kept across
stop/start, removed at termination) or a tmpfs (`instance-store`: gone at stop). User data runs
once, at first boot: a small `sh` wrapper runs it before the command and leaves a marker in the
container's own file system, which survives stop/start but not a new instance.

States follow EC2: pending, running, stopping, stopped, shutting-down, terminated; status checks
say `ok`, `initializing` or `impaired` (the container died, is stuck, or fails its Docker
health check).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.core import labels as L
from controller.core.container_settings import with_linux
from controller.core.placement import HostSlot, Need, Rules, place
from controller.manifests.launch_template_data import LaunchTemplateData
from controller.runtime.types import (
    ContainerInfo,
    ContainerSpec,
    HealthcheckSpec,
    PortBinding,
    TmpfsSpec,
)
from controller.store.records import InstanceRecord

INSTANCE_LABEL = "skiff.instance"
TEMPLATE_LABEL = "skiff.launch-template"
RESERVED_LABEL = L.RESERVED  # "cpu units,MiB" the instance holds on its host
USER_DATA_MARKER = "/.skiff-user-data-done"
STOP_TIMEOUT = 10.0  # seconds of SIGTERM before SIGKILL when an instance stops

PENDING, RUNNING, STOPPING, STOPPED = "pending", "running", "stopping", "stopped"
SHUTTING_DOWN, TERMINATED = "shutting-down", "terminated"
OK, INITIALIZING, IMPAIRED = "ok", "initializing", "impaired"

_WRAPPER = (
    f'if [ ! -e {USER_DATA_MARKER} ]; then printf "%s" "$SKIFF_USER_DATA" > /tmp/.skiff-user-data'
    f' && sh /tmp/.skiff-user-data; touch {USER_DATA_MARKER}; fi; exec "$@"'
)


def new_instance_id() -> str:
    """EC2's form: i- and 17 hex digits."""
    return "i-" + secrets.token_hex(9)[:17]


def volume_name(instance_id: str) -> str:
    return f"skiff-{instance_id}-root"


def need_of(data: LaunchTemplateData) -> Need:
    """What an instance reserves on its host: its type's vCPUs (1024 units each) and memory."""
    vcpus, memory = data.resources()
    return Need(int(vcpus * 1024), memory)


@dataclass(frozen=True)
class ObservedInstance:
    instance_id: str
    owner_kind: str
    owner: str
    host: str
    container: ContainerInfo


def group_instances(pairs: Iterable[tuple[str, ContainerInfo]]) -> dict[str, ObservedInstance]:
    """(host, container) pairs -> instances by id; containers without an instance id are not."""
    out = {}
    for host, c in pairs:
        iid = c.labels.get(INSTANCE_LABEL)
        if iid and L.is_managed(c.labels):
            out[iid] = ObservedInstance(
                iid, c.labels.get(L.KIND, ""), c.labels.get(L.NAME, ""), host, c
            )
    return out


def instance_container(
    cluster: str,
    owner_kind: str,
    owner: str,
    instance_id: str,
    template: str,
    data: LaunchTemplateData,
) -> ContainerSpec:
    vcpus, memory = data.resources()
    need = need_of(data)
    env = {kv.name: kv.value for kv in data.environment}
    env |= {
        "SKIFF_INSTANCE_ID": instance_id,
        "SKIFF_INSTANCE_TYPE": data.instance_type,
        "SKIFF_TAGS": json.dumps(data.tags, sort_keys=True),
    }
    entrypoint = tuple(data.entry_point) if data.entry_point is not None else None
    command = tuple(data.command) if data.command is not None else None
    if data.user_data is not None:
        env["SKIFF_USER_DATA"] = data.user_data
        command = (*(entrypoint or ()), *(command or ()))
        entrypoint = ("sh", "-c", _WRAPPER, "skiff-init")
    root = data.root_volume
    hc = data.health_check
    spec = ContainerSpec(
        name=f"skiff-{owner}-{instance_id}",
        image=data.image_id,
        labels={
            **{f"tag.{k}": v for k, v in data.tags.items()},
            **L.ownership(cluster, owner_kind, owner),
            INSTANCE_LABEL: instance_id,
            TEMPLATE_LABEL: template,
            RESERVED_LABEL: f"{need.cpu},{need.memory}",
        },
        command=command,
        entrypoint=entrypoint,
        env=env,
        nano_cpus=int(vcpus * 1_000_000_000),
        memory_mib=memory,
        ports=tuple(PortBinding(p) for p in data.ports),
        volumes=((volume_name(instance_id), root.mount_path),) if root.type == "ebs" else (),
        tmpfs=(TmpfsSpec(root.mount_path),) if root.type == "instance-store" else (),
        healthcheck=HealthcheckSpec(
            tuple(hc.command), hc.interval, hc.timeout, hc.retries, hc.start_period
        )
        if hc
        else None,
        stop_timeout=int(STOP_TIMEOUT),
        privileged=data.privileged,
    )
    return with_linux(spec, data.linux_parameters)


@dataclass(frozen=True)
class InstanceView:
    instance_id: str
    state: str  # EC2 state
    status: str  # ok | initializing | impaired
    record: InstanceRecord
    container: ContainerInfo | None
    host: str

    def port(self, container_port: int) -> int | None:
        if self.container is None:
            return None
        return next(
            (
                p.host_port
                for p in self.container.ports
                if p.container_port == container_port and p.host_port
            ),
            None,
        )


def view_instance(record: InstanceRecord, observed: ObservedInstance | None) -> InstanceView:
    c = observed.container if observed else None
    host = observed.host if observed else record.host
    if record.desired_state == "terminated":
        state = SHUTTING_DOWN if c is not None else TERMINATED
    elif c is None:
        state = TERMINATED if record.terminated_at else PENDING
    elif record.desired_state == "stopped":
        state = STOPPING if c.running else STOPPED
    elif c.state == "created" and not c.failed_to_start:
        state = PENDING
    elif c.running:
        state = RUNNING
    else:
        state = STOPPED  # it shut itself down, or could not start
    if state == RUNNING and c is not None and c.state in ("paused", "restarting"):
        status = IMPAIRED  # stuck
    elif state == RUNNING and c is not None and c.health == "unhealthy":
        status = IMPAIRED
    elif state == RUNNING and c is not None and c.health == "starting":
        status = INITIALIZING
    elif state == RUNNING:
        status = OK
    elif record.desired_state == "running" and c is not None and (c.exited or c.failed_to_start):
        status = IMPAIRED  # its container died
    else:
        status = INITIALIZING if state == PENDING else ""
    return InstanceView(record.instance_id, state, status, record, c, host)


def check_verdict(v: InstanceView) -> str:
    """What a status check reports: `impaired` too when the instance is not running at all."""
    if v.status == IMPAIRED or v.state in (STOPPING, STOPPED, SHUTTING_DOWN, TERMINATED):
        return IMPAIRED
    return v.status


def views(
    records: Mapping[str, InstanceRecord], observed: Mapping[str, ObservedInstance]
) -> list[InstanceView]:
    return [view_instance(r, observed.get(i)) for i, r in records.items()]


# --- what the planners ask for -----------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    zone: str
    host: str
    cause: str = ""


@dataclass(frozen=True)
class Signal:
    instance_id: str
    host: str
    container_id: str
    signal: str  # SIGTERM | SIGKILL, or "" to start a created container


@dataclass(frozen=True)
class Removal:
    """Remove the container and the instance's root volume."""

    instance_id: str
    host: str
    container_id: str


@dataclass(frozen=True)
class FleetPlan:
    views: tuple[InstanceView, ...] = ()  # every instance, with its record as planned
    launch: tuple[Launch, ...] = ()
    start: tuple[Signal, ...] = ()
    signal: tuple[Signal, ...] = ()
    remove: tuple[Removal, ...] = ()
    updates: tuple[InstanceRecord, ...] = ()  # records whose state changed
    forget: tuple[str, ...] = ()  # terminated long enough ago to drop from the listing
    activities: tuple[tuple[str, str, str], ...] = ()  # (instance id, description, cause)
    message: str = ""
    requeue_after: float | None = None
    goal: str | None = None  # the instance itself changed what it should be (shutdown)

    def is_noop(self) -> bool:
        return not (self.launch or self.start or self.signal or self.remove or self.updates)


TERMINATED_KEPT = 3600.0  # seconds a terminated instance stays listed, as in EC2


class Placer:
    """Places instances one at a time, booking each on its host so the next sees it."""

    def __init__(
        self, hosts: Sequence[HostSlot], need: Need, own: Mapping[str, int] | None = None
    ) -> None:
        """`own`: the owner's instances per host, which new ones spread away from."""
        self.slots = {h.name: h for h in hosts}
        self.need = need
        self.own = dict(own or {})

    def pick(self, zones: Sequence[str] | None) -> tuple[str | None, str]:
        """A host in one of `zones` (any zone when None), or None and why not."""
        hosts = [h for h in self.slots.values() if zones is None or h.zone in zones]
        rules = Rules(strategies=(("spread", "instanceId"),))
        placed = place(1, self.need, hosts, self.own, rules)
        if not placed.hosts:
            return None, placed.reason or "no hosts"
        h = self.slots[placed.hosts[0]]
        self.own[h.name] = self.own.get(h.name, 0) + 1
        self.slots[h.name] = replace(
            h, cpu_used=h.cpu_used + self.need.cpu, memory_used=h.memory_used + self.need.memory
        )
        return h.name, ""


@dataclass
class Actions:
    """What a planner decides, gathered as it goes: record changes and Docker actions."""

    now: float
    records: dict[str, InstanceRecord] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    launches: list[Launch] = field(default_factory=list)
    starts: list[Signal] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    activities: list[tuple[str, str, str]] = field(default_factory=list)
    wake: float | None = None
    notes: list[str] = field(default_factory=list)
    goal: str | None = None

    def record(self, v: InstanceView) -> InstanceRecord:
        return self.records.get(v.instance_id, v.record)

    def update(self, v: InstanceView, **changes: object) -> InstanceRecord:
        new = replace(self.record(v), **changes)  # type: ignore[arg-type]
        self.records[v.instance_id] = new
        self.changed.add(v.instance_id)
        return new

    def wake_at(self, at: float) -> None:
        delay = max(0.0, at - self.now)
        self.wake = delay if self.wake is None else min(self.wake, delay)

    def start(self, v: InstanceView) -> None:
        if v.container is not None and not v.container.running:
            self.starts.append(Signal(v.instance_id, v.host, v.container.id, ""))

    def halt(self, v: InstanceView) -> bool:
        """Stops the container (SIGTERM, SIGKILL after STOP_TIMEOUT); True once it is down."""
        c = v.container
        if c is None or not c.running:
            return True
        r = self.record(v)
        requested = r.stop_requested_at
        if requested is None:
            self.update(v, stop_requested_at=self.now)
            self.signals.append(Signal(v.instance_id, v.host, c.id, "SIGTERM"))
            requested = self.now
        elif self.now >= requested + STOP_TIMEOUT:
            self.signals.append(Signal(v.instance_id, v.host, c.id, "SIGKILL"))
        self.wake_at(requested + STOP_TIMEOUT)
        return False

    def finish_terminating(self, v: InstanceView, **changes: object) -> bool:
        """Shuts the instance down, then removes it with its volume; True once terminated."""
        r = self.record(v)
        if r.desired_state != "terminated":
            self.update(v, desired_state="terminated", stop_requested_at=None)
        if not self.halt(v):
            return False
        if v.container is not None:
            self.removals.append(Removal(v.instance_id, v.host, v.container.id))
        self.update(v, terminated_at=self.now, **changes)
        return True

    def remove_stale(self, v: InstanceView) -> None:
        """A terminated instance's container that is still there (its host came back)."""
        assert v.container is not None
        if v.container.running:
            self.signals.append(Signal(v.instance_id, v.host, v.container.id, "SIGKILL"))
        else:
            self.removals.append(Removal(v.instance_id, v.host, v.container.id))

    def age_out(self, v: InstanceView) -> None:
        r = self.record(v)
        ended = r.terminated_at or self.now
        if self.now - ended >= TERMINATED_KEPT:
            self.forget.append(v.instance_id)
        else:
            self.wake_at(ended + TERMINATED_KEPT)

    def build(self, views: Sequence[InstanceView]) -> FleetPlan:
        shown = tuple(
            view_instance(self.record(v), _observed(v))
            for v in views
            if v.instance_id not in self.forget
        )
        return FleetPlan(
            views=shown,
            launch=tuple(self.launches),
            start=tuple(self.starts),
            signal=tuple(self.signals),
            remove=tuple(self.removals),
            updates=tuple(self.records[i] for i in sorted(self.changed)),
            forget=tuple(self.forget),
            activities=tuple(self.activities),
            message="; ".join(dict.fromkeys(self.notes)),
            requeue_after=self.wake,
            goal=self.goal,
        )


def _observed(v: InstanceView) -> ObservedInstance | None:
    if v.container is None:
        return None
    return ObservedInstance(v.instance_id, v.record.owner_kind, v.record.owner, v.host, v.container)
