"""An in-memory `ContainerRuntime` for unit tests: real semantics, a fixed clock, injected faults.

It behaves like one Docker engine (names unique, created -> running -> exited, dynamic host ports
from 32768, addresses from 10.88.0.2 while running, user networks that must exist at start,
events in order, CPU counters that grow with the clock) and lets a test make containers exit,
turn unhealthy, burn CPU, print output or fail a call, without threads or sleeps.

The engine's state is fake_engine; what a test does to it, fake_controls; here are the
ContainerRuntime operations, with Docker's semantics.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from controller.runtime.cgroups import CgroupReader
from controller.runtime.errors import (
    Conflict,
    ImageNotFound,
    InvalidRequest,
    NotFound,
    PortTaken,
    StartFailed,
)
from controller.runtime.fake_controls import FakeControls
from controller.runtime.fake_engine import (
    IDLE_MEMORY_BYTES,
    NANO,
    WRITE_OPERATIONS,
    FakeNetwork,
    Usage,
)
from controller.runtime.types import (
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    PortBinding,
    VolumeSpec,
    is_user_network,
    publishes_ports,
)

__all__ = ["IDLE_MEMORY_BYTES", "WRITE_OPERATIONS", "FakeNetwork", "FakeRuntime"]


@dataclass
class FakeRuntime(FakeControls):
    """A fake engine. `clock` returns epoch seconds; tests pass a fixed or stepping clock.

    `cgroup_reader`: set, the engine counts as one on this machine whose containers' counters
    that reader gives (a fake cgroup tree); None (the default), as a remote one: stats only."""

    cgroup_reader: CgroupReader | None = None

    def cgroups(self) -> CgroupReader | None:
        return self.cgroup_reader

    def info(self) -> EngineInfo:
        self._enter("info", "")
        return EngineInfo(self.name, "fake", self.cpus, self.memory_bytes)

    def ping(self) -> None:
        self._enter("ping", "")

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerSummary]:
        self._enter("list", "")
        with self._lock:
            return [
                ContainerSummary(c.id, c.name, dict(c.labels), c.state, _status(c))
                for c in self.containers.values()
                if all(c.labels.get(k) == v for k, v in labels.items())
            ]

    def inspect(self, container_id: str) -> ContainerInfo:
        self._enter("inspect", container_id)
        with self._lock:
            if container_id not in self.containers:
                raise NotFound(f"No such container: {container_id}")
            return self.containers[container_id]

    def has_image(self, image: str) -> bool:
        self._enter("has_image", image)
        return image in self.images

    def pull_image(self, image: str) -> None:
        self._enter("pull_image", image)
        with self._lock:
            if image not in self.registry:
                raise ImageNotFound(f"CannotPullContainerError: {image}: not found")
            self.images.add(image)

    def create(self, spec: ContainerSpec) -> str:
        self._enter("create", spec.name)
        with self._lock:
            if spec.image not in self.images:
                raise ImageNotFound(f"CannotPullContainerError: {spec.image}: not found")
            if any(c.name == spec.name for c in self.containers.values()):
                raise Conflict(f'The container name "/{spec.name}" is already in use')
            for source, _ in spec.volumes_from:  # Docker looks them up by name or id
                if not any(source in (c.name, c.id) for c in self.containers.values()):
                    raise NotFound(f"No such container: {source}")
            cid = self._new_id()
            self.specs[cid] = spec
            self.volumes.update(name for name, _ in spec.volumes)
            self.volumes.update(m.source for m in spec.mounts if not m.bind)  # as Docker does
            self.containers[cid] = ContainerInfo(
                id=cid,
                name=spec.name,
                labels=dict(spec.labels),
                image=spec.image,
                state="created",
                created_at=self.clock(),
                ports=tuple(p for p in spec.ports if p.host_port),  # as Docker's PortBindings
            )
            self._emit(cid, "create")
            return cid

    def _bind(self, c: ContainerInfo, ports: tuple[PortBinding, ...]) -> None:
        """As dockerd publishing ports: a port another container or process holds fails the
        start, and the container stays created with the error."""
        mine = {p.host_port for p in ports if p.host_port}
        for other in self.containers.values():
            theirs = {p.host_port for p in other.ports if p.host_port}
            clash = mine & theirs if other.running else set()
            if clash:
                error = f"Bind for 0.0.0.0:{min(clash)} failed: port is already allocated"
                break
        else:
            clash = mine & self.held_ports
            port = min(clash) if clash else 0
            error = (
                "Error starting userland proxy: "
                f"listen tcp4 0.0.0.0:{port}: bind: address already in use"
            )
        if clash:
            self._set(c, error=error, exit_code=128)
            raise PortTaken(f"CannotStartContainerError: {error}")

    def start(self, container_id: str) -> None:
        try:
            self._enter("start", container_id)
        except StartFailed as exc:  # dockerd leaves the container created, with the error
            with self._lock:
                self._set(self._get(container_id), error=str(exc), exit_code=127)
            raise
        with self._lock:
            c = self._get(container_id)
            if c.running:
                return
            spec = self.specs.get(container_id)
            mode = spec.network_mode if spec else "bridge"
            if is_user_network(mode) and self._network(mode) is None:
                # As dockerd: created fine, refused at start, left created with the error.
                error = f"network {mode} not found"
                self._set(c, error=error, exit_code=128)
                raise StartFailed(f"CannotStartContainerError: {error}")
            ports = tuple(
                PortBinding(p.container_port, p.protocol, p.host_port or next(self._ports))
                for p in (spec.ports if spec and publishes_ports(mode) else ())
            )
            self._bind(c, ports)
            health = "starting" if spec and spec.healthcheck else "none"
            self._set(
                c,
                state="running",
                started_at=self.clock(),
                finished_at=None,
                exit_code=None,
                ports=ports,
                health=health,
                ip_address=self._next_address() if publishes_ports(mode) else "",
            )
            if usage := self._usage.get(container_id):
                usage.since, usage.base_ns = self.clock(), 0  # a new cgroup: counters from zero
            self._emit(container_id, "start")

    def restart(self, container_id: str, timeout: int = 10) -> None:
        """A stop (the container exits) and a start, with their events."""
        self.kill(container_id, "SIGTERM")
        self.start(container_id)

    def kill(self, container_id: str, signal: str) -> None:
        self._enter("kill", container_id)
        with self._lock:
            c = self._get(container_id)
            if not c.running:
                return
            killed = signal in ("SIGKILL", "KILL", "9")
            if not killed and container_id in self.ignore_sigterm:
                return  # PID 1 without a handler: the kernel ignores the signal
            code = 137 if killed else 143
            self._set(c, state="exited", exit_code=code, finished_at=self.clock(), ip_address="")
            self._emit(container_id, "kill")
            self._emit(container_id, "die")

    def remove(self, container_id: str) -> None:
        self._enter("remove", container_id)
        with self._lock:
            self._usage.pop(container_id, None)
            self.output.pop(container_id, None)  # Docker deletes a container's log with it
            gone = self.containers.pop(container_id, None)
            if gone is not None:  # Docker's destroy event still carries the labels
                self._emit(container_id, "destroy", gone.labels)

    def create_volume(self, spec: VolumeSpec) -> None:
        self._enter("create_volume", spec.name)
        with self._lock:
            if spec.name not in self.volumes:
                self.volume_specs[spec.name] = spec
                self.volumes.add(spec.name)

    def has_volume(self, name: str) -> bool:
        self._enter("has_volume", name)
        with self._lock:
            return name in self.volumes

    def volume(self, name: str) -> VolumeSpec | None:
        self._enter("volume", name)
        with self._lock:
            if name not in self.volumes:
                return None
            return self.volume_specs.get(name) or VolumeSpec(name, {})

    def remove_volume(self, name: str) -> None:
        self._enter("remove_volume", name)
        with self._lock:
            self.volumes.discard(name)
            self.volume_specs.pop(name, None)

    def stats(self, container_id: str) -> ContainerStats:
        self._enter("stats", container_id)
        with self._lock:
            c = self._get(container_id)
            if c.state not in ("running", "paused"):  # as dockerd: a paused one has counters
                raise Conflict(f"container {container_id} is not running: no stats")
            now = self.clock()
            usage = self._usage.setdefault(
                container_id, Usage(since=c.started_at if c.started_at is not None else now)
            )
            spec = self.specs.get(container_id)
            spec_limit = spec.memory_mib * 1024 * 1024 if spec and spec.memory_mib else None
            return ContainerStats(
                read=now,
                cpu_total_ns=usage.cpu_ns(now, self._cpu_cap(container_id)),
                system_cpu_ns=int(now * self.cpus * NANO),
                online_cpus=self.cpus,
                memory_used_bytes=usage.memory_used_bytes,
                memory_limit_bytes=usage.memory_limit_bytes or spec_limit or self.memory_bytes,
            )

    def logs(self, container_id: str, tail: int | None = None) -> str:
        self._enter("logs", container_id)
        with self._lock:
            self._get(container_id)
            text = self.output.get(container_id, "")
            if tail is None:
                return text
            return "".join(text.splitlines(keepends=True)[-tail:]) if tail > 0 else ""

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        self._enter("create_network", name)
        with self._lock:
            if not is_user_network(name):
                raise InvalidRequest(f"operation is not permitted on predefined {name} network")
            if name not in self.networks:
                self.networks[name] = FakeNetwork(self._new_id(), name, dict(labels))
            return self.networks[name].id

    def remove_network(self, name: str) -> None:
        self._enter("remove_network", name)
        with self._lock:
            network = self._network(name)
            if network is None:
                return
            if any(
                c.running and self._network(self.specs[c.id].network_mode) == network
                for c in self.containers.values()
                if c.id in self.specs
            ):
                raise Conflict(
                    f"error while removing network: network {network.name} id {network.id} "
                    "has active endpoints"
                )
            del self.networks[network.name]

    def events(self, since: float | None, labels: Mapping[str, str]) -> _FakeEvents:
        self._enter("events", "")
        q: queue.Queue[ContainerEvent | None] = queue.Queue()
        with self._lock:
            self._subscribers.append(q)
        return _FakeEvents(q, dict(labels), lambda: self._unsubscribe(q))

    def close(self) -> None:
        with self._lock:
            for q in self._subscribers:
                q.put(None)


class _FakeEvents:
    def __init__(
        self,
        q: queue.Queue[ContainerEvent | None],
        labels: dict[str, str],
        on_close: Callable[[], None],
    ) -> None:
        self._q, self._labels, self._on_close = q, labels, on_close

    def __iter__(self) -> Iterator[ContainerEvent]:
        while (event := self._q.get()) is not None:
            if all(event.labels.get(k) == v for k, v in self._labels.items()):
                yield event

    def close(self) -> None:
        self._on_close()


def _status(c: ContainerInfo) -> str:
    if c.running:
        return "Up" + ("" if c.health == "none" else f" ({c.health})")
    if c.exited:
        return f"Exited ({c.exit_code})"
    return "Created"
