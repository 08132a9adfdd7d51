"""The `ContainerRuntime` protocol: the only operations Skiff performs on a Docker engine."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from controller.runtime.cgroups import CgroupReader
from controller.runtime.types import (
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    VolumeSpec,
)


class EventStream(Protocol):
    def __iter__(self) -> Iterator[ContainerEvent]: ...

    def close(self) -> None: ...


class ContainerRuntime(Protocol):
    """One Docker engine. Every method raises only `RuntimeFailure` subclasses."""

    def info(self) -> EngineInfo: ...

    def ping(self) -> None:
        """Answers when the engine does (`GET /_ping`: no work for dockerd), else raises."""
        ...

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerSummary]:
        """All containers (running or not) carrying every one of `labels`."""
        ...

    def inspect(self, container_id: str) -> ContainerInfo:
        """Raises NotFound when the container is gone."""
        ...

    def create(self, spec: ContainerSpec) -> str:
        """Creates (does not start) a container; returns its id."""
        ...

    def start(self, container_id: str) -> None: ...

    def restart(self, container_id: str, timeout: int = 10) -> None:
        """Stops (SIGTERM, SIGKILL after `timeout` seconds) and starts the same container."""
        ...

    def kill(self, container_id: str, signal: str) -> None:
        """Sends a signal; a container that is not running is not an error."""
        ...

    def remove(self, container_id: str) -> None:
        """Removes the container, running or not; a missing container is not an error."""
        ...

    def create_volume(self, spec: VolumeSpec) -> None:
        """Creates a named volume with its driver, options and labels; an existing volume of
        that name is reused as it is (Docker answers with it)."""
        ...

    def has_volume(self, name: str) -> bool:
        """Whether a named volume exists on the engine."""
        ...

    def volume(self, name: str) -> VolumeSpec | None:
        """The named volume as the engine has it (driver, options, labels); None if none."""
        ...

    def remove_volume(self, name: str) -> None:
        """Removes a named volume; a missing one is not an error."""
        ...

    def stats(self, container_id: str) -> ContainerStats:
        """One sample of the container's CPU and memory counters.

        dockerd answers at its stats collector's next round, which runs once a second while
        anyone is waiting: a call takes up to about a second, calls for several containers
        made concurrently share one round, and calls made one after another wait a round each.
        Raises NotFound when the container is gone and Conflict when it is not running
        (Docker has no counters for a stopped container).
        """
        ...

    def cgroups(self) -> CgroupReader | None:
        """A reader of the containers' cgroup files when the engine runs on this machine (a
        unix socket) and the machine has cgroups to read; None for a remote engine, whose
        counters only its stats API gives. Reading them takes no call to the engine."""
        ...

    def logs(self, container_id: str, tail: int | None = None) -> str:
        """The container's stdout and stderr so far (its last `tail` lines), as text.

        Raises NotFound when the container is gone: keep what matters before removing it.
        """
        ...

    def has_image(self, image: str) -> bool:
        """Whether the image is on the engine (no pull)."""
        ...

    def pull_image(self, image: str) -> None:
        """Pulls the image, which may take long: call it off any lock. Raises ImageNotFound
        when it cannot be pulled."""
        ...

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Creates a user-defined bridge network, or reuses the one named `name`; returns its id.

        A container whose `ContainerSpec.network_mode` is `name` is attached to it at start and
        reaches the other containers on it by their `ContainerInfo.ip_address`. Predefined
        names (bridge, host, none) are refused with InvalidRequest.
        """
        ...

    def remove_network(self, name: str) -> None:
        """Removes the network; a missing one is not an error.

        Raises Conflict while a running container is attached (Docker: active endpoints);
        stopped containers attached to it do not block removal, but can no longer start.
        """
        ...

    def events(self, since: float | None, labels: Mapping[str, str]) -> EventStream:
        """Container events carrying `labels`, from `since` (epoch seconds) on, until closed."""
        ...

    def close(self) -> None: ...
