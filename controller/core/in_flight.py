"""The in-flight ledger: the writes a writer made that observation has not shown yet.

One mechanism for every writer (ECS tasks, instances): after a launch the cache may not list
the new container yet; after a removal it may still list the old one; after a start it may
still show it created. Until observation catches up, or the write's TTL passes, the write is
pending: the planner is told about it (so a stale read never launches, removes or starts
twice) and what a launch holds (a host, CPU, memory, ports: any payload) stays taken.

Writes are kept per owner key (a Service's key, or one key for a whole fleet) and id (a task,
container or instance id). The caller says what observation shows, as a predicate over each
pending write; the ledger drops those it shows and those whose TTL has passed (a write is kept
while `expires >= now`). `done` drops a write that will never show (it failed and was cleaned
up, or it did not happen): what observation shows is true again at once.

Batch jobs do not use it: a job's record, saved with its host before the Docker calls, is
its durable expectation (it survives a restart), and what an unseen launch holds is released
by the job's state (lost, ended), not by a TTL (`controller/batch/sync/placement.py`).

Thread-safe (one lock for the three kinds of write); the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")  # what a write carries
L = TypeVar("L")  # what a launch carries (what it holds)
S = TypeVar("S")  # what a start carries
K = TypeVar("K", bound=Hashable)  # the owner's key

DEFAULT_TTL = 60.0


@dataclass(frozen=True)
class Write(Generic[P]):
    """One write not yet observed: what it carries, when it was expected, until when."""

    payload: P
    at: float
    expires: float


# Whether observation shows a write: (id, write) -> shown.
Shown = Callable[[str, Write[P]], bool]


class Writes(Generic[K, P]):
    """One kind of write (launches, starts or removals), per owner key and id."""

    def __init__(self, ttl: float, clock: Callable[[], float], lock: threading.RLock) -> None:
        self._ttl, self._clock, self._lock = ttl, clock, lock
        self._by_key: dict[K, dict[str, Write[P]]] = {}

    def expect(self, key: K, ids: Iterable[str], payload: P) -> None:
        """`ids` were written just now: pending until shown or their TTL passes."""
        with self._lock:
            now = self._clock()
            write = Write(payload, now, now + self._ttl)
            self._by_key.setdefault(key, {}).update(dict.fromkeys(ids, write))

    def done(self, key: K, ids: Iterable[str]) -> None:
        """These writes will not show (failed, cleaned up, or never made): drop them."""
        with self._lock:
            writes = self._by_key.get(key, {})
            for i in ids:
                writes.pop(i, None)

    failed = done  # a write that failed is one that will not show

    def get(self, key: K, id_: str) -> Write[P] | None:
        """The write pending for `id_`, expired or not (None if there is none)."""
        with self._lock:
            return self._by_key.get(key, {}).get(id_)

    def pending(self, key: K, shown: Shown[P]) -> dict[str, Write[P]]:
        """`key`'s writes observation does not show yet, by id, in the order they were first
        expected; those it shows and those past their TTL are dropped."""
        with self._lock:
            now = self._clock()
            writes = self._by_key.get(key, {})
            for i, w in list(writes.items()):
                if w.expires < now or shown(i, w):
                    del writes[i]
            return dict(writes)

    def unexpired(self) -> list[tuple[K, str, Write[P]]]:
        """Every key's writes within their TTL, observed or not (nothing is dropped)."""
        with self._lock:
            now = self._clock()
            return [
                (key, i, w)
                for key, writes in self._by_key.items()
                for i, w in writes.items()
                if w.expires >= now
            ]

    def forget(self, ids: Iterable[str]) -> None:
        """Drop these ids under every key (what they named is gone for good)."""
        with self._lock:
            gone = set(ids)
            for writes in self._by_key.values():
                for i in gone & writes.keys():
                    del writes[i]


@dataclass(frozen=True)
class Pending(Generic[L, S]):
    """A key's writes not yet observed, by id."""

    launches: dict[str, Write[L]]
    starts: dict[str, Write[S]]
    removals: dict[str, Write[None]]


def _never(_id: str, _write: object) -> bool:
    return False


class InFlightLedger(Generic[K, L, S]):
    """The launches, starts and removals of a writer that observation has not shown yet."""

    def __init__(
        self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lock = threading.RLock()
        self.launches: Writes[K, L] = Writes(ttl, clock, self.lock)
        self.starts: Writes[K, S] = Writes(ttl, clock, self.lock)
        self.removals: Writes[K, None] = Writes(ttl, clock, self.lock)

    def expect_launch(self, key: K, id_: str, holds: L) -> None:
        self.launches.expect(key, (id_,), holds)

    def expect_start(self, key: K, ids: Iterable[str], payload: S) -> None:
        self.starts.expect(key, ids, payload)

    def expect_removal(self, key: K, ids: Iterable[str]) -> None:
        self.removals.expect(key, ids, None)

    def pending(
        self,
        key: K,
        *,
        launched: Shown[L] = _never,
        started: Shown[S] = _never,
        removed: Shown[None] = _never,
    ) -> Pending[L, S]:
        """`key`'s writes that observation (the three predicates) does not show yet, read
        together under the lock."""
        with self.lock:
            return Pending(
                self.launches.pending(key, launched),
                self.starts.pending(key, started),
                self.removals.pending(key, removed),
            )

    def forget(self, ids: Iterable[str]) -> None:
        """Drop every write of these ids, whatever its kind and key."""
        gone = list(ids)
        with self.lock:
            for writes in (self.launches, self.starts, self.removals):
                writes.forget(gone)
