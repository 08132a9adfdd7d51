"""The instance tracker (EC2 registers it as its part; groups' launches go through it too):
the instance launches and starts Skiff made that observation has not shown
yet (their capacity is taken meanwhile), and each instance's last status check."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from controller.core.instances.instance import InstanceView, ObservedInstance, check_verdict


@dataclass(frozen=True)
class _Flight:
    host: str
    cpu: int
    memory: int
    expires: float


class InstanceTracker:
    """Launches and starts Skiff made that observation has not shown yet, and the last status
    check of each instance. Times are the controller's clock."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._launches: dict[str, _Flight] = {}
        self._starts: dict[str, tuple[float, float]] = {}  # id -> (requested at, expires)
        self._reboots: set[str] = set()  # starts that are restarts of a running container
        self._checks: dict[str, tuple[float, str]] = {}  # id -> (at, verdict)

    def expect_launch(self, instance_id: str, host: str, cpu: int, memory: int) -> None:
        with self._lock:
            self._launches[instance_id] = _Flight(host, cpu, memory, self._clock() + self._ttl)

    def launch_done(self, instance_id: str) -> None:
        with self._lock:
            self._launches.pop(instance_id, None)

    def expect_start(self, instance_id: str) -> None:
        with self._lock:
            now = self._clock()
            self._starts[instance_id] = (now, now + self._ttl)

    def in_flight(self, observed: Mapping[str, ObservedInstance]) -> set[str]:
        now = self._clock()
        with self._lock:
            for i, f in list(self._launches.items()):
                if i in observed or f.expires < now:
                    del self._launches[i]
            return set(self._launches)

    def expect_reboot(self, instance_id: str) -> None:
        """A restart is coming: the instance is starting until a start after now is seen,
        whatever the cache says of the container meanwhile (running, then exited)."""
        with self._lock:
            now = self._clock()
            self._starts[instance_id] = (now, now + self._ttl)
            self._reboots.add(instance_id)

    def starting(self, observed: Mapping[str, ObservedInstance]) -> set[str]:
        now = self._clock()
        with self._lock:
            for i, (at, expires) in list(self._starts.items()):
                seen = observed.get(i)
                begun = (seen.container.started_at or 0) if seen is not None else 0
                if i in self._reboots:
                    done = seen is not None and seen.container.running and begun >= at
                else:
                    done = begun >= at - 1 or (seen is not None and seen.container.running)
                if expires < now or done:
                    del self._starts[i]
                    self._reboots.discard(i)
            return set(self._starts)

    def reserved(self, observed: Mapping[str, ObservedInstance]) -> list[tuple[str, int, int]]:
        """(host, cpu, memory) of launches not yet observed: their capacity is taken."""
        flying = self.in_flight(observed)
        with self._lock:
            return [(f.host, f.cpu, f.memory) for i, f in self._launches.items() if i in flying]

    def checks(
        self, views: Iterable[InstanceView], interval: float
    ) -> tuple[dict[str, str], float | None]:
        """Each instance's last status check, run again when `interval` has passed; and the
        seconds until the next one is due."""
        now = self._clock()
        out: dict[str, str] = {}
        due: float | None = None
        with self._lock:
            for v in views:
                at, verdict = self._checks.get(v.instance_id, (None, ""))
                if at is None or now - at >= interval:
                    at, verdict = now, check_verdict(v)
                    self._checks[v.instance_id] = (at, verdict)
                out[v.instance_id] = verdict
                wait = at + interval - now
                due = wait if due is None else min(due, wait)
        return out, due

    def last_checks(self) -> dict[str, str]:
        """Each instance's last status check verdict (ok, initializing, impaired)."""
        with self._lock:
            return {i: verdict for i, (_, verdict) in self._checks.items()}

    def forget(self, ids: Iterable[str]) -> None:
        with self._lock:
            for i in ids:
                self._launches.pop(i, None)
                self._starts.pop(i, None)
                self._checks.pop(i, None)
