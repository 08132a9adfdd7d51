"""Plain values that cross the runtime boundary: what to create and what Docker reports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    protocol: str = "tcp"
    host_port: int | None = None  # None: Docker picks one from the ephemeral range


@dataclass(frozen=True)
class HealthcheckSpec:
    test: tuple[str, ...]
    interval: float
    timeout: float
    retries: int
    start_period: float


@dataclass(frozen=True)
class UlimitSpec:
    name: str  # core, nofile, ... as `docker run --ulimit` names them
    soft: int
    hard: int


@dataclass(frozen=True)
class DeviceSpec:
    host_path: str
    container_path: str
    permissions: str = "rwm"  # the cgroup's: r, w, m


@dataclass(frozen=True)
class TmpfsSpec:
    path: str
    size_mib: int | None = None  # None: Docker's default (half the host's memory)
    options: tuple[str, ...] = ()  # mount options (noexec, mode=1777, ...), each checked

    def docker_options(self) -> str:
        size = (f"size={self.size_mib}m",) if self.size_mib else ()
        return ",".join((*size, *self.options))


@dataclass(frozen=True)
class MountSpec:
    """A named volume (`bind` False) or a host path (`bind` True) at `target`."""

    source: str
    target: str
    read_only: bool = False
    bind: bool = False


@dataclass(frozen=True)
class VolumeSpec:
    """A named volume to create before the containers that mount it."""

    name: str
    labels: dict[str, str]
    driver: str = "local"
    driver_opts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one container."""

    name: str
    image: str
    labels: dict[str, str]
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    cpu_shares: int | None = None
    memory_mib: int | None = None
    memory_reservation_mib: int | None = None
    ports: tuple[PortBinding, ...] = ()
    network_mode: str = "bridge"  # bridge | host | none | container:<id> | a user network's name
    healthcheck: HealthcheckSpec | None = None
    stop_timeout: int | None = None
    nano_cpus: int | None = None  # a hard CPU limit (1e9 = one CPU), as an instance type sets
    volumes: tuple[tuple[str, str], ...] = ()  # (named volume, mount path), read-write
    tmpfs: tuple[TmpfsSpec, ...] = ()  # memory file systems, gone at stop
    mounts: tuple[MountSpec, ...] = ()
    volumes_from: tuple[tuple[str, bool], ...] = ()  # (container name or id, read only)
    user: str | None = None
    read_only_rootfs: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()  # ECS's names (no CAP_ prefix), or ALL
    cap_drop: tuple[str, ...] = ()
    devices: tuple[DeviceSpec, ...] = ()
    ulimits: tuple[UlimitSpec, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (host name, IP address)
    dns: tuple[str, ...] = ()
    init: bool = False  # Docker's --init: an init process as PID 1
    shm_size_mib: int | None = None
    pid_mode: str | None = None  # host | container:<id>; None: its own
    ipc_mode: str | None = None  # host | none | shareable | container:<id>; None: Docker's


PREDEFINED_NETWORK_MODES = ("bridge", "default", "host", "none")


def is_user_network(network_mode: str) -> bool:
    """Whether `network_mode` names a user-defined network (as Docker's IsUserDefined)."""
    return network_mode not in PREDEFINED_NETWORK_MODES and not network_mode.startswith(
        "container:"
    )


def publishes_ports(network_mode: str) -> bool:
    """Whether Docker publishes host ports in this mode: bridge networks, default or user."""
    return network_mode in ("bridge", "default") or is_user_network(network_mode)


@dataclass(frozen=True)
class ContainerSummary:
    """One row of a container list: cheap, enough to notice that something changed."""

    id: str
    name: str
    labels: dict[str, str]
    state: str
    status: str


@dataclass(frozen=True)
class ContainerInfo:
    """A container as inspected: the facts task state is derived from."""

    id: str
    name: str
    labels: dict[str, str]
    image: str
    state: str  # created | running | paused | restarting | removing | exited | dead
    health: str = "none"  # none | starting | healthy | unhealthy
    exit_code: int | None = None
    error: str = ""
    oom_killed: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    ports: tuple[PortBinding, ...] = ()
    ip_address: str = ""  # on its network while it runs; "" when stopped, host, none, container:
    pid: int = 0  # its main process on the engine's machine while it runs; 0 when stopped
    cgroup_parent: str = ""  # HostConfig.CgroupParent: "" for the engine's default
    # Its `die` event came (exit_code and finished_at are the event's) and the inspect that
    # follows has not answered: dockerd still holds it (its network, its ports, its line in
    # `docker ps`) until it has cleaned up after it. It still counts as running for all that.
    dying: bool = False

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "restarting")

    @property
    def exited(self) -> bool:
        return self.state in ("exited", "dead")

    @property
    def failed_to_start(self) -> bool:
        return self.state == "created" and bool(self.error)

    def fingerprint(self) -> tuple[str, str]:
        return (self.state, self.health)


@dataclass(frozen=True)
class EngineInfo:
    name: str
    server_version: str
    cpus: int
    memory_bytes: int


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a running container's counters, as Docker's stats endpoint reports them.

    CPU figures are cumulative counters: usage is the difference between two samples, divided
    by the wall time between their `read` stamps (see `controller.cloudwatch.planners.usage`).
    """

    read: float  # epoch seconds when Docker read the counters
    cpu_total_ns: int  # CPU time the container has used since it started, all CPUs together
    system_cpu_ns: int | None  # the host's cumulative CPU time; None where Docker reports none
    online_cpus: int  # CPUs the host has online; 0 when Docker does not say
    memory_used_bytes: int  # usage minus reclaimable page cache, as `docker stats` shows it
    memory_limit_bytes: int  # the container's limit, or the host's memory when it has none


@dataclass(frozen=True)
class ContainerEvent:
    container_id: str
    action: str
    time: float
    labels: dict[str, str]
    exit_code: int | None = None  # a `die`'s exitCode attribute
