"""What a test does to the fake engine besides the ContainerRuntime calls: inject faults, make a
container exit, turn unhealthy, burn CPU, use memory or print output, add a container someone
else created, and read back the writes it received. No threads, no sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.runtime.errors import RuntimeFailure
from controller.runtime.fake_engine import WRITE_OPERATIONS, FakeEngine, Fault, Usage
from controller.runtime.types import ContainerInfo, ContainerSpec


@dataclass
class FakeControls(FakeEngine):
    """The fake engine, with the controls a test drives it by."""

    def fail(
        self,
        operation: str,
        error: RuntimeFailure,
        times: int = 1,
        match: Callable[[str], bool] | None = None,
    ) -> None:
        """The next `times` calls of `operation` (whose argument passes `match`) raise `error`."""
        self._faults.append(Fault(operation, error, times, match))

    def exit(self, container_id: str, code: int = 0) -> None:
        """The container's process ends with `code`."""
        with self._lock:
            c = self.containers[container_id]
            self._set(c, state="exited", exit_code=code, finished_at=self.clock(), ip_address="")
            self._emit(container_id, "die")

    def set_health(self, container_id: str, health: str) -> None:
        with self._lock:
            self._set(self.containers[container_id], health=health)
            self._emit(container_id, f"health_status: {health}")

    def set_stats(
        self,
        container_id: str,
        *,
        cpu_cores: float | None = None,
        cpu_total_ns: int | None = None,
        memory_used_bytes: int | None = None,
        memory_limit_bytes: int | None = None,
    ) -> None:
        """What `stats()` reports for the container from now on; unset fields keep their value.

        `cpu_cores`: the container burns that many CPUs from now on, so its CPU counter grows
        by cores x elapsed clock seconds, capped at its `nano_cpus` limit and the engine's CPUs
        as CFS would (default 0: idle). `cpu_total_ns` sets the counter itself. Memory defaults
        to IDLE_MEMORY_BYTES used of the spec's limit, or of the engine's memory without one.
        A container that is started again starts its CPU counter from zero, as Docker's does.
        """
        with self._lock:
            self._get(container_id)
            now = self.clock()
            usage = self._usage.setdefault(container_id, Usage(since=now))
            usage.base_ns = (
                cpu_total_ns
                if cpu_total_ns is not None
                else usage.cpu_ns(now, self._cpu_cap(container_id))
            )
            usage.since = now
            if cpu_cores is not None:
                usage.cores = cpu_cores
            if memory_used_bytes is not None:
                usage.memory_used_bytes = memory_used_bytes
            if memory_limit_bytes is not None:
                usage.memory_limit_bytes = memory_limit_bytes

    def set_logs(self, container_id: str, text: str) -> None:
        """What the container has printed so far (stdout and stderr together)."""
        with self._lock:
            self._get(container_id)
            self.output[container_id] = text

    def append_logs(self, container_id: str, text: str) -> None:
        """The container prints `text` (include the newline)."""
        with self._lock:
            self._get(container_id)
            self.output[container_id] = self.output.get(container_id, "") + text

    def add_unmanaged(self, name: str, labels: dict[str, str], state: str = "running") -> str:
        """A container someone else created (e.g. with look-alike labels)."""
        with self._lock:
            cid = self._new_id()
            self.containers[cid] = ContainerInfo(
                id=cid,
                name=name,
                labels=dict(labels),
                image="skiff/busybox:latest",
                state=state,
                created_at=self.clock(),
                started_at=self.clock(),
            )
            return cid

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] in WRITE_OPERATIONS]

    def by_name(self, name: str) -> ContainerInfo:
        return next(c for c in self.containers.values() if c.name == name)

    def spec_of(self, name: str) -> ContainerSpec:
        """What the container of that name was created with."""
        return self.specs[self.by_name(name).id]
