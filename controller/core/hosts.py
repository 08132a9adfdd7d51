"""The host pool: one handle per Docker engine with its runtime, observer and capacity."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from controller.core.host_ports import PortRange, parse_range
from controller.core.observer import HostObserver
from controller.manifests.host import LOCAL_HOST_NAME, HostSpec
from controller.runtime import ContainerRuntime, EngineInfo

RuntimeFactory = Callable[[str, HostSpec], ContainerRuntime]
# Seconds between two reads of an engine's CPUs and memory (`docker info`, which dockerd answers
# by going through every container): they change only with the machine, and a reconnect (an
# engine restarted, perhaps on a resized machine) reads them again at once.
INFO_EVERY = 300.0
# Containers the pool may hold for the resync to list every engine at every pass; above, it
# lists each proportionally less often and only pings it between (see HostHandle.list_due).
LIST_SCALE = 500
EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"


def local_ephemeral_range(path: str = EPHEMERAL_RANGE_FILE) -> PortRange | None:
    """This machine's `net.ipv4.ip_local_port_range`: the ports outgoing connections take."""
    try:
        with open(path) as f:
            return parse_range(f.read())
    except (OSError, ValueError):
        return None


def local_host_spec() -> HostSpec:
    """The pool when no Host manifest exists: DOCKER_HOST or the default socket."""
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return HostSpec(url=url, zone="local")


@dataclass
class HostHandle:
    name: str
    spec: HostSpec
    runtime: ContainerRuntime
    observer: HostObserver
    info: EngineInfo | None = None
    draining: bool = False  # its manifest is gone: tasks move elsewhere, then it is dropped
    info_read_at: float | None = None  # monotonic; None: to read at the next resync
    listed_at: float | None = None  # monotonic: when a resync last listed the engine

    @property
    def up(self) -> bool:
        return self.observer.up

    @property
    def address(self) -> str:
        return self.spec.reach_address()

    @property
    def cpu_capacity(self) -> int:
        if self.spec.capacity.cpu is not None:
            return self.spec.capacity.cpu
        return self.info.cpus * 1024 if self.info else 0

    @property
    def memory_capacity(self) -> int:
        if self.spec.capacity.memory is not None:
            return self.spec.capacity.memory
        return self.info.memory_bytes // (1024 * 1024) if self.info else 0

    def lost(self, now: float, after: float) -> bool:
        """Unreachable for `after` seconds: its tasks count as lost and are replaced."""
        since = self.observer.down_since
        return not self.up and since is not None and now - since >= after

    def refresh_info(self, now: float) -> None:
        self.info = self.runtime.info()
        self.info_read_at = now

    def info_due(self, now: float) -> bool:
        return self.info_read_at is None or now - self.info_read_at >= INFO_EVERY

    def list_due(self, now: float, every: float, pool_held: int) -> bool:
        """Whether this resync (one each `every` seconds) lists the engine, or only pings it.

        The list is the safety net under the event stream, which is what keeps the cache
        (dockerd drops events for a subscriber that lags behind). It costs the engine CPU in
        proportion to its containers (about 85 ms per 1,000 on this project's machine) and the
        daemon in proportion to the containers of every engine it lists. So the pool lists
        about LIST_SCALE containers a resync at most: up to that many in all (`pool_held`),
        every engine at every resync; above, each engine proportionally less often. With the
        30 s default, 1,000 containers are listed once a minute whether one engine holds
        them or three (about 0.14% of a core). A ping (no work for dockerd) still notices an
        engine gone quiet at every resync; an engine that is down is listed as soon as it
        answers."""
        if self.listed_at is None or not self.up or pool_held <= LIST_SCALE:
            return True
        return now - self.listed_at >= every * pool_held / LIST_SCALE


def implicit_name(specs: dict[str, HostSpec]) -> dict[str, HostSpec]:
    """The Host manifests, or the local engine alone when there are none."""
    return specs or {LOCAL_HOST_NAME: local_host_spec()}
