"""Expectations: what a key's last writes should make observation show, until it does.

After launching a task the cache may not list its containers yet; after removing one it may
still list it. Until observation catches up (or the entry times out) the planner is told about
those writes, so a stale read never launches twice or removes twice.

ECS's view of the core's in-flight ledger (`controller/core/in_flight.py`, issue 14): launches
by task id (carrying the task's InFlight and its container count), starts and removals by
container id; this module says what observation of tasks shows of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass

from controller.core.in_flight import DEFAULT_TTL, InFlightLedger, Write
from controller.core.observed import ObservedTask
from controller.ecs.planners.service import InFlight

__all__ = ["DEFAULT_TTL", "Expectations", "Pending"]


@dataclass(frozen=True)
class Pending:
    launches: list[InFlight]  # launched, not yet fully observed
    removing: set[str]  # container ids removed, still listed
    starting: set[str]  # container ids started, still listed as created


@dataclass(frozen=True)
class _Launch:
    flight: InFlight
    containers: int


class Expectations:
    def __init__(
        self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ledger: InFlightLedger[Hashable, _Launch, None] = InFlightLedger(ttl, clock)

    def expect_launch(self, key: Hashable, flight: InFlight, containers: int) -> None:
        self._ledger.expect_launch(key, flight.task_id, _Launch(flight, containers))

    def launch_done(self, key: Hashable, task_id: str) -> None:
        """The launch failed and was cleaned up: nothing will appear."""
        self._ledger.launches.done(key, (task_id,))

    def expect_removal(self, key: Hashable, container_ids: Collection[str]) -> None:
        self._ledger.expect_removal(key, container_ids)

    def expect_started(self, key: Hashable, container_ids: Collection[str]) -> None:
        self._ledger.expect_start(key, container_ids, None)

    def removal_failed(self, key: Hashable, container_ids: Collection[str]) -> None:
        """The removal did not happen: what observation shows of them is true again (else
        the task would stay out of sight until the expectation timed out)."""
        self._ledger.removals.failed(key, container_ids)

    def start_failed(self, key: Hashable, container_ids: Collection[str]) -> None:
        """The start did not reach Docker: the containers may be started again at once."""
        self._ledger.starts.failed(key, container_ids)

    def pending(self, key: Hashable, observed: Mapping[str, ObservedTask]) -> Pending:
        """Writes of `key` that observation has not caught up with yet."""
        present = {cid for t in observed.values() for cid in t.container_ids()}
        created = {
            c.id for t in observed.values() for c in t.containers.values() if c.state == "created"
        }

        def launched(task_id: str, w: Write[_Launch]) -> bool:
            seen = observed.get(task_id)
            return seen is not None and len(seen.containers) >= w.payload.containers

        p = self._ledger.pending(
            key,
            launched=launched,
            removed=lambda cid, _: cid not in present,
            started=lambda cid, _: cid not in created,
        )
        return Pending(
            [w.payload.flight for w in p.launches.values()], set(p.removals), set(p.starts)
        )

    def all_in_flight(self) -> list[InFlight]:
        """Every key's unexpired launches: capacity they will use is already taken."""
        return [w.payload.flight for _, _, w in self._ledger.launches.unexpired()]
