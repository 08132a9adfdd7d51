"""Expectations: what a key's last writes should make observation show, until it does.

After launching a task the cache may not list its containers yet; after removing one it may
still list it. Until observation catches up (or the entry times out) the planner is told about
those writes, so a stale read never launches twice or removes twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass

from controller.core.observed import ObservedTask
from controller.ecs.planners.service import InFlight

DEFAULT_TTL = 60.0


@dataclass(frozen=True)
class Pending:
    launches: list[InFlight]  # launched, not yet fully observed
    removing: set[str]  # container ids removed, still listed
    starting: set[str]  # container ids started, still listed as created


@dataclass(frozen=True)
class _Launch:
    flight: InFlight
    containers: int
    expires: float


class Expectations:
    def __init__(
        self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._launches: dict[Hashable, dict[str, _Launch]] = {}
        self._removals: dict[Hashable, dict[str, float]] = {}
        self._starts: dict[Hashable, dict[str, float]] = {}

    def expect_launch(self, key: Hashable, flight: InFlight, containers: int) -> None:
        with self._lock:
            self._launches.setdefault(key, {})[flight.task_id] = _Launch(
                flight, containers, self._clock() + self._ttl
            )

    def launch_done(self, key: Hashable, task_id: str) -> None:
        """The launch failed and was cleaned up: nothing will appear."""
        with self._lock:
            self._launches.get(key, {}).pop(task_id, None)

    def expect_removal(self, key: Hashable, container_ids: Collection[str]) -> None:
        with self._lock:
            expires = self._clock() + self._ttl
            self._removals.setdefault(key, {}).update(dict.fromkeys(container_ids, expires))

    def expect_started(self, key: Hashable, container_ids: Collection[str]) -> None:
        with self._lock:
            expires = self._clock() + self._ttl
            self._starts.setdefault(key, {}).update(dict.fromkeys(container_ids, expires))

    def removal_failed(self, key: Hashable, container_ids: Collection[str]) -> None:
        """The removal did not happen: what observation shows of them is true again (else
        the task would stay out of sight until the expectation timed out)."""
        with self._lock:
            removals = self._removals.get(key, {})
            for cid in container_ids:
                removals.pop(cid, None)

    def start_failed(self, key: Hashable, container_ids: Collection[str]) -> None:
        """The start did not reach Docker: the containers may be started again at once."""
        with self._lock:
            starts = self._starts.get(key, {})
            for cid in container_ids:
                starts.pop(cid, None)

    def pending(self, key: Hashable, observed: Mapping[str, ObservedTask]) -> Pending:
        """Writes of `key` that observation has not caught up with yet."""
        now = self._clock()
        present = {cid for t in observed.values() for cid in t.container_ids()}
        created = {
            c.id for t in observed.values() for c in t.containers.values() if c.state == "created"
        }
        with self._lock:
            launches = self._launches.get(key, {})
            for task_id, exp in list(launches.items()):
                seen = observed.get(task_id)
                if exp.expires < now or (
                    seen is not None and len(seen.containers) >= exp.containers
                ):
                    del launches[task_id]
            removals = self._removals.get(key, {})
            for cid, expires in list(removals.items()):
                if expires < now or cid not in present:
                    del removals[cid]
            starts = self._starts.get(key, {})
            for cid, expires in list(starts.items()):
                if expires < now or cid not in created:
                    del starts[cid]
            return Pending([e.flight for e in launches.values()], set(removals), set(starts))

    def all_in_flight(self) -> list[InFlight]:
        """Every key's unexpired launches: capacity they will use is already taken."""
        now = self._clock()
        with self._lock:
            return [
                e.flight
                for launches in self._launches.values()
                for e in launches.values()
                if e.expires >= now
            ]
