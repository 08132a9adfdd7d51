"""The instance tracker (EC2 registers it as its part; groups' launches go through it too):
the instance launches and starts Skiff made that observation has not shown
yet (their capacity is taken meanwhile), kept in the core's in-flight ledger
(`controller/core/in_flight.py`, issue 14); and each instance's last status check, which is
not an in-flight write and stays here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from controller.core.in_flight import InFlightLedger, Write
from controller.core.instances.instance import InstanceView, ObservedInstance, check_verdict

_FLEET = None  # instances are one fleet: the ledger's single key


@dataclass(frozen=True)
class _Holds:
    host: str
    cpu: int
    memory: int


class InstanceTracker:
    """Launches and starts Skiff made that observation has not shown yet, and the last status
    check of each instance. Times are the controller's clock."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        # a start's payload: whether it is a restart of a running container (a reboot)
        self._flights: InFlightLedger[None, _Holds, bool] = InFlightLedger(ttl, clock)
        self._lock = threading.Lock()
        self._checks: dict[str, tuple[float, str]] = {}  # id -> (at, verdict)

    def expect_launch(self, instance_id: str, host: str, cpu: int, memory: int) -> None:
        self._flights.expect_launch(_FLEET, instance_id, _Holds(host, cpu, memory))

    def launch_done(self, instance_id: str) -> None:
        self._flights.launches.done(_FLEET, (instance_id,))

    def expect_start(self, instance_id: str) -> None:
        with self._flights.lock:  # a reboot still pending stays one
            before = self._flights.starts.get(_FLEET, instance_id)
            reboot = before is not None and before.payload
            self._flights.expect_start(_FLEET, (instance_id,), reboot)

    def in_flight(self, observed: Mapping[str, ObservedInstance]) -> set[str]:
        return set(self._launches(observed))

    def _launches(self, observed: Mapping[str, ObservedInstance]) -> dict[str, Write[_Holds]]:
        return self._flights.launches.pending(_FLEET, lambda i, _: i in observed)

    def expect_reboot(self, instance_id: str) -> None:
        """A restart is coming: the instance is starting until a start after now is seen,
        whatever the cache says of the container meanwhile (running, then exited)."""
        self._flights.expect_start(_FLEET, (instance_id,), True)

    def starting(self, observed: Mapping[str, ObservedInstance]) -> set[str]:
        def started(i: str, w: Write[bool]) -> bool:
            seen = observed.get(i)
            begun = (seen.container.started_at or 0) if seen is not None else 0
            if w.payload:  # a reboot: running again, since a start after the request
                return seen is not None and seen.container.running and begun >= w.at
            return begun >= w.at - 1 or (seen is not None and seen.container.running)

        return set(self._flights.starts.pending(_FLEET, started))

    def reserved(self, observed: Mapping[str, ObservedInstance]) -> list[tuple[str, int, int]]:
        """(host, cpu, memory) of launches not yet observed: their capacity is taken."""
        return [
            (w.payload.host, w.payload.cpu, w.payload.memory)
            for w in self._launches(observed).values()
        ]

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
        gone = list(ids)
        self._flights.forget(gone)
        with self._lock:
            for i in gone:
                self._checks.pop(i, None)
