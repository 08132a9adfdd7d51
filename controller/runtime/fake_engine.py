"""The fake engine's state and bookkeeping, under FakeRuntime: its containers, specs,
networks, volumes, simulated usage counters, injected faults, event subscribers and the calls
it received, and the internals every operation shares (ids, addresses, fault checks, events).
The operations are in fake (the ContainerRuntime protocol) and fake_controls (what a test does).
"""

from __future__ import annotations

import itertools
import queue
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from controller.runtime.errors import EngineUnavailable, NotFound, RuntimeFailure
from controller.runtime.types import ContainerEvent, ContainerInfo, ContainerSpec, VolumeSpec

WRITE_OPERATIONS = (
    "create",
    "start",
    "kill",
    "remove",
    "create_volume",
    "remove_volume",
    "create_network",
    "remove_network",
)
NANO = 1_000_000_000
IDLE_MEMORY_BYTES = 1024 * 1024  # what a fresh container reports using until a test says more


@dataclass
class Usage:
    """Simulated counters: CPU time grows at `cores` CPUs from `base_ns` at `since`."""

    since: float
    base_ns: int = 0
    cores: float = 0.0
    memory_used_bytes: int = IDLE_MEMORY_BYTES
    memory_limit_bytes: int | None = None  # None: the spec's limit, else the host's memory

    def cpu_ns(self, now: float, cap: float) -> int:
        return self.base_ns + int(max(0.0, now - self.since) * min(self.cores, cap) * NANO)


@dataclass(frozen=True)
class FakeNetwork:
    id: str
    name: str
    labels: dict[str, str]


@dataclass
class Fault:
    operation: str
    error: RuntimeFailure
    times: int
    match: Callable[[str], bool] | None = None


@dataclass
class FakeEngine:
    """The fake engine's state. `clock` returns epoch seconds; tests pass a fixed or stepping
    clock."""

    clock: Callable[[], float] = lambda: 1_700_000_000.0
    images: set[str] = field(default_factory=lambda: {"skiff/busybox:latest"})
    registry: set[str] = field(default_factory=set)  # images a pull can fetch
    cpus: int = 2
    memory_bytes: int = 4 * 1024**3
    name: str = "fake"
    down: bool = False  # every call fails, as when dockerd is stopped
    volumes: set[str] = field(default_factory=set)  # named volumes containers asked for
    volume_specs: dict[str, VolumeSpec] = field(default_factory=dict)  # made by create_volume
    containers: dict[str, ContainerInfo] = field(default_factory=dict)
    specs: dict[str, ContainerSpec] = field(default_factory=dict)
    networks: dict[str, FakeNetwork] = field(default_factory=dict)  # user networks by name
    output: dict[str, str] = field(default_factory=dict)  # what each container has printed
    calls: list[tuple[str, str]] = field(default_factory=list)
    ignore_sigterm: set[str] = field(default_factory=set)  # containers only SIGKILL stops
    held_ports: set[int] = field(default_factory=set)  # host ports other processes listen on
    _faults: list[Fault] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _prefix: str = field(default_factory=lambda: secrets.token_hex(24))
    _ports: Iterator[int] = field(default_factory=lambda: itertools.count(32768))
    _addresses: Iterator[int] = field(default_factory=lambda: itertools.count(2))
    _subscribers: list[queue.Queue[ContainerEvent | None]] = field(default_factory=list)
    _usage: dict[str, Usage] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def _new_id(self) -> str:
        """64 hex digits, unique across fake engines as Docker's are across real ones."""
        return f"{self._prefix}{next(self._ids):016x}"

    def _enter(self, operation: str, arg: str) -> None:
        self.calls.append((operation, arg))
        if self.down:
            raise EngineUnavailable(f"{self.name}: connection refused")
        for fault in self._faults:
            if (
                fault.operation == operation
                and fault.times > 0
                and (fault.match is None or fault.match(arg))
            ):
                fault.times -= 1
                raise fault.error

    def _get(self, container_id: str) -> ContainerInfo:
        if container_id not in self.containers:
            raise NotFound(f"No such container: {container_id}")
        return self.containers[container_id]

    def _network(self, name_or_id: str) -> FakeNetwork | None:
        """A user network by name or id, as Docker resolves a network mode."""
        if name_or_id in self.networks:
            return self.networks[name_or_id]
        return next((n for n in self.networks.values() if n.id == name_or_id), None)

    def _next_address(self) -> str:
        n = next(self._addresses)
        return f"10.88.{n // 256}.{n % 256}"

    def _cpu_cap(self, container_id: str) -> float:
        """The most CPUs the container can burn: its nano_cpus limit, at most the engine's."""
        spec = self.specs.get(container_id)
        limit = spec.nano_cpus / NANO if spec and spec.nano_cpus else float(self.cpus)
        return min(limit, float(self.cpus))

    def _set(self, c: ContainerInfo, **changes: object) -> None:
        self.containers[c.id] = replace(c, **changes)  # type: ignore[arg-type]

    def _emit(
        self, container_id: str, action: str, labels: Mapping[str, str] | None = None
    ) -> None:
        c = self.containers.get(container_id)
        labels = dict(labels if labels is not None else c.labels if c else {})
        code = c.exit_code if c is not None and action == "die" else None  # dockerd's exitCode
        event = ContainerEvent(container_id, action, self.clock(), labels, code)
        for q in list(self._subscribers):
            q.put(event)

    def _unsubscribe(self, q: queue.Queue[ContainerEvent | None]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)
        q.put(None)
