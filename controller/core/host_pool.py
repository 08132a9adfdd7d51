"""The host pool as the controller sees it: connecting Host manifests to engines (a removed
host drains before it is dropped), the engines' events queueing their owners' keys, the
containers of every engine grouped by task or instance, and each host's room, the sum of
every domain's holdings."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

import structlog

from controller.core import host_ports
from controller.core.host_ports import HostPorts, PortKey, PortRange
from controller.core.hosts import HostHandle, RuntimeFactory, implicit_name
from controller.core.observed import ObservedTask, group_tasks
from controller.core.observer import HostObserver
from controller.core.outcomes import Retry
from controller.core.placement import HostSlot
from controller.core.policy_guard import GuardedRuntime
from controller.core.registry import Catalog
from controller.core.status import ResourceStatus
from controller.core.workqueue import WorkQueue
from controller.manifests.host import HostSpec
from controller.manifests.kinds import Resource, ResourceKey
from controller.runtime import ContainerRuntime, RuntimeFailure
from controller.runtime.instrumented import InstrumentedRuntime
from controller.store import Store
from controller.telemetry import HostFigures, Metrics

if TYPE_CHECKING:
    from controller.core.context import Context
    from controller.core.settings import Settings

log = structlog.get_logger("skiff")


class HostPool:
    """The controller's host pool (a mixin of Controller)."""

    # Set by Controller.__init__.
    store: Store
    metrics: Metrics
    settings: Settings
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    catalog: Catalog
    queue: WorkQueue[ResourceKey]
    desired: dict[ResourceKey, Resource]
    hosts: dict[str, HostHandle]
    status: dict[ResourceKey, ResourceStatus]
    port_range: PortRange
    _factory: RuntimeFactory
    _groups: dict[str, tuple[tuple[Any, ...], dict[str, Any]]]
    _lock: threading.RLock
    _observing: bool

    keys: Callable[[], set[ResourceKey]]
    enqueue_all: Callable[[], None]

    def snapshot(self) -> dict[ResourceKey, ResourceStatus]:
        """Status of every resource, with host allocations computed now, not at the last sync."""
        slots = {s.name: s for s in self.host_slots(self.observed_tasks())}
        with self._lock:
            for (kind, name), st in self.status.items():
                if kind == "Host" and name in slots:
                    st.details["allocated"] = {
                        "cpu": slots[name].cpu_used,
                        "memory": slots[name].memory_used,
                    }
                    st.details["connected"] = slots[name].up
            return dict(self.status)

    def _host_figures(self) -> list[HostFigures]:
        return [
            HostFigures(s.name, s.zone, s.up, s.cpu, s.memory, s.cpu_used, s.memory_used)
            for s in self.host_slots(self.observed_tasks())
        ]

    def sync_pool(self) -> None:
        """Connects new or changed Host manifests; a removed host drains before it is dropped.

        Connecting talks to the engines, so it happens outside the lock that workers need.
        """
        specs: dict[str, HostSpec] = {
            k[1]: r.spec for k, r in self.desired.items() if k[0] == "Host"
        }
        wanted = implicit_name(specs)
        with self._lock:
            current = dict(self.hosts)
        replaced = [h for n, h in current.items() if n in wanted and h.spec != wanted[n]]
        connected = {
            name: self._connect(name, spec)
            for name, spec in wanted.items()
            if name not in current or current[name].spec != spec
        }
        with self._lock:
            for old in replaced:
                old.observer.stop()
                old.runtime.close()
            self.hosts.update(connected)
            for name, handle in self.hosts.items():
                handle.draining = name not in wanted
        for name in current.keys() | connected.keys():
            self.queue.add(("Host", name))
        self.enqueue_all()  # services move their tasks off draining hosts

    def _connect(self, name: str, spec: HostSpec) -> HostHandle:
        counted = InstrumentedRuntime(self._factory(name, spec), name, self.metrics)
        self.metrics.docker_event_reconnects.labels(name)  # from 0: increase() sees the first
        runtime = GuardedRuntime(counted, self.settings.policy)
        observer = HostObserver(
            name,
            runtime,
            self._owner_changed,
            lambda: self._reconnected(name),
            self.settings.cluster,
            on_down=self._host_down,
            clock=self.clock,
            on_lag=self.metrics.docker_event_lag.observe,
        )
        counted.on_start_failed = observer.touch
        counted.on_starting, counted.on_started = observer.starting, observer.started
        handle = HostHandle(name, spec, runtime, observer)
        try:
            handle.refresh_info(self.monotonic())
            observer.resync()
        except RuntimeFailure as exc:
            log.warning("host.unreachable", kind="Host", name=name, error=str(exc))
        if self._observing:
            observer.start()
        return handle

    def drop_host(self, name: str) -> HostHandle | None:
        """Takes a host out of the pool and stops watching it."""
        with self._lock:
            handle = self.hosts.pop(name, None)
        if handle is not None:
            handle.observer.stop()
            handle.runtime.close()
        return handle

    def runtime_for(self, host: str) -> ContainerRuntime:
        """The host's runtime: instrumented, and guarded by the daemon's container policy."""
        handle = self.hosts.get(host)
        if handle is None:
            raise Retry(f"host {host} is not in the pool")
        return handle.runtime

    def start_observing(self) -> None:
        self._observing = True
        for handle in list(self.hosts.values()):
            handle.observer.start()

    def _host_down(self) -> None:
        """Once a host has been down long enough to be lost, every service looks again."""
        for key in self.keys():
            self.queue.add_after(key, self.settings.host_lost_seconds + 0.1)

    def _reconnected(self, host: str) -> None:
        """An event stream was resumed: what happened meanwhile may concern any key, and the
        engine may be another (restarted, perhaps resized): its info is read again."""
        self.metrics.docker_event_reconnects.labels(host).inc()
        handle = self.hosts.get(host)
        if handle is not None:
            handle.info_read_at = None
        self.enqueue_all()

    def _owner_changed(self, host: str, kind: str, name: str) -> None:
        self.queue.add((kind, name))
        handle = self.hosts.get(host)
        if handle is not None and handle.draining:
            self.queue.add(("Host", host))  # it leaves the pool once its last task is gone

    @property
    def synced(self) -> bool:
        return all(h.observer.synced for h in list(self.hosts.values()))

    def observed_tasks(self) -> dict[str, ObservedTask]:
        return dict(self.grouped("tasks", group_tasks))

    def grouped(self, what: str, group: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """Every host's containers grouped by `group`, built again only when a host's cache
        changed since the last time (a pass asks for them once per key, and more)."""
        hosts = list(self.hosts.values())
        # Versions are read before the snapshots: a result is never older than its key.
        key = tuple((h.name, h.observer, h.observer.version) for h in hosts)
        cached = self._groups.get(what)
        if cached is not None and cached[0] == key:
            return cached[1]
        grouped = group((h.name, c) for h in hosts for c in h.observer.snapshot())
        self._groups[what] = (key, grouped)
        return grouped

    def listed_hosts(self) -> set[str]:
        """Hosts whose containers are known now: something missing there is gone."""
        return {n for n, h in list(self.hosts.items()) if h.up and h.observer.synced}

    def host_slots(self, tasks: dict[str, ObservedTask]) -> list[HostSlot]:
        """Each host's capacity and what is held on it: the sum of every domain's holdings
        (tasks, instances, jobs, launches not yet seen). Ports are per address: engines
        that share one share its ports."""
        cpu: dict[str, int] = {}
        mem: dict[str, int] = {}
        ports: dict[str, set[tuple[int, str]]] = {}
        hosts = list(self.hosts.values())
        address = {h.name: h.address for h in hosts}
        now = self.clock()
        for domain in self.catalog.domains:
            for held in domain.holdings(cast("Context", self), tasks):
                cpu[held.host] = cpu.get(held.host, 0) + held.cpu
                mem[held.host] = mem.get(held.host, 0) + held.memory
                ports.setdefault(address.get(held.host, ""), set()).update(held.ports)
        return [
            HostSlot(
                h.name,
                h.spec.zone,
                h.address,
                h.cpu_capacity,
                h.memory_capacity,
                cpu.get(h.name, 0),
                mem.get(h.name, 0),
                frozenset(ports.get(h.address, ())),
                up=h.up,
                draining=h.draining,
                attributes=h.spec.attributes,
                lost=h.lost(now, self.settings.host_lost_seconds),
                dynamic_ports=self.port_range,
            )
            for h in hosts
        ]

    def choose_ports(
        self, host: str, wanted: Sequence[tuple[int, str]], avoid: Collection[PortKey] = ()
    ) -> HostPorts:
        """Dynamic host ports for a launch on `host` outside the pass's plan (an instance, or a
        task's retry after a port conflict): none in use at its address, none in `avoid`."""
        if not wanted:
            return ()
        slot = next((s for s in self.host_slots(self.observed_tasks()) if s.name == host), None)
        used = set(avoid) | (slot.ports_used if slot is not None else set())
        return host_ports.pick(wanted, used, self.port_range, random.Random())
