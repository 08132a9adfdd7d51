"""A `ContainerRuntime` wrapper that counts and times every Docker call by operation and outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from controller.runtime.base import ContainerRuntime, EventStream
from controller.runtime.cgroups import CgroupReader
from controller.runtime.errors import RuntimeFailure, StartFailed
from controller.runtime.types import (
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    VolumeSpec,
)
from controller.telemetry import Metrics

T = TypeVar("T")


class InstrumentedRuntime:
    def __init__(self, inner: ContainerRuntime, host: str, metrics: Metrics) -> None:
        self.inner, self.host, self.metrics = inner, host, metrics
        # Told the id of a container Docker would not start: dockerd sends no event for a
        # failed start, so whoever caches containers must look at it again.
        self.on_start_failed: Callable[[str], None] = lambda container_id: None
        # Told when a start call begins and returns: its container's `start` event is coming.
        self.on_starting: Callable[[str], None] = lambda container_id: None
        self.on_started: Callable[[str, bool], None] = lambda container_id, ok: None

    def _timed(self, operation: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        outcome = "success"
        try:
            return fn()
        except RuntimeFailure as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.metrics.docker_calls.labels(self.host, operation, outcome).inc()
            self.metrics.docker_duration.labels(operation).observe(time.perf_counter() - started)

    def info(self) -> EngineInfo:
        return self._timed("info", self.inner.info)

    def ping(self) -> None:
        self._timed("ping", self.inner.ping)

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerSummary]:
        return self._timed("list", lambda: self.inner.list_containers(labels))

    def inspect(self, container_id: str) -> ContainerInfo:
        return self._timed("inspect", lambda: self.inner.inspect(container_id))

    def create(self, spec: ContainerSpec) -> str:
        return self._timed("create", lambda: self.inner.create(spec))

    def start(self, container_id: str) -> None:
        self.on_starting(container_id)
        try:
            self._timed("start", lambda: self.inner.start(container_id))
        except StartFailed:
            self.on_started(container_id, False)
            self.on_start_failed(container_id)
            raise
        except BaseException:
            self.on_started(container_id, False)
            raise
        self.on_started(container_id, True)

    def restart(self, container_id: str, timeout: int = 10) -> None:
        try:
            self._timed("restart", lambda: self.inner.restart(container_id, timeout))
        except StartFailed:
            self.on_start_failed(container_id)
            raise

    def kill(self, container_id: str, signal: str) -> None:
        self._timed("kill", lambda: self.inner.kill(container_id, signal))

    def remove(self, container_id: str) -> None:
        self._timed("remove", lambda: self.inner.remove(container_id))

    def create_volume(self, spec: VolumeSpec) -> None:
        self._timed("create_volume", lambda: self.inner.create_volume(spec))

    def has_volume(self, name: str) -> bool:
        return self._timed("has_volume", lambda: self.inner.has_volume(name))

    def volume(self, name: str) -> VolumeSpec | None:
        return self._timed("volume", lambda: self.inner.volume(name))

    def remove_volume(self, name: str) -> None:
        self._timed("remove_volume", lambda: self.inner.remove_volume(name))

    def stats(self, container_id: str) -> ContainerStats:
        return self._timed("stats", lambda: self.inner.stats(container_id))

    def cgroups(self) -> CgroupReader | None:
        return self.inner.cgroups()  # file reads: no Docker call to count

    def logs(self, container_id: str, tail: int | None = None) -> str:
        return self._timed("logs", lambda: self.inner.logs(container_id, tail))

    def has_image(self, image: str) -> bool:
        return self._timed("has_image", lambda: self.inner.has_image(image))

    def pull_image(self, image: str) -> None:
        self._timed("pull_image", lambda: self.inner.pull_image(image))

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        return self._timed("create_network", lambda: self.inner.create_network(name, labels))

    def remove_network(self, name: str) -> None:
        self._timed("remove_network", lambda: self.inner.remove_network(name))

    def events(self, since: float | None, labels: Mapping[str, str]) -> EventStream:
        return self._timed("events", lambda: self.inner.events(since, labels))

    def close(self) -> None:
        self.inner.close()
