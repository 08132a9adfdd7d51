"""What a sync may use of the controller: `Context`, the narrow view every service's sync
and registry hook receives, instead of the whole controller.

It has the store, the desired state (read only), the host pool's view (hosts, observed tasks,
free room, a host's runtime), the status board, the work queue (to queue keys), the action
log, the clock, the thread pools the writers run on, the data plane, the targets' health, and
each domain's own state (`part`). It has none of the daemon's lifecycle: applying manifests,
connecting engines, processing keys, stopping. `Controller` satisfies it; tests may pass
either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from controller.core.actions import ActionLog
from controller.core.host_ports import HostPorts, PortKey
from controller.core.hosts import HostHandle
from controller.core.observed import ObservedTask
from controller.core.placement import HostSlot
from controller.core.status import ResourceStatus
from controller.core.stopping import StoppablePool, StopSignal
from controller.core.workqueue import WorkQueue
from controller.dataplane import DataPlane
from controller.manifests.kinds import Resource, ResourceKey
from controller.runtime import ContainerRuntime
from controller.store import Store
from controller.telemetry import Metrics

if TYPE_CHECKING:
    from controller.core.registry import Catalog
    from controller.core.settings import Settings

T = TypeVar("T")


class Context(Protocol):
    store: Store
    metrics: Metrics
    actions: ActionLog
    queue: WorkQueue[ResourceKey]
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    pool: StoppablePool  # Docker writes and reads a pass waits on
    metrics_pool: StoppablePool  # metrics collection's reads
    stopping: StopSignal
    placement_lock: threading.Lock  # one service places (and books) at a time
    target_states: dict[str, dict[str, str]]  # core/targets.py: written by ELB's pass
    lb_threads: int

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def desired(self) -> Mapping[ResourceKey, Resource]: ...

    @property
    def stale(self) -> Mapping[ResourceKey, str]: ...

    @property
    def hosts(self) -> Mapping[str, HostHandle]: ...

    @property
    def status(self) -> Mapping[ResourceKey, ResourceStatus]: ...

    def part(self, kind: type[T]) -> T: ...

    def dataplane(self) -> DataPlane: ...

    def runtime_for(self, host: str) -> ContainerRuntime: ...

    def drop_host(self, name: str) -> HostHandle | None: ...  # the Host sync: a drained host

    def observed_tasks(self) -> dict[str, ObservedTask]: ...

    def grouped(self, what: str, group: Callable[[Any], dict[str, Any]]) -> dict[str, Any]: ...

    def listed_hosts(self) -> set[str]: ...

    def host_slots(self, tasks: dict[str, ObservedTask]) -> list[HostSlot]: ...

    def choose_ports(
        self, host: str, wanted: Sequence[tuple[int, str]], avoid: Collection[PortKey] = ()
    ) -> HostPorts: ...

    def set_status(
        self, key: ResourceKey, status: str, message: str, **details: Any
    ) -> ResourceStatus: ...

    def forget_status(self, key: ResourceKey) -> None: ...
